"""The executable is not where the core says, or is another build.

1. A gcore core of cms (default, stripped and PIE builds), then the
   executable is moved away: `info --core CORE` and `goroutines --core CORE`
   without --exe must either work (gcore may keep enough of the text and
   rodata in the core) and then be right, or fail with a message naming the
   missing executable; never a Rust panic (exit 101, "panicked at").
2. `--exe` pointing at another build of the same program (cms relinked
   with an extra -ldflags=-X, so only its build ids differ) must be refused
   with a message that quotes both build ids.
"""

from __future__ import annotations

import shutil

import pytest

from . import elfinfo
from .checks import check_json_against_dump
from .conftest import GoEnv, RunningExample, _harness, assert_clean_error, assert_no_panic, run_goroscope
from .variants import Build

pytestmark = [pytest.mark.matrix, pytest.mark.missing_exe]


@pytest.mark.builds(examples=("cms",), variants=("default", "stripped", "pie"))
@pytest.mark.parametrize("argv", [["info"], ["goroutines"], ["goroutines", "--json"]], ids=["info", "goroutines", "goroutines-json"])
def test_core_without_exe(goenv: GoEnv, example: Build, go_version: str, argv: list[str]):
    def make():
        """One core per build, shared by the three commands: the build is
        copied to its own directory, run from there, cored, stopped; then
        the copy is moved away."""
        exe = goenv.build(example)
        d = goenv.workdir / f"{example.id}-noexe"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        copy = d / example.example
        shutil.copy2(exe, copy)
        goenv.own(example, d)
        r = goenv.launch(example, copy, d, "noexe")
        goenv.stop_process(r)
        moved = d / "moved-away"
        moved.mkdir()
        copy.rename(moved / copy.name)
        return r, copy

    r, gone = _harness(lambda: goenv.memo(("noexe", example.id), make))
    core = r.require_core()
    assert not gone.exists()
    saved = core.parent / f"noexe-{'-'.join(a.strip('-') for a in argv)}.txt"
    res = run_goroscope(*argv, "--core", str(core), save_to=saved)
    assert_no_panic(res)
    context = (
        f"\n\n{example.describe()}, go {go_version}: the core records the executable {gone}, which was moved away "
        f"before running goroscope (no --exe).\nGo's dump: {r.stacks_path}\ntool output: {saved}"
    )
    if res.returncode != 0:
        # Failing is fine, if the message says what is missing.
        named = str(gone) in res.stderr
        if not res.stderr.strip() or not named:
            pytest.fail(
                f"goroscope failed without naming the missing executable {gone} on stderr:\n{res.describe()}{context}",
                pytrace=False,
            )
        return
    # It worked: then it must be right.
    if argv == ["info"]:
        if f"go{go_version}" not in res.stdout:
            pytest.fail(f"`info` without the executable does not report go{go_version}:\n{res.describe()}{context}", pytrace=False)
    elif argv == ["goroutines"]:
        if not res.stdout.strip():
            pytest.fail(f"`goroutines` without the executable printed nothing:\n{res.describe()}{context}", pytrace=False)
    else:
        check_json_against_dump(r, res, saved, go_version)


@pytest.mark.builds(examples=("cms",), variants=("default", "stripped"))
@pytest.mark.parametrize("argv", [["info"], ["goroutines"]], ids=["info", "goroutines"])
def test_exe_of_another_build(goenv: GoEnv, running: RunningExample, example: Build, go_version: str, argv: list[str]):
    core = running.require_core()

    def rebuild():
        other = goenv.workdir / f"{example.id}-otherbuild-{go_version}"
        goenv.build_to(example, other, extra_ldflags=("-X", "main.goroscopeTestBuild=other"))
        return other

    other = _harness(lambda: goenv.memo(("otherbuild", example.id), rebuild))
    mine, theirs = elfinfo.read(running.exe), elfinfo.read(other)
    if set(mine.ids()) & set(theirs.ids()) or not mine.ids() or not theirs.ids():
        pytest.fail(
            f"harness: the rebuilt binary does not have different build ids, the test cannot work:\n  {mine.describe()}\n  {theirs.describe()}",
            pytrace=False,
        )
    res = run_goroscope(*argv, "--core", str(core), "--exe", str(other))
    assert_clean_error(res)
    missing = []
    for who, info in (("the core's executable", mine), ("--exe", theirs)):
        if not any(i in res.stderr for i in info.ids()):
            missing.append(f"{who} ({' or '.join(info.ids())})")
    if missing:
        pytest.fail(
            "goroscope refused the other build but its message does not quote the build id of "
            + " nor of ".join(missing)
            + f":\n{res.describe()}\n\ncore of {running.exe}; --exe {other}\n  {mine.describe()}\n  {theirs.describe()}",
            pytrace=False,
        )
