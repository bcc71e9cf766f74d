"""Figures, the printed table, and ``bench/results.json``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions the results record (the ones the figures depend on).
VERSIONED = (
    "botbuilder-core",
    "botbuilder-dialogs",
    "botbuilder-integration-aiohttp",
    "botframework-connector",
    "msrest",
    "aiohttp",
    "msgraph-sdk",
    "msgraph-core",
    "httpx",
    "SQLAlchemy",
    "aiosqlite",
    "pydantic",
)


class Verdict(StrEnum):
    MET = "met"
    MISSED = "MISSED"
    INFO = ""


@dataclass(frozen=True)
class Figure:
    """One line of the table: a measured value, its target and whether the target is met."""

    key: str
    label: str
    value: float | None
    unit: str
    target: str = ""
    verdict: Verdict = Verdict.INFO

    def shown_value(self) -> str:
        if self.value is None:
            return "n/a"
        if self.unit == "x":
            return f"{self.value:.2f}"
        if not self.unit and float(self.value).is_integer():
            return str(int(self.value))
        magnitude = abs(self.value)
        digits = 0 if magnitude >= 1000 else 1 if magnitude >= 100 else 2
        return f"{self.value:.{digits}f} {self.unit}".rstrip()


def judged(key: str, label: str, value: float, unit: str, *, target: str, met: bool) -> Figure:
    """A figure with a target."""
    return Figure(key, label, round(value, 4), unit, target, Verdict.MET if met else Verdict.MISSED)


def info(key: str, label: str, value: float | None, unit: str) -> Figure:
    """A figure without a target (context for the judged ones)."""
    return Figure(key, label, None if value is None else round(value, 4), unit)


def table(figures: list[Figure]) -> str:
    """The figures as a fixed-width text table."""
    rows = [("figure", "value", "target", "verdict")] + [
        (f.label, f.shown_value(), f.target, f.verdict.value) for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` ("unknown" elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 0)
    except OSError:
        pass
    return None


def _git_commit(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - read-only, git from PATH
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def machine(root: Path) -> dict[str, Any]:
    """Where the figures came from: CPU, cores, memory, OS, Python, library versions, commit."""
    versions: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memoryMb": _memory_total_mb(),
        "loadAverage": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "commit": _git_commit(root),
    }


def write_results(
    path: Path,
    *,
    figures: list[Figure],
    details: dict[str, Any],
    started: datetime,
    seconds: float,
    quick: bool,
    root: Path,
) -> dict[str, Any]:
    """Write ``results.json`` and return what was written."""
    document = {
        "startedAt": started.astimezone(UTC).isoformat(),
        "durationSeconds": round(seconds, 1),
        "quick": quick,
        "machine": machine(root),
        "figures": [asdict(f) | {"verdict": f.verdict.value or None} for f in figures],
        "details": details,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return document
