"""State persistence (atomic JSON under the data dir), reset, and the ``python -m sandbox`` CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from sandbox.__main__ import main
from sandbox.persistence import load_or_seed, reset, save, state_file
from sandbox.seed import REMOTE_ASSIST_SKU_ID, seed_snapshot
from sandbox.testing import running_sandbox
from tests.sandbox.conftest import STRONG_PASSWORD, make_client, new_user


async def test_state_survives_a_restart(tmp_path: Path):
    path = state_file(tmp_path)
    tenant = load_or_seed(path)
    async with running_sandbox(tenant, data_file=path) as sb:
        client = make_client(sb.base_url)
        created = await client.users.post(new_user("persisted", company_name="Contoso"))
        assert created is not None
        assert created.id is not None
        from msgraph.generated.models.assigned_license import AssignedLicense
        from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
            AssignLicensePostRequestBody,
        )

        await client.users.by_user_id(created.id).assign_license.post(
            AssignLicensePostRequestBody(
                add_licenses=[AssignedLicense(sku_id=uuid.UUID(REMOTE_ASSIST_SKU_ID))], remove_licenses=[]
            )
        )
    reloaded = load_or_seed(path)
    assert reloaded.find_user("persisted@abc.com")["companyName"] == "Contoso"
    assert reloaded.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)


async def test_saved_state_never_holds_a_password(tmp_path: Path):
    path = state_file(tmp_path)
    async with running_sandbox(load_or_seed(path), data_file=path) as sb:
        await make_client(sb.base_url).users.post(new_user("secretive"))
    assert STRONG_PASSWORD not in path.read_text()


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path):
    path = state_file(tmp_path)
    tenant = load_or_seed(path)
    save(tenant, path)
    assert [p.name for p in tmp_path.iterdir()] == ["sandbox-tenant.json"]
    assert json.loads(path.read_text())["tenantId"] == tenant.tenant_id


def test_missing_file_starts_from_the_seed_and_writes_it(tmp_path: Path):
    path = state_file(tmp_path / "nested")
    tenant = load_or_seed(path)
    assert path.exists()
    assert tenant.snapshot() == seed_snapshot()


def test_reset_restores_the_seed(tmp_path: Path):
    path = state_file(tmp_path)
    tenant = load_or_seed(path)
    tenant.set_prepaid_units("SPE_E5", 0)
    save(tenant, path)
    reset(path)
    assert load_or_seed(path).seats("SPE_E5") == (0, 10)


def test_cli_reset_command(tmp_path: Path):
    path = state_file(tmp_path)
    tenant = load_or_seed(path)
    tenant.set_prepaid_units("SPE_E5", 1)
    save(tenant, path)
    assert main(["reset", "--data-dir", str(tmp_path)]) == 0
    assert json.loads(path.read_text()) == json.loads(json.dumps(seed_snapshot()))


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])  # noqa: S104 - refused, never bound
def test_cli_refuses_a_non_loopback_host(tmp_path: Path, host: str, capsys):
    assert main(["--host", host, "--data-dir", str(tmp_path)]) == 2
    assert "loopback only" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_python_m_sandbox_serves_graph_and_logs_where(tmp_path: Path):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        answer = None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/v1.0/organization",
                    headers={"Authorization": "Bearer t"},
                    timeout=1,
                )
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer is not None, "the sandbox did not start"
        assert answer.json()["value"][0]["displayName"] == "ABC Corp"
        assert httpx.get(f"http://127.0.0.1:{port}/_sandbox/faults", timeout=1).status_code == 404
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/v1.0" in output
    assert "control endpoint disabled" in output
