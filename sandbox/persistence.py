"""Saving and loading the sandbox tenant's state as one JSON file, atomically.

A crash mid-save must never leave a half-written file: the state is written to a temporary file in
the same directory, flushed to disk, then renamed over the old file (``os.replace`` is atomic).
Passwords are never part of the state (the tenant does not keep them).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sandbox.clock import Clock
from sandbox.seed import seed_snapshot
from sandbox.tenant import Tenant

DEFAULT_DATA_DIR = Path("data")
STATE_FILE_NAME = "sandbox-tenant.json"


def state_file(data_dir: Path) -> Path:
    """Where the state lives under ``data_dir``."""
    return data_dir / STATE_FILE_NAME


def write_snapshot(path: Path, snapshot: dict[str, Any]) -> None:
    """Write ``snapshot`` to ``path`` atomically (temp file + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(snapshot, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def save(tenant: Tenant, path: Path) -> None:
    """Persist the tenant's directory."""
    write_snapshot(path, tenant.snapshot())


def load_or_seed(path: Path, *, reset: bool = False, clock: Clock | None = None) -> Tenant:
    """The tenant saved at ``path``; the seed (written there) when the file is missing or ``reset``."""
    if reset or not path.exists():
        snapshot = seed_snapshot()
        write_snapshot(path, snapshot)
        return Tenant(snapshot, clock=clock)
    with path.open(encoding="utf-8") as handle:
        return Tenant(json.load(handle), clock=clock)


def reset(path: Path) -> None:
    """Overwrite the saved state with the seed."""
    write_snapshot(path, seed_snapshot())
