"""Build the Teams app package: ``python -m manifest.build [--app-id GUID] [--out build/appPackage.zip]``.

Renders ``manifest.template.json`` with the bot's app id, validates the result (official schema and the
package rules in :mod:`manifest.validate`) and only then writes a zip holding ``manifest.json``,
``color.png`` and ``outline.png`` at its root, ready to upload in Teams or the Teams admin center.

The app id comes from ``--app-id`` or, failing that, from the settings' ``BOT_APP_ID``. In sandbox mode
(which never has an app id) a fixed placeholder GUID is used and the command says so: such a package
installs but cannot reach a bot. Exit status: 0 written, 1 invalid manifest, 2 bad input or environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from manifest.validate import GUID, NIL_GUID, SCHEMA_ROOT, SchemaUnavailableError, validate_package
from settings import Mode, Settings

MANIFEST_DIR = Path(__file__).resolve().parent
TEMPLATE = MANIFEST_DIR / "manifest.template.json"
ICON_FILES = ("color.png", "outline.png")
DEFAULT_OUT = Path("build") / "appPackage.zip"
DISTRIBUTION = "vendor-onboarding-bot"

#: Used as the bot id when packaging in sandbox mode, where no Azure Bot registration exists.
SANDBOX_PLACEHOLDER_APP_ID = "00000000-0000-4000-8000-000000000b07"
#: Namespace for deriving the package id from the bot app id (uuid5), so rebuilding keeps the same id:
#: Teams treats a package with a new id as a different app.
PACKAGE_ID_NAMESPACE = uuid.UUID("5b0f3c1e-8a7d-4c52-9e1b-6f2d0a4c7e93")
_PLACEHOLDER_URL = "https://www.example.com/vendor-onboarding"


class BuildError(Exception):
    """The package cannot be built; the message says what to fix."""


class InvalidManifestError(BuildError):
    """The rendered manifest or its icons break a rule; ``problems`` lists each one."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("the manifest is not valid:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class ManifestValues:
    """Everything the template's ``${{NAME}}`` placeholders are filled with."""

    app_id: str
    version: str
    package_id: str | None = None
    valid_domains: tuple[str, ...] = ()
    developer_name: str = "Vendor Onboarding"
    website_url: str = _PLACEHOLDER_URL
    privacy_url: str = f"{_PLACEHOLDER_URL}/privacy"
    terms_url: str = f"{_PLACEHOLDER_URL}/terms"
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def effective_package_id(self) -> str:
        """The manifest ``id``: as configured, else derived from the app id (stable across builds)."""
        return self.package_id or str(uuid.uuid5(PACKAGE_ID_NAMESPACE, self.app_id.lower()))

    def placeholders(self) -> dict[str, str | tuple[str, ...]]:
        """The template's placeholder names mapped to their values."""
        return {
            "BOT_APP_ID": self.app_id,
            "TEAMS_APP_ID": self.effective_package_id,
            "APP_VERSION": self.version,
            "VALID_DOMAINS": self.valid_domains,
            "DEVELOPER_NAME": self.developer_name,
            "DEVELOPER_WEBSITE_URL": self.website_url,
            "DEVELOPER_PRIVACY_URL": self.privacy_url,
            "DEVELOPER_TERMS_URL": self.terms_url,
        }


def fill_placeholders(node: Any, values: Mapping[str, str | Sequence[str]]) -> Any:
    """Return a copy of the JSON value ``node`` with every ``${{NAME}}`` replaced by ``values[NAME]``.

    Works on the parsed JSON, not the text, so values never need escaping. A list item that is exactly
    one placeholder whose value is a sequence is replaced by that sequence's items (possibly none).
    Raises :class:`BuildError` for a placeholder without a value.
    """
    if isinstance(node, dict):
        return {key: fill_placeholders(value, values) for key, value in node.items()}
    if isinstance(node, list):
        items: list[Any] = []
        for item in node:
            whole = _WHOLE_PLACEHOLDER.match(item) if isinstance(item, str) else None
            value = values.get(whole.group(1)) if whole else None
            if whole and value is not None and not isinstance(value, str):
                items.extend(value)
            else:
                items.append(fill_placeholders(item, values))
        return items
    if isinstance(node, str):
        return _PLACEHOLDER.sub(lambda match: _string_value(match.group(1), values), node)
    return node


_PLACEHOLDER = re.compile(r"\$\{\{([A-Z0-9_]+)\}\}")
_WHOLE_PLACEHOLDER = re.compile(r"^\$\{\{([A-Z0-9_]+)\}\}$")


def _string_value(name: str, values: Mapping[str, str | Sequence[str]]) -> str:
    if name not in values:
        raise BuildError(f"the template uses ${{{{{name}}}}} but no value is defined for it")
    value = values[name]
    if not isinstance(value, str):
        raise BuildError(f"${{{{{name}}}}} is a list; it can only stand alone as a list item")
    return value


def render_manifest(values: ManifestValues, template: Path = TEMPLATE) -> dict[str, Any]:
    """The manifest for ``values``, rendered from ``template`` (not yet validated)."""
    try:
        parsed = json.loads(template.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise BuildError(f"cannot read the manifest template {template}: {err}") from None
    rendered: dict[str, Any] = fill_placeholders(parsed, values.placeholders())
    return rendered


def icon_files(directory: Path = MANIFEST_DIR) -> dict[str, bytes]:
    """The icons that go into the package, by file name."""
    try:
        return {name: (directory / name).read_bytes() for name in ICON_FILES}
    except OSError as err:
        raise BuildError(f"cannot read an icon: {err} (regenerate with `python -m manifest.icons`)") from None


def build_package(values: ManifestValues, out: Path, *, schema_root: Path = SCHEMA_ROOT) -> dict[str, Any]:
    """Render, validate and write the package to ``out``; return the manifest written.

    Nothing is written when validation fails: :class:`BuildError` lists every problem.
    """
    manifest = render_manifest(values)
    files = icon_files()
    try:
        problems = validate_package(manifest, files, schema_root)
    except SchemaUnavailableError as err:
        raise BuildError(str(err)) from None
    if problems:
        raise InvalidManifestError(problems)
    write_zip(
        out, {"manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode(), **files}
    )
    return manifest


def write_zip(out: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` at the root of a zip at ``out``, atomically and byte-for-byte reproducibly."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(files):
                # A fixed timestamp makes identical inputs give identical packages.
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, files[name])
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def project_version() -> str:
    """The installed project's version (pyproject.toml), which the package version follows."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise BuildError(f"{DISTRIBUTION} is not installed (pip install -e .); pass --version") from None


class _PackagingSettings(BaseSettings):
    """The two settings packaging reads, from the same environment and `.env` as the bot.

    Loading the bot's full :class:`settings.Settings` would demand every production credential
    (Graph secret, group ids, ...), which a packaging step neither has nor needs.
    """

    model_config = Settings.model_config

    bot_mode: Mode = Mode.PRODUCTION
    bot_app_id: str | None = None


def resolve_app_id(app_id: str | None) -> tuple[str, tuple[str, ...]]:
    """The bot app id to package and notes for the user: the argument, else BOT_APP_ID from settings."""
    if app_id is not None:
        return _checked_guid(app_id, "--app-id"), ()
    try:
        settings = _PackagingSettings()
    except ValidationError as err:
        raise BuildError(f"cannot read BOT_MODE/BOT_APP_ID from the settings: {err}") from None
    if settings.bot_app_id:
        return _checked_guid(settings.bot_app_id, "BOT_APP_ID"), ()
    if settings.bot_mode is Mode.SANDBOX:
        return SANDBOX_PLACEHOLDER_APP_ID, (
            f"sandbox mode has no bot app id: using the placeholder {SANDBOX_PLACEHOLDER_APP_ID}. "
            "This package installs but cannot reach a bot; build with --app-id for a real tenant.",
        )
    raise BuildError(
        "no bot app id: pass --app-id GUID or set BOT_APP_ID "
        "(or BOT_MODE=sandbox for a package with a placeholder id)"
    )


def _checked_guid(value: str, name: str) -> str:
    if not GUID.match(value) or value == NIL_GUID:
        raise BuildError(
            f"{name} {value!r} is not a GUID (the Microsoft App ID of the Azure Bot registration)"
        )
    return value


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m manifest.build",
        description="Build the Teams app package (manifest + icons) as a zip.",
    )
    parser.add_argument("--app-id", help="bot app id (Microsoft App ID); default: BOT_APP_ID from settings")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default: {DEFAULT_OUT})"
    )
    parser.add_argument("--package-id", help="manifest id (GUID); default: derived from the app id, stable")
    parser.add_argument("--version", dest="app_version", help="package version X.Y.Z; default: the project's")
    parser.add_argument(
        "--valid-domain",
        action="append",
        default=[],
        metavar="HOST",
        help="add a host to validDomains, e.g. the bot's public host (repeatable)",
    )
    parser.add_argument(
        "--developer-name", default=ManifestValues.developer_name, help="publisher name (<=32)"
    )
    parser.add_argument("--website-url", help="publisher website (https)")
    parser.add_argument("--privacy-url", help="privacy statement (https)")
    parser.add_argument("--terms-url", help="terms of use (https)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    args = _parse_args(argv)
    try:
        app_id, notes = resolve_app_id(args.app_id)
        if args.package_id is not None:
            _checked_guid(args.package_id, "--package-id")
        urls = {"website_url": args.website_url, "privacy_url": args.privacy_url, "terms_url": args.terms_url}
        if not all(urls.values()):
            notes += (
                "developer URLs not given: using example.com placeholders "
                "(--website-url, --privacy-url, --terms-url)",
            )
        values = ManifestValues(
            app_id=app_id,
            version=args.app_version or project_version(),
            package_id=args.package_id,
            valid_domains=tuple(dict.fromkeys(args.valid_domain)),
            developer_name=args.developer_name,
            **{name: url for name, url in urls.items() if url},
        )
        manifest = build_package(values, args.out)
    except InvalidManifestError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {args.out} (app id {app_id}, package id {manifest['id']}, version {manifest['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
