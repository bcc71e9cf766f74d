"""``credential_vault``: temporary passwords, encrypted, until their owner reveals them once or they expire.

A password is stored as a Fernet token (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under the key in
``SECRETS_KEY``; the plaintext never reaches the database, a log, an exception message or a ``repr``. The
token also carries the request number, so a token copied onto another row does not decrypt as that row's.

Life of an entry::

    store ──> held (ciphertext) ──reveal by the owner──> revealed (ciphertext erased)
                     │
                     └──expires_at passes──> expired (ciphertext erased by purge_expired)

:meth:`CredentialVault.reveal` is atomic: the conditional ``UPDATE ... WHERE revealed_at IS NULL AND
expires_at > now`` marks the entry revealed and only the caller whose update matched gets the password, so
two clicks (on one instance or two) reveal it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from sqlalchemy import delete, or_, select, update

from storage._sql import dialect_insert
from storage.clock import Clock, utc_now
from storage.database import Database
from storage.errors import StorageError
from storage.models import CredentialRow

__all__ = ["CredentialVault", "RevealRefused", "VaultDecryptError", "VaultEntry", "generate_key"]

_MAX_PASSWORD_CHARS = 256


class RevealRefused(StrEnum):
    """Why a reveal gave no password. Values are stable (audited)."""

    NOT_FOUND = "not_found"
    NOT_YOURS = "not_yours"
    ALREADY_REVEALED = "already_revealed"
    EXPIRED = "expired"


class VaultDecryptError(StorageError):
    """A stored credential cannot be decrypted: ``SECRETS_KEY`` changed, or the row was tampered with."""

    code = "storage.vault_decrypt"

    def __init__(self, number: int) -> None:
        super().__init__(
            f"the temporary password of request {number} cannot be decrypted with the configured SECRETS_KEY"
        )
        self.number = number


@dataclass(frozen=True, slots=True)
class VaultEntry:
    """What is known about a stored credential, without the credential."""

    request_number: int
    upn: str
    owner_aad_id: str
    created_at: datetime
    expires_at: datetime
    revealed_at: datetime | None
    #: Whether the ciphertext is still held (False once revealed or purged).
    held: bool


def generate_key() -> str:
    """A new random key for ``SECRETS_KEY`` (32 url-safe base64-encoded bytes)."""
    return Fernet.generate_key().decode("ascii")


class CredentialVault:
    """Store, reveal once, renew, discard and purge temporary passwords."""

    def __init__(self, database: Database, key: str | SecretStr, *, clock: Clock = utc_now) -> None:
        """Use ``database`` and the Fernet ``key`` (``settings.secrets_key``); raises ``ValueError`` for a key
        that is not 32 url-safe base64-encoded bytes (the message never contains the key)."""
        raw = key.get_secret_value() if isinstance(key, SecretStr) else key
        try:
            self._fernet = Fernet(raw.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError(
                "SECRETS_KEY must be 32 url-safe base64-encoded bytes (a Fernet key); "
                "make one with storage.vault.generate_key()"
            ) from None
        self._db = database
        self._clock = clock

    def __repr__(self) -> str:
        return f"CredentialVault({self._db!r})"

    async def store(
        self,
        number: int,
        upn: str,
        owner_aad_id: str,
        password: str,
        *,
        ttl: timedelta,
        replace: bool = True,
    ) -> bool:
        """Hold ``password`` for request ``number`` until ``owner_aad_id`` reveals it or ``ttl`` passes.

        Storing again for the same number replaces the entry (a new password after a reset), whatever state
        it was in: the new password is held, unrevealed, for ``ttl`` from now. With ``replace=False`` a
        password that can still be revealed is kept instead (two provisioning runs racing to store one must
        end up using the same one). Returns whether ``password`` was stored.
        """
        if not password or len(password) > _MAX_PASSWORD_CHARS:
            raise ValueError(f"a password must be 1-{_MAX_PASSWORD_CHARS} characters")
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        now = self._clock()
        values = {
            "upn": upn.strip().lower(),
            "owner_aad_id": _lower_id(owner_aad_id),
            "ciphertext": self._encrypt(number, password),
            "created_at": now,
            "expires_at": now + ttl,
            "revealed_at": None,
            "updated_at": now,
        }
        # The WHERE of ON CONFLICT DO UPDATE reads the row already stored: replace it only when allowed.
        replaceable = or_(
            CredentialRow.ciphertext.is_(None),
            CredentialRow.revealed_at.is_not(None),
            CredentialRow.expires_at <= now,
        )
        statement = (
            dialect_insert(self._db.dialect_name, CredentialRow)
            .values(request_number=number, **values)
            .on_conflict_do_update(
                index_elements=[CredentialRow.request_number],
                set_=values,
                where=None if replace else replaceable,
            )
            .returning(CredentialRow.request_number)
        )
        async with self._db.transaction(write=True) as conn:
            return (await conn.execute(statement)).first() is not None

    async def peek_exists(self, number: int) -> bool:
        """Whether request ``number`` has a password that can still be revealed (held and not expired)."""
        now = self._clock()
        statement = select(CredentialRow.request_number).where(
            CredentialRow.request_number == number,
            CredentialRow.ciphertext.is_not(None),
            CredentialRow.revealed_at.is_(None),
            CredentialRow.expires_at > now,
        )
        async with self._db.transaction(write=False) as conn:
            return (await conn.execute(statement)).first() is not None

    async def reveal(self, number: int, caller_aad_id: str) -> str | RevealRefused:
        """The password, once, to its owner only; afterwards the ciphertext is gone.

        Returns a :class:`RevealRefused` when there is nothing to reveal for the caller. Raises
        :class:`VaultDecryptError` (and changes nothing) when the key cannot decrypt the entry.
        """
        now = self._clock()
        caller = _lower_id(caller_aad_id)
        mark = (
            update(CredentialRow)
            .where(
                CredentialRow.request_number == number,
                CredentialRow.owner_aad_id == caller,
                CredentialRow.revealed_at.is_(None),
                CredentialRow.ciphertext.is_not(None),
                CredentialRow.expires_at > now,
            )
            .values(revealed_at=now, updated_at=now)
            .returning(CredentialRow.ciphertext)
        )
        async with self._db.transaction(write=True) as conn:
            # Of concurrent reveals only one update matches (SQLite's write lock, PostgreSQL's row lock
            # with the WHERE clause re-checked); decrypting inside the transaction means a key problem rolls
            # the mark back instead of burning the only reveal.
            token = (await conn.execute(mark)).scalar_one_or_none()
            if token is not None:
                password = self._decrypt(number, token)
                await conn.execute(
                    update(CredentialRow)
                    .where(CredentialRow.request_number == number)
                    .values(ciphertext=None)
                )
                return password
            row = (
                await conn.execute(
                    select(
                        CredentialRow.owner_aad_id,
                        CredentialRow.revealed_at,
                        CredentialRow.expires_at,
                        CredentialRow.ciphertext,
                    ).where(CredentialRow.request_number == number)
                )
            ).first()
        if row is None:
            return RevealRefused.NOT_FOUND
        if row.owner_aad_id != caller:
            return RevealRefused.NOT_YOURS
        if row.revealed_at is not None:
            return RevealRefused.ALREADY_REVEALED
        return RevealRefused.EXPIRED

    async def purge_expired(self) -> int:
        """Erase the ciphertext of every expired, unrevealed entry; return how many were erased.

        The rows stay (without ciphertext) so a late reveal is told "expired" rather than "not found".
        """
        now = self._clock()
        statement = (
            update(CredentialRow)
            .where(CredentialRow.ciphertext.is_not(None), CredentialRow.expires_at <= now)
            .values(ciphertext=None, updated_at=now)
            .returning(CredentialRow.request_number)
        )
        async with self._db.transaction(write=True) as conn:
            return len((await conn.execute(statement)).all())

    async def pending_password(self, number: int) -> SecretStr | None:
        """The held, unrevealed, unexpired password of request ``number`` (provisioning only).

        Provisioning reuses it when it has to send the account creation again after a crash, so the
        account and the vault can never hold different passwords.
        """
        now = self._clock()
        statement = select(CredentialRow.ciphertext).where(
            CredentialRow.request_number == number,
            CredentialRow.revealed_at.is_(None),
            CredentialRow.expires_at > now,
        )
        async with self._db.transaction(write=False) as conn:
            token = (await conn.execute(statement)).scalar_one_or_none()
        return None if token is None else SecretStr(self._decrypt(number, token))

    async def renew(self, number: int, *, ttl: timedelta) -> bool:
        """Let a held, unrevealed, unexpired password be revealed until ``ttl`` from now; False if none."""
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        now = self._clock()
        statement = (
            update(CredentialRow)
            .where(
                CredentialRow.request_number == number,
                CredentialRow.ciphertext.is_not(None),
                CredentialRow.revealed_at.is_(None),
                CredentialRow.expires_at > now,
            )
            .values(expires_at=now + ttl, updated_at=now)
            .returning(CredentialRow.request_number)
        )
        async with self._db.transaction(write=True) as conn:
            return (await conn.execute(statement)).first() is not None

    async def discard(self, number: int) -> bool:
        """Delete request ``number``'s entry, whatever its state (the request was cancelled)."""
        statement = (
            delete(CredentialRow)
            .where(CredentialRow.request_number == number)
            .returning(CredentialRow.request_number)
        )
        async with self._db.transaction(write=True) as conn:
            return (await conn.execute(statement)).first() is not None

    async def entry(self, number: int) -> VaultEntry | None:
        """What the vault knows about request ``number``'s credential, without decrypting anything."""
        statement = select(
            CredentialRow.request_number,
            CredentialRow.upn,
            CredentialRow.owner_aad_id,
            CredentialRow.created_at,
            CredentialRow.expires_at,
            CredentialRow.revealed_at,
            CredentialRow.ciphertext.is_not(None),
        ).where(CredentialRow.request_number == number)
        async with self._db.transaction(write=False) as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            return None
        return VaultEntry(
            request_number=row[0],
            upn=row[1],
            owner_aad_id=row[2],
            created_at=row[3],
            expires_at=row[4],
            revealed_at=row[5],
            held=bool(row[6]),
        )

    def _encrypt(self, number: int, password: str) -> str:
        return self._fernet.encrypt(f"{number}\n{password}".encode()).decode("ascii")

    def _decrypt(self, number: int, token: str) -> str:
        try:
            plain = self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeDecodeError):
            raise VaultDecryptError(number) from None
        bound, _, password = plain.partition("\n")
        if bound != str(number):
            raise VaultDecryptError(number)
        return password


def _lower_id(aad_object_id: str) -> str:
    # Object ids are GUIDs; Teams and Graph spell them in either case.
    return aad_object_id.strip().lower()
