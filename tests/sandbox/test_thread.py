"""SandboxThread: the sandbox on its own loop in a background thread."""

from __future__ import annotations

from sandbox.testing import SandboxThread
from tests.sandbox.conftest import make_client, new_user


async def test_sdk_on_this_loop_talks_to_the_sandbox_thread():
    with SandboxThread() as sb:
        client = make_client(sb.base_url)
        created = await client.users.post(new_user("threaded"))
        assert created is not None
        assert created.id is not None
        with sb.tenant.lock:
            assert sb.tenant.users[created.id]["userPrincipalName"] == "threaded@abc.com"
        assert sb.base_url == f"http://127.0.0.1:{sb.port}/v1.0"


def test_stop_is_idempotent():
    sb = SandboxThread().start()
    sb.stop()
    sb.stop()
