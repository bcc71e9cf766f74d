"""Test helpers shared across test packages (throwaway servers, fixtures)."""
