"""Validate a rendered Teams app manifest and its icons, offline.

Two kinds of checks, both returning a list of readable problems (empty means valid):

* :func:`schema_problems`: the official JSON schema shipped in npm ``@microsoft/app-manifest`` (the
  file the manifest's ``$schema`` names), draft-04, with the ``jsonschema`` package. The npm package's own
  ``validateManifest`` fetches schemas from the web; this never does.
* :func:`package_problems`: the rules the schema cannot express: icon sizes read from the PNG headers,
  the outline icon white on transparency, command titles and descriptions within Teams' limits,
  every placeholder filled, the ids real GUIDs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from manifest.png import PngError, PngImage, decode_png

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where npm puts the schemas (``npm ci`` in the repository root installs them).
SCHEMA_ROOT = REPO_ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build"
PLACEHOLDER = re.compile(r"\$\{\{([A-Z0-9_]+)\}\}")
GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
NIL_GUID = "00000000-0000-0000-0000-000000000000"
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")

COLOR_ICON_SIZE = (192, 192)
OUTLINE_ICON_SIZE = (32, 32)
#: Teams' limits for bot commands (the schema allows more than the Teams client shows).
MAX_COMMAND_TITLE = 32
MAX_COMMAND_DESCRIPTION = 128
MAX_COMMANDS_PER_LIST = 10

_SCHEMA_HOST = "developer.microsoft.com"
# The host serves localized copies (/en-us/json-schemas/...); the npm package stores /json-schemas/...
_LOCALIZED_PATH = re.compile(r"^/[a-z]{2}(?:-[a-z]{2})?(/json-schemas/.*)$", re.IGNORECASE)


class SchemaUnavailableError(Exception):
    """The schema file the manifest names is not on disk (``node_modules`` missing or too old)."""


def schema_file_for(manifest: Mapping[str, Any], schema_root: Path = SCHEMA_ROOT) -> Path:
    """The local copy of the schema named by ``manifest["$schema"]``.

    Raises :class:`ValueError` when ``$schema`` is not one of Microsoft's Teams schema URLs and
    :class:`SchemaUnavailableError` when it is but the file is not installed.
    """
    url = manifest.get("$schema")
    if not isinstance(url, str):
        raise ValueError("the manifest has no $schema URL")
    parts = urlsplit(url)
    localized = _LOCALIZED_PATH.match(parts.path)
    path = localized.group(1) if localized else parts.path
    if (
        parts.scheme != "https"
        or parts.hostname != _SCHEMA_HOST
        or not path.startswith("/json-schemas/teams/")
    ):
        raise ValueError(f"$schema {url!r} is not a Microsoft Teams manifest schema URL")
    local = (schema_root / path.lstrip("/")).resolve()
    if not local.is_relative_to(schema_root.resolve()):
        raise ValueError(f"$schema {url!r} points outside the schema folder")
    if not local.is_file():
        raise SchemaUnavailableError(
            f"schema file {local} is not installed (run `npm ci` in {REPO_ROOT} for @microsoft/app-manifest)"
        )
    return local


def load_schema(path: Path) -> dict[str, Any]:
    """Read a schema file as the npm package does (some versions hold ``\\a``/``\\v`` escapes JSON lacks)."""
    text = path.read_text(encoding="utf-8-sig").replace("\\a", "\\u0007").replace("\\v", "\\u000b")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_problems(manifest: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every violation of ``schema`` (draft-04) by ``manifest``, one readable line each."""
    from jsonschema import Draft4Validator  # dev dependency: only packaging and tests validate

    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    problems = [
        f"{_pointer(error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(manifest), key=lambda e: [str(p) for p in e.absolute_path])
    ]
    # draft-04 has no "const"; the schema still uses it to pin manifestVersion to its own version.
    expected = schema.get("properties", {}).get("manifestVersion", {}).get("const")
    if expected is not None and manifest.get("manifestVersion") != expected:
        problems.append(
            f"/manifestVersion: {manifest.get('manifestVersion')!r} does not match the schema's {expected!r}"
        )
    return problems


def package_problems(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> list[str]:
    """Problems the schema cannot see; ``files`` maps package file names (icons) to their bytes."""
    problems = [
        f"{where}: placeholder ${{{{{name}}}}} was not filled" for where, name in _placeholders(manifest)
    ]
    problems += _id_problems(manifest)
    problems += _icon_problems(manifest, files)
    problems += _command_problems(manifest)
    problems += _domain_problems(manifest)
    return problems


def validate_package(
    manifest: Mapping[str, Any], files: Mapping[str, bytes], schema_root: Path = SCHEMA_ROOT
) -> list[str]:
    """All problems: the official schema, then the package rules. Raises :class:`SchemaUnavailableError`."""
    try:
        schema = load_schema(schema_file_for(manifest, schema_root))
    except ValueError as err:
        return [f"/$schema: {err}", *package_problems(manifest, files)]
    return schema_problems(manifest, schema) + package_problems(manifest, files)


def _pointer(path: Iterator[Any] | Any) -> str:
    return "/" + "/".join(str(part) for part in path)


def _placeholders(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        for match in PLACEHOLDER.finditer(node):
            yield where or "/", match.group(1)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _placeholders(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _placeholders(value, f"{where}/{index}")


def _id_problems(manifest: Mapping[str, Any]) -> list[str]:
    problems = []
    ids = [("/id", manifest.get("id"))]
    ids += [(f"/bots/{i}/botId", bot.get("botId")) for i, bot in enumerate(manifest.get("bots", []))]
    for where, value in ids:
        if not isinstance(value, str) or not GUID.match(value):
            problems.append(f"{where}: {value!r} is not a GUID")
        elif value == NIL_GUID:
            problems.append(f"{where}: the nil GUID is not a real id")
    version = manifest.get("version")
    if not isinstance(version, str) or not SEMVER.match(version):
        problems.append(f"/version: {version!r} is not MAJOR.MINOR.PATCH, which Teams requires")
    return problems


def _icon_problems(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> list[str]:
    icons = manifest.get("icons", {})
    problems = []
    for kind, size, rules in (
        ("color", COLOR_ICON_SIZE, _color_icon_rules),
        ("outline", OUTLINE_ICON_SIZE, _outline_icon_rules),
    ):
        name = icons.get(kind)
        where = f"/icons/{kind}"
        if not isinstance(name, str) or name not in files:
            problems.append(f"{where}: {name!r} is not in the package")
            continue
        try:
            image = decode_png(files[name])
        except PngError as err:
            problems.append(f"{where}: {name}: {err}")
            continue
        if (image.width, image.height) != size:
            problems.append(
                f"{where}: {name} is {image.width}x{image.height}, Teams requires {size[0]}x{size[1]}"
            )
        problems += [f"{where}: {name} {problem}" for problem in rules(image)]
    return problems


def _color_icon_rules(image: PngImage) -> list[str]:
    # Teams masks the colour icon itself and asks for a full square; transparent pixels show as holes.
    if any(pixel[3] != 255 for pixel in image.pixels):
        return ["has transparent pixels; the colour icon must be a full, opaque square"]
    return []


def _outline_icon_rules(image: PngImage) -> list[str]:
    if not image.has_alpha:
        return ["has no transparency; the outline icon must be white on a transparent background"]
    problems = []
    not_white = sum(1 for r, g, b, a in image.pixels if a > 0 and (r, g, b) != (255, 255, 255))
    if not_white:
        problems.append(f"has {not_white} visible pixels that are not white; only white is allowed")
    if not any(pixel[3] == 0 for pixel in image.pixels):
        problems.append("has no fully transparent pixel; the background must be transparent")
    if not any(pixel[3] > 0 for pixel in image.pixels):
        problems.append("is fully transparent; nothing would show")
    return problems


def _command_problems(manifest: Mapping[str, Any]) -> list[str]:
    problems = []
    for b, bot in enumerate(manifest.get("bots", [])):
        bot_scopes = set(bot.get("scopes", []))
        for c, command_list in enumerate(bot.get("commandLists", [])):
            where = f"/bots/{b}/commandLists/{c}"
            for scope in command_list.get("scopes", []):
                if scope not in bot_scopes:
                    problems.append(
                        f"{where}/scopes: {scope!r} is not one of the bot's scopes {sorted(bot_scopes)}"
                    )
            commands = command_list.get("commands", [])
            if len(commands) > MAX_COMMANDS_PER_LIST:
                problems.append(
                    f"{where}/commands: {len(commands)} commands, Teams shows at most {MAX_COMMANDS_PER_LIST}"
                )
            titles = [command.get("title", "") for command in commands]
            for title in sorted({t for t in titles if titles.count(t) > 1}):
                problems.append(f"{where}/commands: title {title!r} appears more than once")
            for i, command in enumerate(commands):
                title, description = command.get("title", ""), command.get("description", "")
                if len(title) > MAX_COMMAND_TITLE:
                    problems.append(
                        f"{where}/commands/{i}/title: {title!r} is {len(title)} characters, "
                        f"at most {MAX_COMMAND_TITLE}"
                    )
                if len(description) > MAX_COMMAND_DESCRIPTION:
                    problems.append(
                        f"{where}/commands/{i}/description: {len(description)} characters, "
                        f"at most {MAX_COMMAND_DESCRIPTION}"
                    )
    return problems


def _domain_problems(manifest: Mapping[str, Any]) -> list[str]:
    problems = []
    for i, domain in enumerate(manifest.get("validDomains", [])):
        # Teams wants bare host names (wildcards allowed); a scheme or path makes the entry useless.
        if not isinstance(domain, str) or not domain or "://" in domain or "/" in domain:
            problems.append(f"/validDomains/{i}: {domain!r} must be a host name such as bot.contoso.com")
    return problems
