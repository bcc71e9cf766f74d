"""The leak search itself: it finds a secret in every form it takes, and never prints it."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from tests.security.leaks import assert_no_secrets, find_secrets

SECRET = 's3cr3t/+="value with space'


@pytest.mark.parametrize(
    "text",
    [
        f"prefix {SECRET} suffix",
        json.dumps({"message": SECRET}),
        f"client_secret={quote(SECRET, safe='')}&x=1",
        f"client_secret={quote_plus(SECRET, safe='')}",
        "Basic " + base64.b64encode(SECRET.encode()).decode(),
        base64.urlsafe_b64encode(SECRET.encode()).decode(),
    ],
    ids=["as is", "json", "url", "form", "base64", "base64url"],
)
def test_every_form_of_a_secret_is_found(text: str) -> None:
    assert find_secrets([text], [SECRET])


def test_text_without_the_secret_passes() -> None:
    assert_no_secrets(["nothing to see", json.dumps({"password": "***"})], [SECRET])


def test_the_failure_message_says_where_but_not_what() -> None:
    with pytest.raises(AssertionError) as raised:
        assert_no_secrets(["clean", f"token={SECRET}"], [SECRET])
    assert "text #1" in str(raised.value)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize("short", ["", "abc", "1234567"])
def test_a_short_secret_is_refused_because_finding_it_would_prove_nothing(short: str) -> None:
    with pytest.raises(ValueError, match="shorter"):
        find_secrets(["text"], [short])
