"""Sandbox mode accepts unauthenticated calls, so it must listen on loopback only.

tests/test_settings.py already refuses 0.0.0.0, 10.0.0.5, example.com and ``::``; these are the host
spellings it does not try: the empty host (aiohttp binds every interface), names and addresses that
only look local, and the loopback addresses that must still be accepted.
"""

from __future__ import annotations

import pytest

from settings import SettingsError, load_settings


@pytest.mark.parametrize(
    "host",
    ["", "localhost.example.com", "127.0.0.1.nip.io", "0", "::ffff:0.0.0.0", "fe80::1", "*"],
)
def test_sandbox_refuses_listeners_that_only_look_local(host: str) -> None:
    with pytest.raises(SettingsError, match="loopback"):
        load_settings(bot_mode="sandbox", bot_host=host)


@pytest.mark.parametrize("host", ["127.0.0.2", "::1"])
def test_sandbox_accepts_any_loopback_address(host: str) -> None:
    assert load_settings(bot_mode="sandbox", bot_host=host).bot_host == host
