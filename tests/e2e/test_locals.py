"""`goroscope locals ID`: a goroutine's parameters and locals from the
binary's DWARF variable locations, printed as fmt prints them, on cores and
live processes of examples/lockorder for every Go release, and through
LLDB's `go locals` (LLDB cannot read Go variables itself). The expected
values are the literal arguments main passes (`go transfer("alice", "bob",
30)`, `go monthlyStatement("alice")`, `go quote("premium")`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import go_versions
from .test_analysis import _build, _running, _tool

# role prefix in lockorder's ground truth → (function, {argument: value})
EXPECTED = {
    "transfer": ("main.transfer", {"from": "alice", "to": "bob", "amount": "30"}),
    "monthlyStatement": ("main.monthlyStatement", {"customer": "alice"}),
    "quote": ("main.quote", {"product": "premium"}),
}


def _ids(truth: dict) -> dict[str, int]:
    return {g["role"].split(":")[0]: g["id"] for g in truth["goroutines"] if g["role"].split(":")[0] in EXPECTED}


def _check(doc: dict, role: str, where: str) -> None:
    func, args = EXPECTED[role]
    frames = [f for f in doc["frames"] if f["function"] == func]
    assert frames, f"{where}: no {func} frame in {doc}"
    got = {v["name"]: v["value"] for v in frames[0]["vars"] if v["arg"] and not v.get("unavailable")}
    for name, value in args.items():
        assert got.get(name) == value, f"{where}: {func} argument {name} = {got.get(name)!r}, expected {value!r} ({frames[0]})"


@pytest.mark.parametrize("version", go_versions())
def test_locals_show_the_arguments_main_passed(version: str):
    exe = _build(version, "lockorder")
    with _running(exe) as (proc, truth):
        ids = _ids(truth)
        assert set(ids) == set(EXPECTED), ids
        core = exe.with_suffix(f".locals.{proc.pid}")
        live = {role: _tool("locals", str(i), "--json", "--pid", str(proc.pid)) for role, i in ids.items()}
        subprocess.run(["gcore", "-o", str(exe.with_suffix(".locals")), str(proc.pid)], capture_output=True, timeout=120, check=True)
    try:
        for role, res in live.items():
            assert res.returncode == 0, res.stderr
            _check(json.loads(res.stdout), role, f"live goroutine {ids[role]}")
        texts = {}
        for role, i in ids.items():
            res = _tool("locals", str(i), "--json", "--core", str(core), "--exe", str(exe))
            assert res.returncode == 0, res.stderr
            _check(json.loads(res.stdout), role, f"core goroutine {i}")
            text = _tool("locals", str(i), "--core", str(core), "--exe", str(exe))
            assert text.returncode == 0 and f"arg {next(iter(EXPECTED[role][1]))} " in text.stdout, text.stdout
            texts[role] = text.stdout
        # One frame by number, and a number past the last frame.
        doc = json.loads(_tool("locals", str(ids["transfer"]), "--json", "--core", str(core), "--exe", str(exe)).stdout)
        n = next(f["index"] for f in doc["frames"] if f["function"] == "main.transfer")
        one = json.loads(_tool("locals", str(ids["transfer"]), "--frame", str(n), "--json", "--core", str(core), "--exe", str(exe)).stdout)
        assert [f["function"] for f in one["frames"]] == ["main.transfer"]
        past = _tool("locals", str(ids["transfer"]), "--frame", "999", "--core", str(core), "--exe", str(exe))
        assert past.returncode == 2 and "no frame 999" in past.stderr, past.stderr
        gone = _tool("locals", "999999", "--core", str(core), "--exe", str(exe))
        assert gone.returncode == 2 and "no goroutine with id 999999" in gone.stderr, gone.stderr
        # One physical frame (a debugger's frame number): main.transfer's,
        # counted in `goroutines --json` as the frames not inlined before it.
        gid = ids["transfer"]
        gs = json.loads(_tool("goroutines", "--all", "--json", "--core", str(core), "--exe", str(exe)).stdout)["goroutines"]
        frames = next(g["frames"] for g in gs if g["id"] == gid)
        k = next(i for i, f in enumerate(frames) if f["function"] == "main.transfer")
        phys = sum(1 for f in frames[:k] if not f["inlined"])
        by_phys = _tool("locals", str(gid), "--physical-frame", str(phys), "--core", str(core), "--exe", str(exe))
        assert by_phys.returncode == 0 and "main.transfer" in by_phys.stdout and "arg from " in by_phys.stdout, by_phys.stdout + by_phys.stderr
        both = _tool("locals", str(gid), "--frame", "1", "--physical-frame", "1", "--core", str(core), "--exe", str(exe))
        assert both.returncode == 2 and "cannot be used with" in both.stderr, both.stderr
        past = _tool("locals", str(gid), "--physical-frame", "999", "--core", str(core), "--exe", str(exe))
        assert past.returncode == 2 and "no physical frame 999" in past.stderr, past.stderr
        # `go locals` without an id in gdb: the selected goroutine and frame.
        from .test_gdb import gdb_batch

        run = gdb_batch([str(exe), str(core)], [f"goroutine {gid}", "frame function main.transfer", "go locals", "go locals --json"])
        run.check_clean()
        assert run.output(2) == by_phys.stdout, run.describe()
        assert json.loads(run.output(3))["frames"][-1]["function"] == "main.transfer", run.describe()
        if shutil.which("lldb-16"):
            from .test_lldb import lldb_batch

            run = lldb_batch(
                [str(exe), "-c", str(core)],
                [f"go locals {gid}", f"go goroutine {gid}", f"frame select {phys}", "go locals"],
            )
            run.check_clean()
            assert run.output(0) == texts["transfer"], run.describe()
            # LLDB shows one frame per physical frame: its frame number is one.
            assert run.output(3) == by_phys.stdout, run.describe()
    finally:
        core.unlink(missing_ok=True)


def test_locals_without_dwarf_says_so():
    version = go_versions()[-1]
    exe = _build(version, "lockorder", stripped=True)
    with _running(exe) as (proc, truth):
        res = _tool("locals", "1", "--pid", str(proc.pid))
    assert res.returncode == 2, res.stdout
    assert "no DWARF variable information" in res.stderr and "panicked" not in res.stderr, res.stderr


def test_locals_refuse_dot(tmp_path: Path):
    res = _tool("locals", "1", "--dot", "--pid", "1")
    assert res.returncode == 2 and "--dot" in res.stderr
