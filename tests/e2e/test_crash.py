"""goroscope on the kernel-written core of an example that crashed with
GOTRACEBACK=crash (SIGABRT), compared with the traceback the runtime printed
to stderr at traceback level 2 (all goroutines, runtime frames shown)."""

from __future__ import annotations

import re
from typing import Optional

import pytest

from .conftest import CrashRun, assert_ok, run_goroscope
from .traceback import Goroutine, compare_dumps, parse_traceback

pytestmark = [pytest.mark.matrix, pytest.mark.crash]


def crashing_goroutine(c: CrashRun) -> Goroutine:
    """The goroutine that crashed: the first [running] one the runtime
    printed (after 'panic: ...'), else the first one that is not an M's g0
    stack (goroutine 0)."""
    for g in c.dump:
        if g.id != 0 and g.base_status == "running" and not g.unavailable:
            return g
    for g in c.dump:
        if g.id != 0:
            return g
    pytest.fail(f"no goroutine found in the crash output of {c.name} (go {c.version}):\n{c.stderr[-3000:]}", pytrace=False)


def test_crash_info(crashed: CrashRun):
    core = crashed.require_core()
    res = run_goroscope("info", "--core", str(core), "--exe", str(crashed.exe))
    assert_ok(res)
    out = res.stdout
    gid = crashing_goroutine(crashed).id
    problems = []
    if "SIGABRT" not in out:
        problems.append("does not mention the signal SIGABRT")
    if not re.search(rf"goroutine[^\n]*?\b{gid}\b", out, re.I):
        problems.append(f"does not mention the crashing goroutine {gid} (on a line that says 'goroutine')")
    if problems:
        pytest.fail(
            "goroscope info on the crash core " + "; ".join(problems) + f"\n{res.describe()}\n--- runtime's crash output (head) ---\n{crashed.stderr[:1500]}",
            pytrace=False,
        )


def test_crash_bt(crashed: CrashRun):
    core = crashed.require_core()
    saved = crashed.rundir / "goroscope-bt.txt"
    res = run_goroscope("bt", "--all", "--system", "--runtime-frames", "--core", str(core), "--exe", str(crashed.exe), save_to=saved)
    assert_ok(res)
    actual = parse_traceback(res.stdout)
    if not actual:
        pytest.fail(f"no goroutine blocks in goroscope's output\n{res.describe()}", pytrace=False)
    crasher = crashing_goroutine(crashed)

    def include(g: Goroutine) -> Optional[str]:
        if g.base_status == "running":
            return "running at the crash"
        return None

    cmp = compare_dumps(
        crashed.dump,
        actual,
        skip={crasher.id: "the crashing goroutine"},
        include=include,
        title="bt --all --system --runtime-frames differs from the runtime's GOTRACEBACK=crash output",
    )
    if not cmp.ok or not cmp.compared:
        pytest.fail(
            (cmp.report or "no goroutine was compared") + f"\n\nexample {crashed.name}, go {crashed.version}\nruntime's output: {crashed.rundir / 'stderr'}\n"
            f"tool output: {saved}\n$ {res.cmd}",
            pytrace=False,
        )
