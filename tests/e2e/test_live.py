"""goroscope attached to a running example (--pid), compared with the Go
runtime's own dump; the process must be left running and untraced."""

from __future__ import annotations

import time

import pytest

from .checks import check_bt_against_dump
from .conftest import RunningExample, process_trace_state, run_goroscope

pytestmark = [pytest.mark.matrix, pytest.mark.live]


def _left_alone_problems(r: RunningExample) -> list[str]:
    """Wait up to 2 s for every thread of the example to be running and
    untraced; return what is still wrong."""
    deadline = time.monotonic() + 2.0
    while True:
        if not r.alive():
            return [f"example {r.name} (pid {r.pid}) died (exit {r.proc.returncode})"]
        problems = process_trace_state(r.pid)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.1)


def test_live_bt(running: RunningExample):
    if not running.alive():
        pytest.fail(f"example {running.name} (pid {running.pid}) is no longer running (exit {running.proc.returncode})", pytrace=False)
    saved = running.stacks_path.parent / f"{running.name}.live-bt.txt"
    res = run_goroscope("bt", "--all", "--pid", str(running.pid), save_to=saved)
    failure = None
    try:
        check_bt_against_dump(running, res, saved, "live")
    except pytest.fail.Exception as e:
        failure = e
    problems = _left_alone_problems(running)
    if problems:
        msg = f"after `{res.cmd}` the process was not left alone:\n  " + "\n  ".join(problems)
        if failure is not None:
            msg += f"\n\n(and the comparison failed too:)\n{failure}"
        pytest.fail(msg, pytrace=False)
    if failure is not None:
        raise failure
