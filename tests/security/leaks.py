"""Search texts (log lines, table rows, sent messages, exports) for secrets, in every form they may take.

A secret can land in text as typed, but also JSON-escaped (inside a logged JSON object), URL-encoded
(in a form body or a query string) or base64-encoded (inside a Basic header or a blob). :func:`find_secrets`
looks for all of those forms; :func:`assert_no_secrets` fails with *where* a secret was found, without
ever printing the secret itself (a failing test must not leak what it guards).

    assert_no_secrets(log_lines + sent_bodies, [client_secret, *tokens, *passwords])
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy import Select, inspect, literal_column, select, table
from sqlalchemy import text as sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

#: Shorter "secrets" would match by chance (and mean the test set up something that is not a secret).
MIN_SECRET_LENGTH = 8


@dataclass(frozen=True)
class Leak:
    """One secret found in one text: which text (its index), which secret (its index), in which form."""

    text_index: int
    secret_index: int
    form: str
    context: str

    def describe(self) -> str:
        return f"secret #{self.secret_index} ({self.form}) in text #{self.text_index}: …{self.context}…"


def secret_forms(secret: str) -> dict[str, str]:
    """The forms a secret can take in stored or logged text, keyed by the name of the form."""
    forms = {
        "as is": secret,
        "json-escaped": json.dumps(secret)[1:-1],
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret, safe=""),
        "base64": base64.b64encode(secret.encode()).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
    }
    # The same spelling found twice is one search.
    unique: dict[str, str] = {}
    for name, form in forms.items():
        if form not in unique.values():
            unique[name] = form
    return unique


def _masked_context(text: str, start: int, length: int) -> str:
    # Show what surrounds the hit, never the hit itself.
    before = text[max(0, start - 40) : start]
    after = text[start + length : start + length + 40]
    return f"{before}[SECRET]{after}".replace("\n", "\\n")


def find_secrets(texts: Iterable[str], secrets: Iterable[str]) -> list[Leak]:
    """Every occurrence (first per text, secret and form) of any secret, in any of its forms."""
    wanted = list(secrets)
    for index, secret in enumerate(wanted):
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"secret #{index} is shorter than {MIN_SECRET_LENGTH} characters: "
                "searching for it proves nothing"
            )
    forms = [secret_forms(secret) for secret in wanted]
    leaks: list[Leak] = []
    for text_index, text in enumerate(texts):
        for secret_index, by_form in enumerate(forms):
            for form_name, form in by_form.items():
                at = text.find(form)
                if at >= 0:
                    leaks.append(
                        Leak(text_index, secret_index, form_name, _masked_context(text, at, len(form)))
                    )
    return leaks


def assert_no_secrets(texts: Iterable[str], secrets: Iterable[str]) -> None:
    """Fail, saying where (not what), if any secret appears in any text in any of its forms.

    ``texts`` are searched as given (pass log lines, ``json.dumps`` of rows or activities, CSV lines ...).
    ``secrets`` must each be at least :data:`MIN_SECRET_LENGTH` characters (``ValueError`` otherwise).
    """
    searched = list(texts)
    leaks = find_secrets(searched, secrets)
    if leaks:
        lines = "\n  ".join(leak.describe() for leak in leaks[:20])
        more = f"\n  … and {len(leaks) - 20} more" if len(leaks) > 20 else ""
        raise AssertionError(f"{len(leaks)} secret(s) found in {len(searched)} texts:\n  {lines}{more}")


async def stored_texts(database_url: str) -> list[str]:
    """Everything the database at ``database_url`` holds, as texts to search.

    Every row of every table (bytes read as Latin-1, so any byte string shows), and the database's files
    as bytes: for SQLite the file and its WAL and shared-memory files (a deleted or overwritten row lingers
    there); for PostgreSQL the database's own files and the server's WAL, read from the throwaway server's
    data folder (so also rows that were updated or deleted since).
    """
    url = make_url(database_url)
    engine = create_async_engine(url, poolclass=NullPool)
    texts: list[str] = []
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            for name in tables:
                query: Select[Any] = select(literal_column("*")).select_from(table(name))
                rows: Sequence[Sequence[object]] = (await conn.execute(query)).all()
                texts.append(f"{name}: " + " | ".join(_row_text(row) for row in rows))
            if url.get_backend_name() == "postgresql":
                folder = Path((await conn.execute(sql("SHOW data_directory"))).scalar_one())
                oid = (
                    await conn.execute(sql("SELECT oid FROM pg_database WHERE datname = current_database()"))
                ).scalar_one()
                await conn.execute(sql("CHECKPOINT"))  # what is still in shared buffers, on disk
                files = [*(folder / "base" / str(oid)).iterdir(), *(folder / "pg_wal").glob("0*")]
            else:
                database = Path(url.database or "")
                files = [database, *database.parent.glob(database.name + "-*")]
    finally:
        await engine.dispose()
    texts += [path.read_bytes().decode("latin-1") for path in files if path.is_file()]
    return texts


def _row_text(row: Sequence[object]) -> str:
    return " ".join(
        bytes(value).decode("latin-1") if isinstance(value, bytes | bytearray | memoryview) else str(value)
        for value in row
    )
