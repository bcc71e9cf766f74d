"""The onboarding configuration file: the shipped example, defaults, and readable errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from onboarding.config import default_onboarding_config, load_onboarding_config, parse_onboarding_config
from onboarding.errors import ConfigurationError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "onboarding.example.toml"


def test_the_shipped_example_loads() -> None:
    config = load_onboarding_config(EXAMPLE)
    assert config.naming.domain == "abc.com"
    assert config.licensing.profile_keys == ("remote-assist-technician",)
    assert (config.access.default_days, config.access.max_days) == (30, 90)


def test_only_the_domain_is_required() -> None:
    config = parse_onboarding_config('version = 1\n[naming]\ndomain = "abc.com"\n')
    assert config == default_onboarding_config("abc.com")


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_onboarding_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version = 1\n[naming\n", "not valid TOML"),
        ('[naming]\ndomain = "abc.com"\n', "version"),
        ("version = 2\n", "found 2"),
        ("version = 1\n", "naming"),
        ('version = 1\n[naming]\ndomain = "abc.com"\ncolour = "blue"\n', "naming.colour"),
        ('version = 1\n[naming]\ndomain = "abc.com"\nupn_template = "{nick}"\n', "unknown placeholder"),
        ('version = 1\n[naming]\ndomain = "not a domain"\n', "naming"),
        ('version = 1\n[naming]\ndomain = "abc.com"\n[access]\ndefault_days = 100\n', "access"),
        (
            'version = 1\n[naming]\ndomain = "abc.com"\n[[licensing.profiles]]\nkey = "Bad Key"\n'
            'display_name = "x"\nsku_part_numbers = ["A"]\n',
            "licensing.profiles.#1.key",
        ),
    ],
)
def test_problems_are_named_with_their_place(text: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_onboarding_config(text, source="test.toml")
    assert fragment in str(caught.value)
