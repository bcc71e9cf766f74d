"""`make run`: the sandbox tenant, the bot in sandbox mode and the Agents Playground, together.

Starts the three as child processes (each in its own process group), waits until each answers, prints
what to open, and on Ctrl-C (or when any of them dies) stops all of them by PID. Nothing is started when
one of the ports is already taken, so running it twice is safe: the second run says what is in the way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SANDBOX_PORT, BOT_PORT, PLAYGROUND_PORT, APPROVER_PLAYGROUND_PORT = 3979, 3978, 56150, 56151
PLAYGROUNDS = (
    ("Agents Playground", PLAYGROUND_PORT, ".m365agentsplayground.yml", "playground"),
    (
        "approver's Agents Playground",
        APPROVER_PLAYGROUND_PORT,
        "adam.m365agentsplayground.yml",
        "playground-adam",
    ),
)
PLAYGROUND_CLI = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(url: str, name: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - fixed loopback URL
                if response.status < 500:
                    return
        except urllib.error.HTTPError as answer:
            if answer.code < 500:  # it answers (the sandbox wants a token: 401 means it is up)
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f} s")


def start(
    name: str, args: list[str], *, env: dict[str, str], cwd: Path, log: Path
) -> subprocess.Popen[bytes]:
    print(f"  starting {name} (log: {log.relative_to(ROOT)})", flush=True)
    handle = log.open("ab")
    return subprocess.Popen(  # noqa: S603 - fixed argument lists
        args,
        cwd=cwd,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(processes: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _name, process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for name, process in reversed(processes):
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        print(f"  stopped {name} (pid {process.pid})", flush=True)


def main() -> int:
    ports = (
        ("sandbox", SANDBOX_PORT),
        ("bot", BOT_PORT),
        ("Playground", PLAYGROUND_PORT),
        ("approver's Playground", APPROVER_PLAYGROUND_PORT),
    )
    busy = [f"{name} port {port}" for name, port in ports if port_in_use(port)]
    if busy:
        print(
            "Not starting: already in use: " + ", ".join(busy) + ".\n"
            "Is `make run` already running in another terminal? Stop it with Ctrl-C there.",
            file=sys.stderr,
        )
        return 1
    if not PLAYGROUND_CLI.exists():
        print("The Agents Playground is not installed; run `make setup` (npm ci).", file=sys.stderr)
        return 1
    data = ROOT / "data"
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    bot_env = {**env, "BOT_MODE": "sandbox", "BOT_HOST": "127.0.0.1", "BOT_PORT": str(BOT_PORT)}
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    print("Starting the vendor onboarding bot in sandbox mode:", flush=True)
    try:
        sandbox = start(
            "sandbox tenant",
            [PYTHON, "-m", "sandbox", "--port", str(SANDBOX_PORT)],
            env=env,
            cwd=ROOT,
            log=logs / "sandbox.log",
        )
        processes.append(("sandbox tenant", sandbox))
        wait_for(f"http://127.0.0.1:{SANDBOX_PORT}/v1.0/organization", "the sandbox tenant", sandbox)
        bot = start("bot", [PYTHON, "app.py"], env=bot_env, cwd=ROOT, log=logs / "bot.log")
        processes.append(("bot", bot))
        wait_for(f"http://127.0.0.1:{BOT_PORT}/healthz", "the bot", bot)
        # Two Playgrounds on the same bot: Alice (requester) and Adam (approver, administrator). Each
        # writes its devTools logs into its working folder.
        for name, port, config, folder in PLAYGROUNDS:
            (data / folder).mkdir(parents=True, exist_ok=True)
            playground = start(
                name,
                [
                    "node",
                    str(PLAYGROUND_CLI),
                    "-e",
                    f"http://127.0.0.1:{BOT_PORT}/api/messages",
                    "-c",
                    "msteams",
                    "--dt",
                    "-p",
                    str(port),
                ],
                env={
                    **env,
                    "TEAMSAPPTESTER_BROWSER": "none",
                    "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(ROOT / "playground" / config),
                },
                cwd=data / folder,
                log=logs / f"{folder}.log",
            )
            processes.append((name, playground))
            wait_for(f"http://127.0.0.1:{port}/_debug/ping", f"the {name}", playground)
        print(
            "\nReady.\n"
            f"  Open the Agents Playground:  http://127.0.0.1:{PLAYGROUND_PORT}  (you are Alice Requester;"
            " type `help`, then `onboard`)\n"
            f"  ...and as the approver:      http://127.0.0.1:{APPROVER_PLAYGROUND_PORT}  (Adam Approver;"
            " first, in IT Admins > Vendor approvals, post `@Vendor Onboarding approvals here`)\n"
            f"  Bot health:                  http://127.0.0.1:{BOT_PORT}/healthz\n"
            f"  Sandbox tenant (Graph v1.0): http://127.0.0.1:{SANDBOX_PORT}/v1.0/users\n"
            f"  Logs:                        {logs.relative_to(ROOT)}/\n"
            "Press Ctrl-C to stop everything.",
            flush=True,
        )
        while True:
            for name, process in processes:
                if process.poll() is not None:
                    print(
                        f"\n{name} exited with status {process.returncode}; stopping the rest "
                        f"(see {logs.relative_to(ROOT)}/).",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    except RuntimeError as err:
        print(f"\n{err}; stopping (see {logs.relative_to(ROOT)}/).", file=sys.stderr)
        return 1
    finally:
        stop(processes)


if __name__ == "__main__":
    raise SystemExit(main())
