"""Shared fixtures: the official schema from node_modules (skip with a reason when it is absent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from manifest.build import ManifestValues, icon_files, render_manifest
from manifest.validate import SCHEMA_ROOT, SchemaUnavailableError, load_schema, schema_file_for

APP_ID = "3f2b8c1e-1111-4222-8333-944455556666"


@pytest.fixture
def values() -> ManifestValues:
    return ManifestValues(app_id=APP_ID, version="1.2.3", valid_domains=("bot.contoso.com",))


@pytest.fixture
def manifest(values: ManifestValues) -> dict[str, Any]:
    """A freshly rendered manifest; tests may mutate it."""
    return render_manifest(values)


@pytest.fixture
def icons() -> dict[str, bytes]:
    return icon_files()


@pytest.fixture
def schema_root() -> Path:
    if not SCHEMA_ROOT.is_dir():
        reason = f"node_modules absent ({SCHEMA_ROOT}): run `npm ci` to get @microsoft/app-manifest's schemas"
        print(reason)
        pytest.skip(reason)
    return SCHEMA_ROOT


@pytest.fixture
def schema(manifest: dict[str, Any], schema_root: Path) -> dict[str, Any]:
    """The official schema the rendered manifest's ``$schema`` names."""
    try:
        return load_schema(schema_file_for(manifest, schema_root))
    except SchemaUnavailableError as err:
        print(err)
        pytest.skip(str(err))
