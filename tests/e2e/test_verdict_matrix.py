"""`deadlocks --json` gives the same verdicts however the program was built
and wherever it is read (issue 10). Every analysis example (bug and
healthy) is built five ways: default, -s -w, -w, PIE and external-link
cgo. Each build is run once with GOTRACEBACK=crash and read three ways:
live, from a gcore core, and from the kernel core the runtime's own crash
(SIGABRT) writes. Each of the fifteen readings must match the example's
ground truth (the checks of test_analysis), and all must agree on every
goroutine's verdict. Goroutines are matched by their role, not their id:
ids can differ between builds.

Stripped builds also show how their runtime globals were found: `info
--json` must locate every one of them (GOMAXPROCS and the Ps included),
where a default build has them from its symbol table."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO, WORK, _enable_core_dumps, find_core_file, go_versions, read_core_pattern
from .test_analysis import ANALYSIS_EXAMPLES, _check_verdicts, _go, _start, _tool
from .variants import VARIANTS, Build

MATRIX_VARIANTS = ("default", "stripped", "nodwarf", "pie", "cgo")
CRASH_WAIT = 60


# Go 1.26 has the goroutineleak profile only under this experiment (1.27
# always): one more build there, so the runtime's verdicts are the oracle on
# both releases.
LEAK_EXPERIMENT = "goroutineleakprofile"


def _variants(version: str) -> tuple[str, ...]:
    return MATRIX_VARIANTS + (("leakprofile",) if version.startswith("1.26.") else ())


def _build(version: str, name: str, variant: str) -> Path:
    experiment = variant == "leakprofile"
    b = Build(name, VARIANTS["default" if experiment else variant])
    out = WORK / version / "matrix" / (f"{name}-leakprofile" if experiment else b.id)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOPROXY="off", GOWORK="off", **b.env())
    if experiment:
        env["GOEXPERIMENT"] = LEAK_EXPERIMENT
    subprocess.run([_go(version), *b.go_build_args(out)], cwd=REPO / "examples" / name, env=env, check=True, capture_output=True)
    return out


def _by_role(doc: dict, truth: dict) -> dict[str, str]:
    roles = {g["id"]: g["role"] for g in truth["goroutines"]}
    return {roles[g["id"]]: g["verdict"] for g in doc["goroutines"] if g["id"] in roles}


def _readings(exe: Path) -> tuple[dict, dict[str, tuple[subprocess.CompletedProcess, Path | None]]]:
    """Runs exe once; returns its truth and the three `deadlocks --json`
    results (live, gcore, crash core), and `info --json` (live)."""
    out: dict[str, tuple[subprocess.CompletedProcess, Path | None]] = {}
    workdir = exe.parent / (exe.name + ".cores")
    workdir.mkdir(exist_ok=True)
    for stale in workdir.glob("core*"):
        stale.unlink()
    env = dict(os.environ, GOTRACEBACK="crash")
    proc, truth = _start(exe, cwd=workdir, env=env, preexec_fn=_enable_core_dumps)
    gcore_path = None
    try:
        out["live"] = (_tool("deadlocks", "--json", "--pid", str(proc.pid)), None)
        out["info"] = (_tool("info", "--json", "--pid", str(proc.pid)), None)
        prefix = workdir / "gcore"
        subprocess.run(["gcore", "-o", str(prefix), str(proc.pid)], capture_output=True, timeout=120, check=True)
        gcore_path = Path(f"{prefix}.{proc.pid}")
        out["gcore"] = (_tool("deadlocks", "--json", "--core", str(gcore_path), "--exe", str(exe)), gcore_path)
        gcore_path.unlink(missing_ok=True)
        os.kill(proc.pid, signal.SIGABRT)
        proc.wait(timeout=CRASH_WAIT)
        crash = find_core_file(workdir, proc.pid, exe)
        assert crash is not None, f"no core from the GOTRACEBACK=crash abort of {exe} in {workdir}"
        out["crash"] = (_tool("deadlocks", "--json", "--core", str(crash), "--exe", str(exe)), crash)
        crash.unlink(missing_ok=True)
    finally:
        if gcore_path is not None:
            gcore_path.unlink(missing_ok=True)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return truth, out


@pytest.mark.parametrize("version", go_versions())
@pytest.mark.parametrize("name", ANALYSIS_EXAMPLES)
def test_verdicts_identical_across_builds_and_targets(version: str, name: str):
    if read_core_pattern().startswith("|"):
        pytest.skip(f"kernel.core_pattern pipes cores to a program ({read_core_pattern()})")
    seen: dict[str, dict[str, str]] = {}
    oracle_runs = 0
    for variant in _variants(version):
        exe = _build(version, name, variant)
        truth, readings = _readings(exe)
        leaks = exe.with_suffix(".stacks.leaks")
        runtime_leaked = _runtime_leaked(leaks) if leaks.exists() else None
        for target, (res, _) in readings.items():
            if target == "info":
                continue
            where = f"{variant} build, {target}"
            try:
                _check_verdicts(name, exe, res, truth)
                if runtime_leaked is not None:
                    _check_against_runtime(version, json.loads(res.stdout), truth, runtime_leaked)
            except AssertionError as e:
                raise AssertionError(f"{where}: {e}") from None
            oracle_runs += runtime_leaked is not None
            seen[where] = _by_role(json.loads(res.stdout), truth)
        if variant == "stripped":
            _check_stripped_globals(exe, readings["info"][0])
    if version.startswith(("1.26.", "1.27.")):
        assert oracle_runs, "no goroutineleak profile was written"
    first, want = next(iter(seen.items()))
    diffs = [
        f"{where}: {role}: {verdicts.get(role)} (vs {want[role]} in {first})"
        for where, verdicts in seen.items()
        for role in want
        if verdicts.get(role) != want[role]
    ]
    assert not diffs, "verdicts differ:\n" + "\n".join(diffs)


_HEADER = re.compile(r"^goroutine (\d+) \[([^\]]*)\]:$", re.M)


def _runtime_leaked(path: Path) -> dict[int, str]:
    """The goroutines the runtime's goroutineleak profile (debug=2: every
    stack, after a leak-detecting GC) calls leaked: id -> header state."""
    return {int(m[1]): m[2] for m in _HEADER.finditer(path.read_text()) if "(leaked)" in m[2]}


def _check_against_runtime(version: str, doc: dict, truth: dict, runtime_leaked: dict[int, str]) -> None:
    """Every goroutine the runtime calls leaked is leaked (or deadlocked)
    here; goroscope calls no other goroutine leaked unless the ground truth
    says why the runtime cannot see it (`beyond_runtime`)."""
    ours = {g["id"]: g for g in doc["goroutines"]}
    truth_by_id = {g["id"]: g for g in truth["goroutines"]}
    stuck = {"leaked", "deadlocked"}
    problems = []
    for gid, state in sorted(runtime_leaked.items()):
        # Go 1.26 still reports main in select {}; 1.27 exempts it, and so
        # does goroscope on every release.
        if gid == 1 and state.startswith("select (no cases)") and version.startswith("1.26."):
            continue
        v = ours.get(gid, {}).get("verdict")
        if v not in stuck:
            problems.append(f"runtime: goroutine {gid} [{state}] leaked; goroscope: {v} ({ours.get(gid, {}).get('reason')})")
    for gid, g in sorted(ours.items()):
        if g["verdict"] in stuck and gid not in runtime_leaked:
            t = truth_by_id.get(gid)
            if not (t and t["expect"] in stuck and t.get("beyond_runtime")):
                problems.append(f"goroscope: goroutine {gid} {g['verdict']} ({g['reason']}); runtime: not leaked; truth: {t}")
    assert not problems, "goroscope and the runtime's goroutineleak profile differ:\n" + "\n".join(problems)


def _check_stripped_globals(exe: Path, res: subprocess.CompletedProcess) -> None:
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    missing = [g for g in info["runtime_globals"] if g["address"] is None]
    assert not missing, f"runtime globals not found in {exe.name}: {missing}"
    assert {g["found_by"] for g in info["runtime_globals"]} == {"discovered"}
    cpus = len(os.sched_getaffinity(0))
    assert info["ps"] == info["gomaxprocs"] and 1 <= info["gomaxprocs"] <= cpus, info
