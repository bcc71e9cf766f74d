"""py-spy's collapsed stacks, and who owns a sample: ours, the framework's, or a helper's caller."""

import sysconfig
from pathlib import Path

from bench.processes import ROOT
from bench.profile import SQLALCHEMY_GREENLET, Attribution, Frame, group_of, owner_of, parse_collapsed

SITE = "/venv/lib/python3.11/site-packages"
STDLIB = sysconfig.get_paths()["stdlib"]
STDLIB_COPY = f"{STDLIB}/copy.py"
STDLIB_SELECTORS = f"{STDLIB}/selectors.py"


def frame(function: str, file: str) -> Frame:
    return Frame(function, file, 1)


def test_a_helper_called_by_the_framework_is_the_frameworks() -> None:
    stack = [
        frame("on_turn", f"{ROOT}/bot/handler.py"),
        frame("send_activities", f"{SITE}/botbuilder/core/turn_context.py"),
        frame("deepcopy", STDLIB_COPY),
    ]
    assert owner_of(stack) == "botbuilder"


def test_a_library_called_by_our_code_is_ours() -> None:
    stack = [
        frame("process", f"{SITE}/botbuilder/integration/aiohttp/cloud_adapter.py"),
        frame("help_card", f"{ROOT}/cards/help.py"),
        frame("__init__", f"{SITE}/pydantic/main.py"),
    ]
    assert owner_of(stack) == "cards"
    assert group_of(owner_of(stack)) == "ours"


def test_a_greenlet_stack_cut_inside_sqlalchemy_counts_for_storage() -> None:
    stack = [
        frame("execute", f"{SITE}/sqlalchemy/engine/base.py"),
        frame("_execute", f"{SITE}/aiosqlite/core.py"),
    ]
    assert owner_of(stack) == SQLALCHEMY_GREENLET
    assert group_of(SQLALCHEMY_GREENLET) == "ours"


def test_collapsed_lines_are_parsed_into_threads_frames_and_counts() -> None:
    text = (
        f"thread (12): MainThread;run (/x/runners.py:10);on_turn ({ROOT}/bot/handler.py:104) 7\n"
        f"thread (13): ThreadPoolExecutor-0_1;_worker (/x/thread.py:83) 3\n"
    )
    stacks = list(parse_collapsed(text))
    assert [(s.thread, len(s.frames), s.count) for s in stacks] == [
        ("MainThread", 2, 7),
        ("ThreadPoolExecutor-0_1", 1, 3),
    ]


def test_attribution_separates_the_event_loop_from_other_threads() -> None:
    text = (
        f"thread (12): MainThread;on_turn ({ROOT}/bot/handler.py:104) 4\n"
        f"thread (13): ThreadPoolExecutor-0_1;_worker (/x/thread.py:83) 3\n"
    )
    found = Attribution.of(parse_collapsed(text))
    assert (found.loop_samples, found.by_owner["bot"]) == (4, 4)
    assert found.other_threads == {"ThreadPoolExecutor": 3}


def test_an_event_loop_waiting_in_its_selector_is_idle() -> None:
    text = (
        f"thread (12): MainThread;run_forever (/x/base_events.py:607);"
        f"select ({Path(STDLIB_SELECTORS)}:468) 9\n"
        f"thread (12): MainThread;on_turn ({ROOT}/bot/handler.py:104) 1\n"
    )
    found = Attribution.of(parse_collapsed(text))
    assert (found.idle_samples, found.loop_samples) == (9, 1)
