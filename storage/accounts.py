"""``service_accounts``: the service accounts this bot created and owns, by UPN.

Provisioning records an account once it exists with its licenses and groups; lifecycle work (reminders,
extension, offboarding) reads and updates it. UPNs compare case-insensitively, as Entra compares them, so
they are stored lower-cased.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, Select, select, update

from storage._sql import dialect_insert
from storage.clock import Clock, utc_now
from storage.database import Database
from storage.models import ServiceAccountRow

__all__ = ["AccountState", "ServiceAccount", "ServiceAccounts"]

_MAX_LIST = 500


class AccountState(StrEnum):
    """Where a service account is in its life. Values are stored."""

    ACTIVE = "active"
    #: Sign-in blocked (offboarding started, or suspended by an administrator).
    DISABLED = "disabled"
    #: Offboarded: disabled, sessions revoked, licenses and groups removed; deleted after retention.
    OFFBOARDED = "offboarded"
    DELETED = "deleted"


@dataclass(frozen=True)
class ServiceAccount:
    """A service account as the bot knows it."""

    upn: str
    #: The Entra object id.
    user_id: str
    request_number: int
    vendor: str
    contractor_name: str
    contractor_email: str
    sponsor_aad_id: str
    sponsor_name: str
    license_part_numbers: tuple[str, ...]
    segment: str | None
    end_date: date
    #: An :class:`AccountState` value ("active", "offboarded", ...).
    state: str
    created_at: datetime


_COLUMNS = (
    ServiceAccountRow.upn,
    ServiceAccountRow.user_id,
    ServiceAccountRow.request_number,
    ServiceAccountRow.vendor,
    ServiceAccountRow.contractor_name,
    ServiceAccountRow.contractor_email,
    ServiceAccountRow.sponsor_aad_id,
    ServiceAccountRow.sponsor_name,
    ServiceAccountRow.license_part_numbers_json,
    ServiceAccountRow.segment,
    ServiceAccountRow.end_date,
    ServiceAccountRow.state,
    ServiceAccountRow.created_at,
)


class ServiceAccounts:
    """Record, read and list the bot's service accounts."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps ``updated_at``."""
        self._db = database
        self._clock = clock

    async def record(self, account: ServiceAccount) -> None:
        """Insert or update the account with ``account.upn``; the first ``created_at`` is kept."""
        values = _values(account)
        changed = {key: value for key, value in values.items() if key not in ("upn", "created_at")}
        statement = (
            dialect_insert(self._db.dialect_name, ServiceAccountRow)
            .values(**values, updated_at=self._clock())
            .on_conflict_do_update(
                index_elements=[ServiceAccountRow.upn], set_={**changed, "updated_at": self._clock()}
            )
        )
        async with self._db.transaction(write=True) as conn:
            await conn.execute(statement)

    async def get(self, upn: str) -> ServiceAccount | None:
        """The account with ``upn`` (any case), or ``None``."""
        async with self._db.transaction(write=False) as conn:
            row = (await conn.execute(select(*_COLUMNS).where(ServiceAccountRow.upn == _key(upn)))).first()
        return None if row is None else _account(row)

    async def get_by_request(self, number: int) -> ServiceAccount | None:
        """The account request ``number`` created, or ``None``."""
        async with self._db.transaction(write=False) as conn:
            row = (
                await conn.execute(select(*_COLUMNS).where(ServiceAccountRow.request_number == number))
            ).first()
        return None if row is None else _account(row)

    async def set_state(self, upn: str, state: AccountState | str) -> bool:
        """Change an account's state; False when there is no such account."""
        statement = (
            update(ServiceAccountRow)
            .where(ServiceAccountRow.upn == _key(upn))
            .values(state=str(state), updated_at=self._clock())
            .returning(ServiceAccountRow.upn)
        )
        async with self._db.transaction(write=True) as conn:
            return (await conn.execute(statement)).first() is not None

    async def list(
        self, *, vendor: str | None = None, limit: int = 50, offset: int = 0
    ) -> builtins.list[ServiceAccount]:
        """Accounts ordered by vendor then UPN, optionally of one vendor (exact name)."""
        statement: Select[*tuple[Any, ...]] = (
            select(*_COLUMNS)
            .order_by(ServiceAccountRow.vendor, ServiceAccountRow.upn)
            .limit(max(0, min(limit, _MAX_LIST)))
            .offset(max(offset, 0))
        )
        if vendor is not None:
            statement = statement.where(ServiceAccountRow.vendor == vendor)
        async with self._db.transaction(write=False) as conn:
            rows = (await conn.execute(statement)).all()
        return [_account(row) for row in rows]


def _key(upn: str) -> str:
    return upn.strip().lower()


def _values(account: ServiceAccount) -> dict[str, Any]:
    return {
        "upn": _key(account.upn),
        "user_id": account.user_id,
        "request_number": account.request_number,
        "vendor": account.vendor,
        "contractor_name": account.contractor_name,
        "contractor_email": account.contractor_email,
        "sponsor_aad_id": account.sponsor_aad_id.strip().lower(),
        "sponsor_name": account.sponsor_name,
        "license_part_numbers_json": json.dumps(list(account.license_part_numbers)),
        "segment": account.segment,
        "end_date": account.end_date,
        "state": str(account.state),
        "created_at": account.created_at,
    }


def _account(row: Row[*tuple[Any, ...]]) -> ServiceAccount:
    fields = row._asdict()
    fields["license_part_numbers"] = tuple(json.loads(fields.pop("license_part_numbers_json")))
    return ServiceAccount(**fields)
