"""Every repository in one import: ``from storage.repositories import AuditLog, JobQueue, ...``."""

from storage.audit import AuditLog, AuditRecord
from storage.conversation_refs import (
    APPROVALS_CHANNEL,
    ConversationRefs,
    StoredConversationRef,
    user_chat_name,
)
from storage.jobs import Enqueued, Job, JobQueue, JobState, RetryPolicy
from storage.kv import ANY_ETAG, KeyValueStore, Versioned
from storage.once import Mark, OnceMarks

__all__ = [
    "ANY_ETAG",
    "APPROVALS_CHANNEL",
    "AuditLog",
    "AuditRecord",
    "ConversationRefs",
    "Enqueued",
    "Job",
    "JobQueue",
    "JobState",
    "KeyValueStore",
    "Mark",
    "OnceMarks",
    "RetryPolicy",
    "StoredConversationRef",
    "Versioned",
    "user_chat_name",
]
