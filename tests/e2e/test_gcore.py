"""goroscope on a core taken with gcore from a running example, compared with
the Go runtime's own runtime.Stack(all) dump written just before."""

from __future__ import annotations

import pytest

from .checks import check_bt_against_dump, check_json_against_dump
from .conftest import RunningExample, assert_ok, run_goroscope
from .traceback import compare_goroutine, diff_blocks, parse_traceback

pytestmark = [pytest.mark.matrix, pytest.mark.gcore]


def test_gcore_info(running: RunningExample):
    core = running.require_core()
    res = run_goroscope("info", "--core", str(core), "--exe", str(running.exe))
    assert_ok(res)
    assert res.stdout.strip(), f"goroscope info printed nothing:\n{res.describe()}"


def test_gcore_bt(running: RunningExample):
    core = running.require_core()
    saved = core.parent / f"{running.name}.gcore-bt.txt"
    res = run_goroscope("bt", "--all", "--core", str(core), "--exe", str(running.exe), save_to=saved)
    check_bt_against_dump(running, res, saved, "gcore")


def test_gcore_goroutines_json(running: RunningExample, go_version: str):
    core = running.require_core()
    saved = core.parent / f"{running.name}.gcore-goroutines.json.txt"
    res = run_goroscope("goroutines", "--json", "--core", str(core), "--exe", str(running.exe), save_to=saved)
    check_json_against_dump(running, res, saved, go_version)


def test_gcore_bt_one(running: RunningExample):
    """`bt ID` prints just that goroutine, as in `bt --all`."""
    core = running.require_core()
    wid = running.writer_id
    ids = [g.id for g in running.dump if g.id != wid and not g.unavailable][:3]
    if not ids:
        pytest.fail(f"no goroutine to look at in {running.stacks_path}", pytrace=False)
    for gid in ids:
        saved = core.parent / f"{running.name}.gcore-bt-{gid}.txt"
        res = run_goroscope("bt", str(gid), "--core", str(core), "--exe", str(running.exe), save_to=saved)
        assert_ok(res)
        blocks = parse_traceback(res.stdout)
        if [g.id for g in blocks] != [gid]:
            pytest.fail(
                f"`bt {gid}` should print exactly goroutine {gid}, got {[g.id for g in blocks]}\n{res.describe()}",
                pytrace=False,
            )
        expected = next(g for g in running.dump if g.id == gid)
        problems = compare_goroutine(expected, blocks[0])
        if problems:
            pytest.fail(
                f"`bt {gid}` differs from Go's dump:\n  * "
                + "\n  * ".join(problems)
                + "\n"
                + diff_blocks(expected, blocks[0])
                + f"\n\nGo's dump: {running.stacks_path}\ntool output: {saved}",
                pytrace=False,
            )


@pytest.mark.parametrize(
    "argv",
    [["goroutines"], ["goroutines", "--all"], ["goroutines", "--group"], ["goroutines", "--json", "--all"]],
    ids=["plain", "all", "group", "json-all"],
)
def test_gcore_goroutines_views(running: RunningExample, argv: list[str]):
    """The other `goroutines` views run cleanly and print something."""
    core = running.require_core()
    res = run_goroscope(*argv, "--core", str(core), "--exe", str(running.exe))
    assert_ok(res)
    assert res.stdout.strip(), f"no output:\n{res.describe()}"
