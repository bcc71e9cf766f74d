"""CredentialVault: encrypted at rest, revealed once to its owner only, expiring, never in clear anywhere."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text, update

from storage.database import Database
from storage.models import CredentialRow
from storage.vault import CredentialVault, RevealRefused, VaultDecryptError, generate_key
from tests.storage.conftest import FakeClock

KEY = generate_key()
OWNER = "a11ce000-0000-4000-8000-000000000001"
OTHER = "adaa0000-0000-4000-8000-000000000003"
UPN = "sa-contoso1-bob.smith@abc.com"
PASSWORD = "Xy7#kQ2m!Rt9pLw4"
TTL = timedelta(hours=24)


@pytest.fixture
def vault(database: Database, clock: FakeClock) -> CredentialVault:
    return CredentialVault(database, KEY, clock=clock)


async def stored(vault: CredentialVault, number: int = 1, password: str = PASSWORD) -> None:
    await vault.store(number, UPN, OWNER, password, ttl=TTL)


async def raw_rows(database: Database) -> list[tuple[object, ...]]:
    async with database.transaction(write=False) as conn:
        return [tuple(row) for row in (await conn.execute(text("SELECT * FROM credential_vault"))).all()]


# ------------------------------------------------------------------------------------------ reveal


async def test_the_owner_reveals_the_password(vault: CredentialVault) -> None:
    await stored(vault)
    assert await vault.reveal(1, OWNER) == PASSWORD


async def test_a_second_reveal_is_refused(vault: CredentialVault) -> None:
    await stored(vault)
    await vault.reveal(1, OWNER)
    assert await vault.reveal(1, OWNER) is RevealRefused.ALREADY_REVEALED


async def test_someone_else_is_refused_and_the_owner_still_can(vault: CredentialVault) -> None:
    await stored(vault)
    assert await vault.reveal(1, OTHER) is RevealRefused.NOT_YOURS
    assert await vault.reveal(1, OWNER) == PASSWORD


async def test_the_owner_id_is_compared_case_insensitively(vault: CredentialVault) -> None:
    await stored(vault)
    assert await vault.reveal(1, OWNER.upper()) == PASSWORD


async def test_an_unknown_request_has_nothing_to_reveal(vault: CredentialVault) -> None:
    assert await vault.reveal(9, OWNER) is RevealRefused.NOT_FOUND


async def test_an_expired_password_is_refused(vault: CredentialVault, clock: FakeClock) -> None:
    await stored(vault)
    clock.advance(TTL.total_seconds())
    assert await vault.reveal(1, OWNER) is RevealRefused.EXPIRED


async def test_a_password_is_revealable_until_just_before_expiry(
    vault: CredentialVault, clock: FakeClock
) -> None:
    await stored(vault)
    clock.advance(TTL.total_seconds() - 1)
    assert await vault.reveal(1, OWNER) == PASSWORD


async def test_concurrent_reveals_on_two_engines_give_the_password_once(
    database: Database, second_database: Database, clock: FakeClock
) -> None:
    vaults = [CredentialVault(database, KEY, clock=clock), CredentialVault(second_database, KEY, clock=clock)]
    await stored(vaults[0])
    outcomes = await asyncio.gather(*(vaults[n % 2].reveal(1, OWNER) for n in range(20)))
    assert outcomes.count(PASSWORD) == 1
    assert outcomes.count(RevealRefused.ALREADY_REVEALED) == 19


# ------------------------------------------------------------------------------------ at rest


async def test_the_database_never_holds_the_password_in_clear(
    vault: CredentialVault, database: Database
) -> None:
    await stored(vault)
    rows = await raw_rows(database)
    assert len(rows) == 1
    assert not any(PASSWORD in str(cell) for cell in rows[0])


async def test_the_ciphertext_is_erased_once_revealed(vault: CredentialVault, database: Database) -> None:
    await stored(vault)
    await vault.reveal(1, OWNER)
    async with database.transaction(write=False) as conn:
        token = (await conn.execute(select(CredentialRow.ciphertext))).scalar_one()
    assert token is None


async def test_another_key_cannot_decrypt_and_the_reveal_is_not_burnt(
    database: Database, vault: CredentialVault, clock: FakeClock
) -> None:
    await stored(vault)
    with pytest.raises(VaultDecryptError):
        await CredentialVault(database, generate_key(), clock=clock).reveal(1, OWNER)
    assert await vault.reveal(1, OWNER) == PASSWORD


async def test_a_token_moved_to_another_request_does_not_decrypt(
    vault: CredentialVault, database: Database
) -> None:
    await stored(vault, 1)
    await stored(vault, 2, password="Other#Pass2word9")
    async with database.transaction(write=True) as conn:
        token = (
            await conn.execute(select(CredentialRow.ciphertext).where(CredentialRow.request_number == 1))
        ).scalar_one()
        await conn.execute(
            update(CredentialRow).where(CredentialRow.request_number == 2).values(ciphertext=token)
        )
    with pytest.raises(VaultDecryptError):
        await vault.reveal(2, OWNER)


def test_an_invalid_key_is_refused_without_showing_it(database: Database) -> None:
    with pytest.raises(ValueError, match="SECRETS_KEY") as caught:
        CredentialVault(database, "not-a-key-but-a-secret")
    assert "not-a-key-but-a-secret" not in str(caught.value)


def test_the_vault_repr_shows_no_key(database: Database) -> None:
    assert KEY not in repr(CredentialVault(database, KEY))


def test_generated_keys_are_fernet_keys() -> None:
    Fernet(generate_key().encode())


# ----------------------------------------------------------------------------------------- store


async def test_storing_again_replaces_an_unrevealed_password(vault: CredentialVault) -> None:
    await stored(vault)
    await stored(vault, password="Second#Pass2word")
    assert await vault.reveal(1, OWNER) == "Second#Pass2word"


async def test_storing_after_a_reveal_holds_the_new_password(vault: CredentialVault) -> None:
    await stored(vault)
    await vault.reveal(1, OWNER)
    await stored(vault, password="Reset#Pass2word9")
    assert await vault.reveal(1, OWNER) == "Reset#Pass2word9"


async def test_store_without_replace_keeps_a_password_that_can_still_be_revealed(
    vault: CredentialVault,
) -> None:
    await stored(vault)
    assert not await vault.store(1, UPN, OWNER, "Second#Pass2word", ttl=TTL, replace=False)
    assert await vault.reveal(1, OWNER) == PASSWORD


async def test_store_without_replace_stores_when_nothing_is_held(vault: CredentialVault) -> None:
    assert await vault.store(1, UPN, OWNER, PASSWORD, ttl=TTL, replace=False)
    assert await vault.reveal(1, OWNER) == PASSWORD


async def test_store_without_replace_replaces_an_expired_password(
    vault: CredentialVault, clock: FakeClock
) -> None:
    await stored(vault)
    clock.advance(TTL.total_seconds())
    assert await vault.store(1, UPN, OWNER, "Second#Pass2word", ttl=TTL, replace=False)
    assert await vault.reveal(1, OWNER) == "Second#Pass2word"


async def test_concurrent_stores_without_replace_keep_exactly_one_password(
    database: Database, second_database: Database, clock: FakeClock
) -> None:
    vaults = [CredentialVault(database, KEY, clock=clock), CredentialVault(second_database, KEY, clock=clock)]
    candidates = [f"Candidate#{n:02d}Pass" for n in range(10)]
    outcomes = await asyncio.gather(
        *(
            vaults[n % 2].store(1, UPN, OWNER, password, ttl=TTL, replace=False)
            for n, password in enumerate(candidates)
        )
    )
    assert outcomes.count(True) == 1
    assert await vault_reveal(vaults[0]) == candidates[outcomes.index(True)]


async def vault_reveal(vault: CredentialVault) -> str | RevealRefused:
    return await vault.reveal(1, OWNER)


async def test_an_empty_password_is_refused(vault: CredentialVault) -> None:
    with pytest.raises(ValueError, match="password"):
        await vault.store(1, UPN, OWNER, "", ttl=TTL)


async def test_a_non_positive_ttl_is_refused(vault: CredentialVault) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await vault.store(1, UPN, OWNER, PASSWORD, ttl=timedelta(0))


# ------------------------------------------------------------------------------------ housekeeping


async def test_peek_exists_while_the_password_can_be_revealed(vault: CredentialVault) -> None:
    assert not await vault.peek_exists(1)
    await stored(vault)
    assert await vault.peek_exists(1)
    await vault.reveal(1, OWNER)
    assert not await vault.peek_exists(1)


async def test_peek_exists_is_false_once_expired(vault: CredentialVault, clock: FakeClock) -> None:
    await stored(vault)
    clock.advance(TTL.total_seconds())
    assert not await vault.peek_exists(1)


async def test_purge_erases_only_expired_ciphertexts(vault: CredentialVault, clock: FakeClock) -> None:
    await stored(vault, 1)
    clock.advance(3600)
    await stored(vault, 2)
    clock.advance(TTL.total_seconds() - 1800)
    assert await vault.purge_expired() == 1
    entry_1, entry_2 = await vault.entry(1), await vault.entry(2)
    assert entry_1 is not None
    assert not entry_1.held
    assert entry_2 is not None
    assert entry_2.held


async def test_a_purged_password_is_reported_expired(vault: CredentialVault, clock: FakeClock) -> None:
    await stored(vault)
    clock.advance(TTL.total_seconds())
    await vault.purge_expired()
    assert await vault.reveal(1, OWNER) is RevealRefused.EXPIRED


async def test_purging_twice_erases_nothing_more(vault: CredentialVault, clock: FakeClock) -> None:
    await stored(vault)
    clock.advance(TTL.total_seconds())
    await vault.purge_expired()
    assert await vault.purge_expired() == 0


async def test_pending_password_is_secret_until_revealed(vault: CredentialVault) -> None:
    await stored(vault)
    pending = await vault.pending_password(1)
    assert pending is not None
    assert PASSWORD not in repr(pending)
    assert pending.get_secret_value() == PASSWORD
    await vault.reveal(1, OWNER)
    assert await vault.pending_password(1) is None


async def test_renew_extends_the_reveal_window(vault: CredentialVault, clock: FakeClock) -> None:
    await stored(vault)
    clock.advance(TTL.total_seconds() - 60)
    assert await vault.renew(1, ttl=TTL)
    clock.advance(3600)
    assert await vault.reveal(1, OWNER) == PASSWORD


async def test_renew_does_not_revive_a_revealed_password(vault: CredentialVault) -> None:
    await stored(vault)
    await vault.reveal(1, OWNER)
    assert not await vault.renew(1, ttl=TTL)


async def test_discard_removes_the_entry(vault: CredentialVault) -> None:
    await stored(vault)
    assert await vault.discard(1)
    assert await vault.reveal(1, OWNER) is RevealRefused.NOT_FOUND
    assert not await vault.discard(1)


async def test_entry_describes_without_the_password(vault: CredentialVault, clock: FakeClock) -> None:
    await stored(vault)
    entry = await vault.entry(1)
    assert entry is not None
    assert (entry.upn, entry.owner_aad_id, entry.expires_at) == (UPN, OWNER, clock.now + TTL)
    assert PASSWORD not in repr(entry)
