"""Fixtures shared by every test package.

PostgreSQL fixtures start one throwaway server per session (from the machine's PostgreSQL binaries) and
skip, with the reason printed, where there is none.
"""

from tests.support.postgres import (  # noqa: F401 - pytest finds fixtures by name
    any_database_url,
    any_migrated_database_url,
    migrated_postgres_database_url,
    module_database_url,
    postgres_database_url,
    postgres_url,
)
