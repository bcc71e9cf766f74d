"""The same gateway code, given production settings, builds azure-identity credentials and targets
https://graph.microsoft.com/v1.0; given sandbox settings, a static token and the sandbox. No call
leaves the machine: the wire-level test answers through a transport seam."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.identity.aio import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from provisioning.graph import (
    GRAPH_SCOPE,
    GraphGateway,
    GraphGatewayOptions,
    StaticTokenCredential,
    build_credential,
    create_graph_gateway,
)
from settings import PUBLIC_GRAPH_URL, SANDBOX_GRAPH_URL, Settings, load_settings

PRODUCTION: dict[str, Any] = {
    "bot_app_id": "00000000-0000-0000-0000-0000000000b0",
    "bot_app_password": "not-a-real-secret",
    "bot_app_tenant_id": "11111111-1111-4111-8111-111111111111",
    "allowed_tenant_id": "11111111-1111-4111-8111-111111111111",
    "requesters_group_id": "g1",
    "approvers_group_id": "g2",
    "admins_group_id": "g3",
    "secrets_key": "k" * 44,
    "onboarding_config_path": "config/onboarding.example.toml",
}
GRAPH_APP = {"graph_tenant_id": "11111111-1111-4111-8111-111111111111", "graph_client_id": "graph-app"}


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("BOT_", "GRAPH_", "AZURE_", "IDENTITY_", "MSI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the working tree


def production(**graph: Any) -> Settings:
    return load_settings(**PRODUCTION, **graph)


@pytest.fixture
def certificate_pem(tmp_path: Path) -> Path:
    """A self-signed certificate with its private key, as CertificateCredential reads it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "graph-app")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "graph-app.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path


async def test_client_secret_settings_build_a_client_secret_credential_for_public_graph() -> None:
    gateway = create_graph_gateway(production(**GRAPH_APP, graph_client_secret="s3cr3t-value"))
    try:
        assert isinstance(gateway.credential, ClientSecretCredential)
        assert gateway.base_url == PUBLIC_GRAPH_URL == "https://graph.microsoft.com/v1.0"
    finally:
        await gateway.close()


async def test_certificate_settings_build_a_certificate_credential(certificate_pem: Path) -> None:
    gateway = create_graph_gateway(production(**GRAPH_APP, graph_certificate_path=str(certificate_pem)))
    try:
        assert isinstance(gateway.credential, CertificateCredential)
        assert gateway.base_url == PUBLIC_GRAPH_URL
    finally:
        await gateway.close()


async def test_a_certificate_is_preferred_over_a_secret(certificate_pem: Path) -> None:
    credential = build_credential(
        production(
            **GRAPH_APP, graph_certificate_path=str(certificate_pem), graph_client_secret="s3cr3t-value"
        )
    )
    try:
        assert isinstance(credential, CertificateCredential)
    finally:
        await credential.close()


@pytest.mark.parametrize("client_id", [None, "22222222-2222-4222-8222-222222222222"])
async def test_managed_identity_settings_build_a_managed_identity_credential(client_id: str | None) -> None:
    graph: dict[str, Any] = {"graph_use_managed_identity": True}
    if client_id:
        graph["graph_managed_identity_client_id"] = client_id
    gateway = create_graph_gateway(production(**graph))
    try:
        assert isinstance(gateway.credential, ManagedIdentityCredential)
        assert gateway.base_url == PUBLIC_GRAPH_URL
    finally:
        await gateway.close()


async def test_sandbox_settings_use_a_static_token_and_the_sandbox_url() -> None:
    gateway = create_graph_gateway(load_settings(bot_mode="sandbox"))
    try:
        assert isinstance(gateway.credential, StaticTokenCredential)
        assert gateway.base_url == SANDBOX_GRAPH_URL
    finally:
        await gateway.close()


def test_the_client_secret_is_not_in_the_credentials_repr() -> None:
    credential = build_credential(production(**GRAPH_APP, graph_client_secret="s3cr3t-value"))
    assert "s3cr3t-value" not in repr(credential)


class RecordingCredential:
    """An AsyncTokenCredential that records the scopes it is asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("recorded-token", 2_000_000_000)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> RecordingCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass


async def test_production_requests_go_to_public_graph_with_the_graph_scope() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"value": []})

    credential = RecordingCredential()
    settings = production(**GRAPH_APP, graph_client_secret="s3cr3t-value")
    gateway = GraphGateway(
        settings.effective_graph_base_url,
        credential,
        options=GraphGatewayOptions(max_retries=0),
        transport=httpx.MockTransport(answer),
    )
    try:
        await gateway.list_skus()
    finally:
        await gateway.close()
    [request] = seen
    # No '/v1.0//subscribedSkus': the SDK's trailing-slash pitfall (FACTS.md) is avoided.
    assert str(request.url).split("?")[0] == "https://graph.microsoft.com/v1.0/subscribedSkus"
    assert request.headers["Authorization"] == "Bearer recorded-token"
    assert credential.scopes == [(GRAPH_SCOPE,)]


def test_plain_http_to_a_non_loopback_host_is_refused() -> None:
    with pytest.raises(ValueError, match="loopback"):
        GraphGateway("http://graph.example.com/v1.0", StaticTokenCredential())
