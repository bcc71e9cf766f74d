"""Migration scripts, one file per revision (see storage/README.md)."""
