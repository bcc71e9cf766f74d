"""The rendered manifest against Microsoft's official schema (offline), and the rules it cannot express."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from manifest.icons import ACCENT_COLOR
from manifest.png import Pixel, decode_png, encode_png, read_png_size
from manifest.validate import (
    SchemaUnavailableError,
    package_problems,
    schema_file_for,
    schema_problems,
    validate_package,
)

TEAMS_SCHEMAS = Path("json-schemas") / "teams"


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.removeprefix("v").split("."))


# --- the official schema -------------------------------------------------------------------------------


def test_rendered_manifest_matches_the_official_schema(
    manifest: dict[str, Any], schema: dict[str, Any]
) -> None:
    assert schema_problems(manifest, schema) == []


def test_manifest_names_the_newest_v1_schema_shipped(manifest: dict[str, Any], schema_root: Path) -> None:
    shipped = [p.name for p in (schema_root / TEAMS_SCHEMAS).iterdir() if re.fullmatch(r"v1\.\d+", p.name)]
    newest = max(shipped, key=_version_key)
    assert (
        schema_file_for(manifest, schema_root)
        == (schema_root / TEAMS_SCHEMAS / newest / "MicrosoftTeams.schema.json").resolve()
    )
    assert manifest["manifestVersion"] == newest.removeprefix("v")


def test_missing_required_field_is_rejected(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    del manifest["developer"]
    assert schema_problems(manifest, schema) == ["/: 'developer' is a required property"]


def test_bot_id_that_is_not_a_guid_is_rejected_by_the_schema(
    manifest: dict[str, Any], schema: dict[str, Any]
) -> None:
    manifest["bots"][0]["botId"] = "28:vendor-onboarding-bot"
    problems = schema_problems(manifest, schema)
    assert len(problems) == 1
    assert problems[0].startswith("/bots/0/botId: '28:vendor-onboarding-bot' does not match")


def test_unknown_property_is_rejected(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    manifest["bots"][0]["supportsFile"] = False  # a typo of supportsFiles
    assert any("'supportsFile' was unexpected" in p for p in schema_problems(manifest, schema))


def test_manifest_version_must_match_the_schema(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    manifest["manifestVersion"] = "1.17"  # draft-04 ignores "const"; the validator checks it itself
    expected = schema["properties"]["manifestVersion"]["const"]
    assert schema_problems(manifest, schema) == [
        f"/manifestVersion: '1.17' does not match the schema's {expected!r}"
    ]


def test_schema_outside_microsoft_is_refused(manifest: dict[str, Any], schema_root: Path) -> None:
    manifest["$schema"] = "https://example.com/json-schemas/teams/v1.30/MicrosoftTeams.schema.json"
    with pytest.raises(ValueError, match="not a Microsoft Teams manifest schema URL"):
        schema_file_for(manifest, schema_root)


def test_schema_version_not_installed_is_reported(manifest: dict[str, Any], schema_root: Path) -> None:
    manifest["$schema"] = (
        "https://developer.microsoft.com/en-us/json-schemas/teams/v9.99/MicrosoftTeams.schema.json"
    )
    with pytest.raises(SchemaUnavailableError, match="npm ci"):
        validate_package(manifest, {}, schema_root)


# --- what the product promises in its manifest ---------------------------------------------------------


def test_bot_offers_personal_and_team_scopes_without_files(manifest: dict[str, Any]) -> None:
    (bot,) = manifest["bots"]
    assert sorted(bot["scopes"]) == ["personal", "team"]
    assert bot["supportsFiles"] is False


def test_command_lists_are_the_documented_commands(manifest: dict[str, Any]) -> None:
    lists = {
        tuple(cl["scopes"]): [c["title"] for c in cl["commands"]]
        for cl in manifest["bots"][0]["commandLists"]
    }
    assert lists == {
        ("personal",): ["help", "onboard", "requests", "accounts", "licenses", "barriers"],
        ("team",): ["approvals here", "help"],
    }


def test_accent_color_is_the_icon_background(manifest: dict[str, Any]) -> None:
    assert manifest["accentColor"] == ACCENT_COLOR


# --- rules the schema cannot express ---------------------------------------------------------------


def test_committed_package_satisfies_the_package_rules(
    manifest: dict[str, Any], icons: dict[str, bytes]
) -> None:
    assert package_problems(manifest, icons) == []


def test_icon_sizes_from_png_headers(icons: dict[str, bytes]) -> None:
    assert read_png_size(icons["color.png"]) == (192, 192)
    assert read_png_size(icons["outline.png"]) == (32, 32)


def test_outline_icon_is_white_on_transparent(icons: dict[str, bytes]) -> None:
    image = decode_png(icons["outline.png"])
    visible = [p for p in image.pixels if p[3] > 0]
    assert visible, "the outline icon shows nothing"
    assert {p[:3] for p in visible} == {(255, 255, 255)}
    assert image.pixel(0, 0)[3] == 0  # the corner is background


def test_swapped_icons_are_rejected_for_their_size(manifest: dict[str, Any], icons: dict[str, bytes]) -> None:
    manifest["icons"] = {"color": "outline.png", "outline": "color.png"}
    problems = package_problems(manifest, icons)
    assert "/icons/color: outline.png is 32x32, Teams requires 192x192" in problems
    assert "/icons/outline: color.png is 192x192, Teams requires 32x32" in problems


def _outline_with(pixel: Pixel) -> bytes:
    rows = [[(255, 255, 255, 0)] * 32 for _ in range(32)]
    rows[16][16] = pixel
    return encode_png(32, 32, rows, alpha=True)


def test_outline_icon_with_a_coloured_pixel_is_rejected(
    manifest: dict[str, Any], icons: dict[str, bytes]
) -> None:
    icons["outline.png"] = _outline_with((30, 90, 168, 255))
    assert package_problems(manifest, icons) == [
        "/icons/outline: outline.png has 1 visible pixels that are not white; only white is allowed"
    ]


def test_outline_icon_without_transparency_is_rejected(
    manifest: dict[str, Any], icons: dict[str, bytes]
) -> None:
    icons["outline.png"] = encode_png(32, 32, [[(255, 255, 255, 255)] * 32] * 32, alpha=False)
    assert package_problems(manifest, icons) == [
        "/icons/outline: outline.png has no transparency; "
        "the outline icon must be white on a transparent background"
    ]


def test_transparent_colour_icon_is_rejected(manifest: dict[str, Any], icons: dict[str, bytes]) -> None:
    icons["color.png"] = encode_png(192, 192, [[(30, 90, 168, 0)] * 192] * 192, alpha=True)
    assert package_problems(manifest, icons) == [
        "/icons/color: color.png has transparent pixels; the colour icon must be a full, opaque square"
    ]


def test_missing_icon_file_is_rejected(manifest: dict[str, Any], icons: dict[str, bytes]) -> None:
    del icons["outline.png"]
    assert package_problems(manifest, icons) == ["/icons/outline: 'outline.png' is not in the package"]


def test_command_title_over_32_characters_is_rejected(
    manifest: dict[str, Any], icons: dict[str, bytes]
) -> None:
    manifest["bots"][0]["commandLists"][0]["commands"][0]["title"] = "x" * 33
    assert package_problems(manifest, icons) == [
        f"/bots/0/commandLists/0/commands/0/title: {'x' * 33!r} is 33 characters, at most 32"
    ]


def test_command_list_for_a_scope_the_bot_lacks_is_rejected(
    manifest: dict[str, Any], icons: dict[str, bytes]
) -> None:
    manifest["bots"][0]["commandLists"][1]["scopes"] = ["groupChat"]
    assert package_problems(manifest, icons) == [
        "/bots/0/commandLists/1/scopes: 'groupChat' is not one of the bot's scopes ['personal', 'team']"
    ]


def test_unfilled_placeholder_is_reported(manifest: dict[str, Any], icons: dict[str, bytes]) -> None:
    manifest["description"]["short"] = "Onboard ${{VENDOR}} accounts"
    assert package_problems(manifest, icons) == ["/description/short: placeholder ${{VENDOR}} was not filled"]


def test_nil_package_id_is_rejected(manifest: dict[str, Any], icons: dict[str, bytes]) -> None:
    manifest["id"] = "00000000-0000-0000-0000-000000000000"
    assert package_problems(manifest, icons) == ["/id: the nil GUID is not a real id"]


def test_valid_domain_with_a_scheme_is_rejected(manifest: dict[str, Any], icons: dict[str, bytes]) -> None:
    manifest["validDomains"] = ["https://bot.contoso.com"]
    assert package_problems(manifest, icons) == [
        "/validDomains/0: 'https://bot.contoso.com' must be a host name such as bot.contoso.com"
    ]
