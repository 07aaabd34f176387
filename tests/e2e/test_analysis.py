"""Blocking analysis against the examples' own ground truth: `deadlocks`
verdicts and cycles (examples/lockorder, pipeline, nilchan, condwait,
heldsend, selectforever, healthy write `<stacks>.truth.json` at run time),
`chain` on a lock-order inversion, and `stacks` on a stack-overflow crash
core (examples/overflow). Healthy programs must get no leaked or deadlocked
verdict at all: that is a requirement, not a goal."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from . import elfinfo
from .conftest import REPO, WORK, _enable_core_dumps, find_core_file, go_versions, goroscope_path, read_core_pattern

ANALYSIS_EXAMPLES = ["lockorder", "pipeline", "nilchan", "condwait", "heldsend", "selectforever", "healthy"]
# Known gaps: (example, wait kind) pairs whose expected verdict may still be
# reported "blocked". None today: a WaitGroup whose pending Done calls are
# deferred by stuck goroutines is found through those defers.
KNOWN_GAPS: set[tuple[str, str]] = set()
# Objects that no global names, named after a parameter or local of the
# waiting goroutine's own frames (DWARF variable locations): by example, the
# waiter's role prefix → (name, scope).
LOCAL_NAMES = {
    "pipeline": {
        "fetchArticles:": ("results", "main.fetchArticles"),
        "renderArticles:": ("pages", "main.renderArticles"),
    },
    "nilchan": {"Thumbnailer.awaitIdle:": ("t.done", "main.(*Thumbnailer).awaitIdle")},
    "condwait": {
        "ApprovalQueue.awaitApproval(": ("q.approved", "main.(*ApprovalQueue).awaitApproval"),
        "editor:": ("comments", "main.editor"),
    },
    "heldsend": {"store.lookup:": ("s.mu", "main.(*store).lookup")},
    # A select: every case named after the local channel it receives from.
    "selectforever": {"watchConfig:": ("receive reload, receive stop", "main.watchConfig")},
}


def _go(version: str) -> str:
    return subprocess.run([str(REPO / "scripts" / "go-toolchain"), version], capture_output=True, text=True, check=True).stdout.strip()


def _build(version: str, name: str, stripped: bool = False) -> Path:
    out = WORK / version / "analysis" / (name + ("-stripped" if stripped else ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOPROXY="off")
    flags = ["-ldflags=-s -w"] if stripped else []
    subprocess.run([_go(version), "build", *flags, "-o", str(out), "."], cwd=REPO / "examples" / name, env=env, check=True)
    return out


def _start(exe: Path, **popen):
    """Starts an example (extra Popen arguments: cwd, env, preexec_fn) and
    waits for its ready line; returns (proc, truth)."""
    stacks = exe.with_suffix(".stacks")
    for p in (stacks, Path(str(stacks) + ".truth.json")):
        p.unlink(missing_ok=True)
    proc = subprocess.Popen([str(exe), "-stacks", str(stacks)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True, **popen)
    deadline = time.time() + 60
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("ready pid="):
            return proc, json.loads(Path(str(stacks) + ".truth.json").read_text())
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"{exe} did not become ready", pytrace=False)


@contextlib.contextmanager
def _running(exe: Path):
    """The example started as _start starts it, as (proc, truth); its
    process group is killed when the block ends, however it ends."""
    proc, truth = _start(exe)
    try:
        yield proc, truth
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _global_symbols(exe: Path) -> set[str]:
    out = subprocess.run(["nm", str(exe)], capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.split()[-2:-1] and line.split()[-2] in "BbDd"}


def _names_global(name: str, globals_: set[str]) -> bool:
    """A truth name like main.accounts.mu whose root (main.accounts) is a
    package-level variable: goroscope must name it exactly."""
    parts = name.split(".")
    return len(parts) >= 2 and ".".join(parts[:2]) in globals_ and "," not in name


def _tool(*args: str):
    return subprocess.run([str(goroscope_path()), *args], capture_output=True, text=True, timeout=300)


def _wait_detail_problems(t: dict, ours: dict, has_symbols: bool) -> list[str]:
    """The socket of an IO wait as the program itself saw it (truth
    `socket`: op, network, local and remote address), and a context's
    Done channel with its deadline timer (named after the context where
    a symbol table names it)."""
    w = ours.get("waiting_on") or {}
    out = []
    if t.get("socket"):
        s = w.get("socket") or {}
        got = {k: s.get(k) for k in ("op", "network", "local", "remote")}
        want = {"remote": None, **t["socket"]}
        if got != want:
            out.append(f"goroutine {t['id']} ({t['role']}): socket {got} (from {s.get('source')}), expected {want}")
    if t["waits_on"]["name"].endswith(".Done()"):
        if not (w.get("timer") or {}).get("context"):
            out.append(f"goroutine {t['id']} ({t['role']}): no context deadline on {w}")
        if has_symbols and w.get("name") != t["waits_on"]["name"]:
            out.append(f"goroutine {t['id']} ({t['role']}): named {w.get('name')!r}, expected {t['waits_on']['name']!r}")
    return out


def _check_verdicts(name: str, exe: Path, res: subprocess.CompletedProcess, truth: dict) -> None:
    """`deadlocks --json` against the example's ground truth."""
    assert res.returncode in (0, 1), f"exit {res.returncode}\n{res.stderr}"
    assert "panicked at" not in res.stderr
    doc = json.loads(res.stdout)
    got = {g["id"]: g for g in doc["goroutines"]}
    globals_ = _global_symbols(exe)
    named_by_global = 0
    missed: list[int] = []
    problems = []
    # Builds without DWARF (-w, -s -w) have no local names to expect.
    has_dwarf = elfinfo.read(exe).has_dwarf
    local_names = LOCAL_NAMES.get(name, {}) if has_dwarf else {}
    named_locally = set()
    for g in truth["goroutines"]:
        a = got.get(g["id"])
        if a is None:
            problems.append(f"goroutine {g['id']} ({g['role']}) missing")
            continue
        for prefix, (want_name, want_scope) in local_names.items():
            if g["role"].startswith(prefix):
                named_locally.add(prefix)
                w = a.get("waiting_on") or {}
                if (w.get("name"), w.get("scope")) != (want_name, want_scope):
                    ours = (w.get("name"), w.get("scope"))
                    problems.append(f"goroutine {g['id']} ({g['role']}): named {ours}, expected {(want_name, want_scope)}")
                cases = [(c["name"], c.get("scope")) for c in w.get("channels", [])]
                if any(scope != want_scope for _, scope in cases):
                    problems.append(f"goroutine {g['id']} ({g['role']}): select cases {cases} not all in {want_scope!r}")
        problems += _wait_detail_problems(g, a, bool(globals_))
        exp, verdict = g["expect"], a["verdict"]
        # "live" and "blocked" both mean: can still be woken.
        wakeable = {"live", "blocked"}
        ok = verdict == exp or (exp in wakeable and verdict in wakeable)
        if not ok and (name, g["waits_on"]["kind"]) in KNOWN_GAPS and verdict == "blocked":
            continue
        if not ok and exp == "leaked" and verdict == "blocked":
            # Conservative marking may keep a stale pointer alive: a missed
            # leak is allowed (counted below), a false one never.
            missed.append(g["id"])
        elif not ok:
            problems.append(f"goroutine {g['id']} ({g['role']}): expected {exp}, got {verdict} ({a['reason']})")
        if exp in ("leaked", "deadlocked", "blocked") and a.get("waiting_on") and _names_global(g["waits_on"]["name"], globals_):
            ours = a["waiting_on"]["name"]
            # Objects reached through a pointer inside a heap object are
            # still named by type and address (a known gap); a name built
            # from a global must be exact.
            fallback = ours == "nil" or " 0x" in ours
            # Without DWARF no field path: the global itself names an
            # object at its start (main.ledger for main.ledger.mu at +0).
            if not has_dwarf and g["waits_on"]["name"].startswith(ours + "."):
                fallback = True
            if ours != g["waits_on"]["name"] and a["waiting_on"]["kind"] not in ("select",) and not fallback:
                problems.append(f"goroutine {g['id']}: object named {ours!r}, expected {g['waits_on']['name']!r}")
            if not fallback:
                named_by_global += 1
    assert sorted(sorted(c) for c in doc["cycles"]) == sorted(sorted(c) for c in truth.get("cycles", [])), f"cycles {doc['cycles']} != {truth.get('cycles')}"
    assert doc["global_deadlock"] == truth.get("global_deadlock", False)
    want_exit = 1 if (doc["cycles"] or doc["leaked"]) else 0
    assert res.returncode == want_exit
    if name == "healthy":
        bad = [g for g in doc["goroutines"] if g["verdict"] in ("leaked", "deadlocked")]
        assert not bad, f"healthy program flagged: {bad}"
    assert not problems, "\n".join(problems)
    assert named_locally == set(local_names), f"no truth goroutine for {set(local_names) - named_locally}"
    expected_leaks = [g["id"] for g in truth["goroutines"] if g["expect"] == "leaked"]
    assert len(missed) <= len(expected_leaks) // 2, f"missed leaks {missed} of {expected_leaks}"
    # condwait: main.publishQueue.nonEmpty is one pointer away from the
    # global (a *sync.Cond field of the struct it points to).
    if name in ("lockorder", "heldsend", "pipeline", "condwait") and has_dwarf:  # field paths need DWARF
        assert named_by_global > 0, "no object was named after the global that holds it"


# The verdicts themselves (every example, five builds, live and two kinds
# of core) are checked by test_verdict_matrix.py, with _check_verdicts.


@pytest.mark.parametrize("version", go_versions())
def test_chain_follows_deferred_unlocks_into_the_cycle(version: str):
    exe = _build(version, "lockorder")
    with _running(exe) as (proc, truth):
        start = truth["cycles"][0][0]
        res = _tool("chain", str(start), "--json", "--pid", str(proc.pid))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["cycle"] is True
    assert sorted(doc["cycle_ids"]) == sorted(truth["cycles"][0])
    first = doc["chain"][0]
    assert first["waiting_on"]["kind"] == "mutex"
    assert first["holders"] and first["holders"][0]["confidence"] == "certain"
    assert "deferred sync.(*Mutex).Unlock" in first["holders"][0]["evidence"]


@pytest.mark.parametrize("version", go_versions())
def test_chain_names_likely_holder_without_deferred_unlock(version: str):
    """heldsend: store.lookup waits for s.mu, which store.flush locked
    without defer. No pending Unlock proves the holder, so flush is only
    likely, on the evidence of its argument s pointing at the store, and the
    mutex's state bits are quoted."""
    exe = _build(version, "heldsend")
    with _running(exe) as (proc, truth):
        lookup = next(g for g in truth["goroutines"] if g["role"].startswith("store.lookup:"))
        flush = next(g for g in truth["goroutines"] if g["role"].startswith("store.flush:"))
        res = _tool("chain", str(lookup["id"]), "--json", "--pid", str(proc.pid))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    first = doc["chain"][0]
    assert first["waiting_on"]["kind"] == "mutex"
    assert first["waiting_on"]["name"] == "s.mu"
    assert lookup["holders"] == [flush["id"]]
    holder = first["holders"][0]
    assert holder["id"] == flush["id"], first["holders"]
    assert holder["confidence"] == "likely"
    assert "argument s (*main.store) of main.(*store).flush main.go:" in holder["evidence"]
    assert "references it as s.mu" in holder["evidence"]
    assert "mutex is locked (state 0x" in holder["evidence"]
    assert all(h["confidence"] != "certain" for h in first["holders"])
    assert doc["chain"][1]["id"] == flush["id"]
    assert doc["chain"][1]["waiting_on"]["name"] == "main.flushAcks"


@pytest.mark.parametrize("version", go_versions())
def test_chain_finds_potential_receiver_through_its_argument(version: str):
    """pipeline: fetchArticles sends on runPipeline's local results channel;
    renderArticles, its only receiver (itself stuck sending on pages), has
    it as its argument: the likely one to unblock it."""
    exe = _build(version, "pipeline")
    with _running(exe) as (proc, truth):
        fetch = next(g for g in truth["goroutines"] if g["role"].startswith("fetchArticles:"))
        render = next(g for g in truth["goroutines"] if g["role"].startswith("renderArticles:"))
        res = _tool("chain", str(fetch["id"]), "--json", "--pid", str(proc.pid))
    assert res.returncode == 0, res.stderr
    first = json.loads(res.stdout)["chain"][0]
    assert first["waiting_on"]["name"] == "results"
    assert fetch["holders"] == [render["id"]]
    assert [(h["id"], h["confidence"]) for h in first["holders"]] == [(render["id"], "likely")]
    assert first["holders"][0]["evidence"].startswith("argument results (<-chan *main.Draft) of main.renderArticles main.go:")


@pytest.mark.parametrize("version", go_versions())
def test_stacks_diagnoses_stack_overflow_core(version: str, tmp_path: Path):
    pattern = read_core_pattern()
    if pattern.startswith("|"):
        pytest.skip(f"kernel.core_pattern pipes cores to a program ({pattern})")
    exe = _build(version, "overflow")
    env = dict(os.environ, GOTRACEBACK="crash")
    proc = subprocess.run([str(exe)], cwd=tmp_path, env=env, capture_output=True, text=True, preexec_fn=_enable_core_dumps, timeout=120)
    assert "stack overflow" in proc.stderr
    fields = dict(kv.split("=", 1) for kv in proc.stdout.split("\n", 1)[0].split()[1:])
    core = find_core_file(tmp_path, -proc.returncode if proc.returncode < 0 else 0, exe) or next(tmp_path.glob("core*"), None)
    assert core is not None, f"no core in {tmp_path}"
    try:
        res = _tool("stacks", "--json", "--core", str(core), "--exe", str(exe))
    finally:
        core.unlink(missing_ok=True)
    assert res.returncode == 0, res.stderr
    o = json.loads(res.stdout)["overflow"]
    assert o is not None
    assert o["goroutine"] == int(fields["goroutine"])
    assert o["limit"] == int(fields["limit"])
    assert o["cycle"] == fields["cycle"].split(",")
    assert o["repeats"] > 1000
    assert o["entry"]["function"] == fields["entry"]


_DOT_NODE = re.compile(r'^  "([^"]+)" \[(.*)\];$')
_DOT_EDGE = re.compile(r'^  "([^"]+)" -> "([^"]+)" \[(.*)\];$')


def _parse_dot(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Nodes and edges of goroscope's DOT (one statement a line); fails on
    anything else, so malformed output cannot pass."""
    lines = text.splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith(" {"), lines[0]
    assert lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := _DOT_EDGE.match(line):
            edges.append((m[1], m[2], m[3]))
        elif m := _DOT_NODE.match(line):
            nodes[m[1]] = m[2]
        else:
            assert re.match(r"^  (rankdir|node|edge|label|labelloc)\b.*;$", line), f"unexpected DOT line {line!r}"
    for f, t, _ in edges:
        assert f in nodes and t in nodes, f"edge {f} -> {t} to an undeclared node"
    if shutil.which("dot"):
        res = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
    return nodes, edges


@pytest.mark.parametrize("version", go_versions())
def test_dot_graphs_draw_the_cycle(version: str):
    exe = _build(version, "lockorder")
    with _running(exe) as (proc, truth):
        pid = str(proc.pid)
        start = truth["cycles"][0][0]
        runs = {cmd: _tool(*cmd.split(), "--dot", "--pid", pid) for cmd in ("deadlocks", f"chain {start}", "blocking")}
        refused = _tool("goroutines", "--dot", "--pid", pid)
    assert refused.returncode == 2 and "--dot" in refused.stderr
    assert runs["deadlocks"].returncode == 1, runs["deadlocks"].stderr
    for cmd in ("blocking", f"chain {start}"):
        assert runs[cmd].returncode == 0, runs[cmd].stderr
    a, b = truth["cycles"][0]
    for cmd in ("deadlocks", f"chain {start}"):
        nodes, edges = _parse_dot(runs[cmd].stdout)
        assert f"g{a}" in nodes and f"g{b}" in nodes, cmd
        # g_a waits on an object that g_b holds with certainty, and back.
        for x, y in ((a, b), (b, a)):
            objs = [t for f, t, _ in edges if f == f"g{x}"]
            assert any((o, f"g{y}") in {(f, t) for f, t, attrs in edges if "certain" in attrs} for o in objs), f"{cmd}: no {x} -> obj -> {y}"
    nodes, edges = _parse_dot(runs["blocking"].stdout)
    waiters = {f for f, _, _ in edges}
    assert {f"g{a}", f"g{b}"} <= waiters
    assert any("main.accounts.mu" in attrs for attrs in nodes.values())


@pytest.mark.parametrize("version", go_versions())
def test_waitgroup_counter_and_deferred_done_holders(version: str):
    """main waits on main.transfers (Add(2)); transfer and reconcile each
    hold a pending `defer transfers.Done()` while deadlocked on each other."""
    exe = _build(version, "lockorder")
    with _running(exe) as (proc, truth):
        blocking = _tool("blocking", "--json", "--pid", str(proc.pid))
        chain = _tool("chain", "1", "--json", "--pid", str(proc.pid))
    assert blocking.returncode == 0, blocking.stderr
    wg = [o for o in json.loads(blocking.stdout)["objects"] if o["kind"] == "waitgroup"]
    assert [(o["name"], o["waiters"], o["waitgroup"]) for o in wg] == [("main.transfers", [1], {"counter": 2, "waiters": 1})]
    link = json.loads(chain.stdout)["chain"][0]
    assert link["waiting_on"]["name"] == "main.transfers"
    holders = {h["id"]: h for h in link["holders"]}
    assert set(holders) == set(truth["cycles"][0]), holders
    assert all(h["confidence"] == "certain" and "deferred sync.(*WaitGroup).Done" in h["evidence"] for h in holders.values())
