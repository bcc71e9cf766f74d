"""Persistence: SQLAlchemy 2 (async) over SQLite or PostgreSQL, Alembic migrations, typed repositories.

No botbuilder here: ``bot/state_storage.py`` adapts :class:`KeyValueStore` to botbuilder's ``Storage``.
"""

from storage.audit import AuditLog, AuditRecord, check_no_secret_keys
from storage.clock import Clock, utc_now
from storage.conversation_refs import (
    APPROVALS_CHANNEL,
    ConversationRefs,
    StoredConversationRef,
    user_chat_name,
)
from storage.database import Database, head_revision, normalize_url
from storage.errors import (
    ConcurrencyError,
    DatabaseUnavailableError,
    LeaseLostError,
    SecretInAuditDetailError,
    StateDecodeError,
    StorageError,
)
from storage.jobs import Enqueued, Job, JobQueue, JobState, RetryPolicy
from storage.kv import ANY_ETAG, KeyValueStore, Versioned
from storage.once import Mark, OnceMarks

__all__ = [
    "ANY_ETAG",
    "APPROVALS_CHANNEL",
    "AuditLog",
    "AuditRecord",
    "Clock",
    "ConcurrencyError",
    "ConversationRefs",
    "Database",
    "DatabaseUnavailableError",
    "Enqueued",
    "Job",
    "JobQueue",
    "JobState",
    "KeyValueStore",
    "LeaseLostError",
    "Mark",
    "OnceMarks",
    "RetryPolicy",
    "SecretInAuditDetailError",
    "StateDecodeError",
    "StorageError",
    "StoredConversationRef",
    "Versioned",
    "check_no_secret_keys",
    "head_revision",
    "normalize_url",
    "user_chat_name",
    "utc_now",
]
