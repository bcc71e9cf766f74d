"""Failure reasons an approver reads on a card ("Failed at Create account: <reason>").

Seat shortages use the domain's own catalogue (:mod:`onboarding.messages`); these cover what only
provisioning can find out. The single-request runner and the bulk runner both use them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_REASON_CHARS", "REASONS", "failure_reason"]

#: A reason is stored with the step and shown on a card: long Graph messages are cut.
MAX_REASON_CHARS: Final = 2000

REASONS: Final = {
    "upn_taken": (
        "The account name {upn} is already used by an account this request did not create. "
        "Cancel this request and submit a new one."
    ),
    "account_missing": (
        "The account {upn} did not appear in the directory within {seconds:.0f} seconds. "
        "Retry later, or cancel the request if the account was deleted."
    ),
    "not_found": (
        "Microsoft Graph kept answering “not found” while trying to {action} for {seconds:.0f} seconds. "
        "Check that the group exists, then Retry."
    ),
    "unsupported_attribute": (
        "The segment needs the account's {property} set, which the bot cannot set. "
        "Ask a bot administrator to change the segment catalog, then Retry."
    ),
    "weak_password": "Microsoft Entra refused every generated temporary password. Retry later.",
    "graph.permission_denied": (
        "The bot is not allowed to {action} in Microsoft Graph. Ask an administrator to grant the bot's "
        "Graph permissions, then Retry. (Graph request-id: {request_id})"
    ),
    "graph.already_exists": (
        "The account name {upn} is already used by an account this request did not create. "
        "Cancel this request and submit a new one."
    ),
    "graph.invalid_request": (
        "Microsoft Graph refused to {action} ({graph_code}). Retry, or ask a bot administrator to check "
        "the request with Microsoft support. (Graph request-id: {request_id})"
    ),
    "graph.gave_up": (
        "Microsoft Graph did not answer while trying to {action}, after several attempts. Retry later."
    ),
}


def failure_reason(code: str, **params: object) -> str:
    """The sentence for ``code`` with ``params`` filled in, cut to :data:`MAX_REASON_CHARS`."""
    return REASONS[code].format(**params)[:MAX_REASON_CHARS]
