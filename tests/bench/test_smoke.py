"""``python -m bench --quick`` runs every benchmark in a tiny configuration and reports well-formed numbers.

Not a timed assertion: values are checked for shape and internal consistency (finite, positive, a ratio
being the quotient of the figures it is made of), never against the targets.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest

from bench.processes import ROOT

Run = tuple[subprocess.CompletedProcess[str], dict[str, Any]]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    results = json.loads(out.read_text()) if out.exists() else {}
    return done, results


def figures(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["key"]: f for f in results["figures"]}


def value(results: dict[str, Any], key: str) -> float:
    found = figures(results)[key]["value"]
    assert isinstance(found, int | float), f"{key} has no value"
    assert math.isfinite(found), f"{key} is not finite"
    return float(found)


def test_the_quick_run_succeeds(quick_run: Run) -> None:
    done, _ = quick_run
    assert done.returncode == 0, done.stderr[-3000:]


def test_results_name_the_machine(quick_run: Run) -> None:
    machine = quick_run[1]["machine"]
    assert machine["cpu"]
    assert machine["cores"] >= 1
    assert machine["python"].startswith("3.11")
    assert machine["versions"]["botbuilder-core"] == "4.17.1"


def test_results_are_marked_quick(quick_run: Run) -> None:
    assert quick_run[1]["quick"] is True


def test_turn_cost_has_positive_medians_and_p99s(quick_run: Run) -> None:
    results = quick_run[1]
    for key in ("turn.ours.median_ms", "turn.ours.p99_ms", "turn.stock.median_ms", "turn.stock.p99_ms"):
        assert value(results, key) > 0, key


def test_turn_cost_p99_is_not_below_the_median(quick_run: Run) -> None:
    results = quick_run[1]
    for bot in ("ours", "stock"):
        assert value(results, f"turn.{bot}.p99_ms") >= value(results, f"turn.{bot}.median_ms")


def test_turn_ratio_is_ours_over_stock(quick_run: Run) -> None:
    results = quick_run[1]
    expected = value(results, "turn.ours.median_ms") / value(results, "turn.stock.median_ms")
    assert value(results, "turn.ratio.median") == pytest.approx(expected, rel=0.01)


def test_turn_ratio_is_judged_against_its_target(quick_run: Run) -> None:
    ratio = figures(quick_run[1])["turn.ratio.median"]
    assert ratio["target"] == "<= 0.5"
    assert ratio["verdict"] in ("met", "MISSED")


def test_every_conversation_of_the_turn_benchmark_completed(quick_run: Run) -> None:
    assert value(quick_run[1], "turn.failures") == 0, quick_run[1]["details"]["turn"]


def test_the_turn_benchmark_counts_every_measured_activity(quick_run: Run) -> None:
    detail = quick_run[1]["details"]["turn"]
    expected = detail["conversations"] * detail["stepsPerConversation"]
    assert detail["ours"]["serverTime"]["count"] == expected
    assert detail["stock"]["serverTime"]["count"] == expected


def test_every_approve_click_is_timed(quick_run: Run) -> None:
    detail = quick_run[1]["details"]["click"]
    assert detail["clientTime"]["count"] == detail["requests"]
    assert detail["serverTime"]["count"] == detail["requests"]


def test_every_approve_click_was_answered_with_the_card(quick_run: Run) -> None:
    assert value(quick_run[1], "click.failures") == 0, quick_run[1]["details"]["click"]


def test_click_latency_runs_against_a_slow_graph(quick_run: Run) -> None:
    assert quick_run[1]["details"]["click"]["graphSecondsPerCall"] == 2.0
    assert value(quick_run[1], "click.p99_ms") >= value(quick_run[1], "click.p50_ms") > 0


def test_bulk_provisions_every_row_once(quick_run: Run) -> None:
    detail = quick_run[1]["details"]["bulk"]
    assert detail["bulk"]["provisioned"] == detail["rows"]
    assert detail["bulk"]["accountsInTenant"] == detail["rows"]
    assert detail["bulkDuplicates"] == 0


def test_the_sequential_loop_provisions_its_rows(quick_run: Run) -> None:
    detail = quick_run[1]["details"]["bulk"]
    assert detail["sequential"]["provisioned"] == detail["sequentialRows"]
    assert detail["sequential"]["accountsInTenant"] == detail["sequentialRows"]


def test_bulk_speed_up_is_bulk_rate_over_sequential_rate(quick_run: Run) -> None:
    detail = quick_run[1]["details"]["bulk"]
    expected = detail["bulkAccountsPerSecond"] / detail["sequentialAccountsPerSecond"]
    assert value(quick_run[1], "bulk.speed_up") == pytest.approx(expected, rel=0.01)


def test_graph_economy_is_counted_by_the_sandbox(quick_run: Run) -> None:
    detail = quick_run[1]["details"]["bulk"]
    writes = detail["bulk"]["graph"]["writes"]
    assert writes >= 3 * detail["bulk"]["provisioned"]
    assert value(quick_run[1], "graph.writes_per_account") == pytest.approx(writes / detail["rows"], rel=0.01)


def test_startup_time_is_measured(quick_run: Run) -> None:
    assert value(quick_run[1], "startup.seconds") > 0


def test_rss_is_read_after_startup_and_after_each_round(quick_run: Run) -> None:
    detail = quick_run[1]["details"]["memory"]
    assert detail["rssAfterStartupMb"] > 10
    assert len(detail["rssAfterRoundMb"]) == detail["rounds"]
    assert all(rss > 10 for rss in detail["rssAfterRoundMb"])


def test_growth_is_last_round_minus_first(quick_run: Run) -> None:
    rss = quick_run[1]["details"]["memory"]["rssAfterRoundMb"]
    assert value(quick_run[1], "memory.growth_mb") == pytest.approx(rss[-1] - rss[0], abs=0.2)


def test_every_memory_conversation_completed(quick_run: Run) -> None:
    assert value(quick_run[1], "memory.failures") == 0, quick_run[1]["details"]["memory"]


def test_the_table_lists_every_figure(quick_run: Run) -> None:
    done, results = quick_run
    for figure in results["figures"]:
        assert figure["label"] in done.stdout
