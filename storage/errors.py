"""The storage layer's exceptions, one small tree so callers catch by type.

::

    StorageError                    every error this package raises on purpose
     ├── DatabaseUnavailableError   the database cannot be reached or opened
     ├── ConcurrencyError           an etag compare-and-swap lost: someone wrote first
     ├── LeaseLostError             a job is no longer held by the worker that asked
     ├── SecretInAuditDetailError   an audit detail carried a key named like a secret
     └── StateDecodeError           stored bot state could not be turned back into objects

Each class has a stable ``code`` that logs and user-facing catalogues key on; messages never
contain stored values (they may hold personal data), only keys and ids.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error raised on purpose by :mod:`storage`."""

    code = "storage.error"


class DatabaseUnavailableError(StorageError):
    """The database could not be reached or opened (the message names it, without its password)."""

    code = "storage.unavailable"


class ConcurrencyError(StorageError):
    """A conditional write found a different etag (or no item) than the caller read.

    The caller should re-read and decide again; retrying the same write can never succeed.
    """

    code = "storage.concurrency"

    def __init__(self, key: str, expected_etag: str) -> None:
        super().__init__(f"etag mismatch for key {key!r}: the item changed or was deleted since it was read")
        self.key = key
        self.expected_etag = expected_etag


class LeaseLostError(StorageError):
    """The job is no longer leased to this worker (its lease expired and another took it, or it ended)."""

    code = "storage.lease_lost"

    def __init__(self, job_id: int, worker_id: str) -> None:
        super().__init__(f"job {job_id} is not leased to worker {worker_id!r} any more")
        self.job_id = job_id
        self.worker_id = worker_id


class SecretInAuditDetailError(StorageError, ValueError):
    """An audit event's detail has a key named like a secret (password, secret, token, ...).

    Raised before anything is written, so a secret can never reach the audit table.
    """

    code = "storage.audit_secret"

    def __init__(self, path: str) -> None:
        super().__init__(f"audit detail key {path!r} is named like a secret; secrets are never audited")
        self.path = path


class StateDecodeError(StorageError):
    """Stored bot state could not be decoded (corrupt JSON, or a type outside the trusted modules)."""

    code = "storage.state_decode"

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"stored state for key {key!r} cannot be decoded: {reason}")
        self.key = key
        self.reason = reason
