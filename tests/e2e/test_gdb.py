"""goroscope inside a real gdb: `gdb -batch` processes driven per case, on
gcore cores, live processes (gdb attached) and a remote target (gdb
connected to Debian's gdbserver attached to the example).

- the `go …` commands, `info goroutines` and `goroutine N bt` / `goroutine
  all bt` print byte for byte what the CLI prints on the same target (and
  the CLI's tracebacks are checked against the runtime's own dump by
  test_gcore.py / test_live.py);
- `goroutine N` then `bt` shows goroutine N's frames: the function names
  and file:line of the runtime's traceback appear in order;
- `info locals` in a selected goroutine's user frame shows a known local.

gdb loads goroscope with `source scripts/goroscope-gdb.py`, which imports
the installed package if gdb's Python can (scripts/test installs the wheel
maturin built and points $GOROSCOPE_GDB_PYTHONPATH at it), else the
in-tree build (scripts/build-python).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

import pytest

from .conftest import REPO, HarnessError, RunningExample, ToolResult, assert_ok, process_trace_state, run_goroscope
from .traceback import Goroutine, normalize_function

pytestmark = [pytest.mark.matrix, pytest.mark.gdb]

GDB_SCRIPT = REPO / "scripts" / "goroscope-gdb.py"
MARK = "@@goroscope-e2e@@"
GDB_TIMEOUT = 300.0
BUILDS = pytest.mark.builds(examples=("cms", "lockorder"), variants=("default",))

# A frame line of gdb's `bt`: "#3  0x… in FUNC (ARGS) at FILE:LINE" (the
# address is left out for inlined frames).
_BT_RE = re.compile(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+) \(.*\) at (.+):(\d+)$")


def gdb_env() -> dict[str, str]:
    env = dict(os.environ)
    extra = os.environ.get("GOROSCOPE_GDB_PYTHONPATH")
    if extra:
        env["PYTHONPATH"] = extra + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class GdbRun:
    """One `gdb -batch` process: each command's stdout, separated by markers."""

    def __init__(self, argv: list[str], proc: subprocess.CompletedProcess, commands: list[str], seconds: float):
        self.argv = argv
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.commands = commands
        self.seconds = seconds
        self.sections: dict[int, str] = {}
        for i in range(len(commands)):
            start = f"{MARK}{i}\n"
            end = f"\n{MARK}{i + 1 if i + 1 < len(commands) else 'end'}\n"
            a = self.stdout.find(start)
            b = self.stdout.find(end, a + len(start)) if a >= 0 else -1
            if a >= 0 and b >= 0:
                self.sections[i] = self.stdout[a + len(start) : b]

    def describe(self) -> str:
        shown = " ".join(f"'{a}'" if " " in a else a for a in self.argv)
        return (
            f"$ {shown}\nexit {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stderr ---\n{self.stderr[-4000:] or '(empty)'}\n--- stdout (head) ---\n{self.stdout[:4000] or '(empty)'}"
        )

    def output(self, i: int) -> str:
        if i not in self.sections:
            pytest.fail(f"no output section for `{self.commands[i]}` in gdb's stdout\n{self.describe()}", pytrace=False)
        return self.sections[i]

    def check_clean(self) -> None:
        """No Python traceback, no goroscope internal error, no failure to load."""
        for bad in ("Traceback (most recent call last)", "Python Exception", "internal error", "cannot load the native module", "panicked at"):
            if bad in self.stderr or bad in self.stdout:
                pytest.fail(f"gdb printed {bad!r}:\n{self.describe()}", pytrace=False)


def gdb_batch(target: list[str], commands: list[str], *, pre: Optional[list[str]] = None) -> GdbRun:
    """Runs gdb in batch mode on `target` (arguments after the options),
    with goroscope sourced, the `pre` commands, then `commands`, each
    preceded by a marker line."""
    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.fail("gdb not found (scripts/test installs it)", pytrace=False)
    argv = [gdb, "-nx", "-batch", "-iex", "set auto-load python-scripts off", "-iex", "set pagination off", "-iex", "set width 0"]
    argv += ["-ex", f"source {GDB_SCRIPT}"]
    for c in pre or []:
        argv += ["-ex", c]
    for i, c in enumerate(commands):
        argv += ["-ex", f"echo \\n{MARK}{i}\\n", "-ex", c]
    argv += ["-ex", f"echo \\n{MARK}end\\n"]
    argv += target
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", timeout=GDB_TIMEOUT, env=gdb_env())
    except subprocess.TimeoutExpired:
        pytest.fail(f"gdb timed out after {GDB_TIMEOUT:.0f}s: {' '.join(argv)}", pytrace=False)
    return GdbRun(argv, p, commands, time.monotonic() - t0)


def user_goroutines(r: RunningExample, limit: int = 6) -> list[Goroutine]:
    """Goroutines of Go's dump with a stack to compare (not the dump's
    writer, not running)."""
    out = []
    for g in r.dump:
        if g.id == r.writer_id or g.unavailable or g.base_status in ("running", "runnable") or not g.frames:
            continue
        out.append(g)
    return out[:limit]


def gdb_frames(bt: str) -> list[tuple[int, str, str, int]]:
    """(level, function, file, line) of each frame line of gdb's `bt`."""
    out = []
    for line in bt.splitlines():
        m = _BT_RE.match(line.strip())
        if m:
            out.append((int(m.group(1)), normalize_function(m.group(2)), m.group(3), int(m.group(4))))
    return out


def check_frames_match(g: Goroutine, bt: str, context: str) -> None:
    """The runtime's frames of g appear, in order, among gdb's frames (gdb
    also shows the runtime frames Go's traceback hides)."""
    frames = gdb_frames(bt)
    if not frames:
        pytest.fail(f"goroutine {g.id}: no frames in gdb's bt:\n{bt}\n{context}", pytrace=False)
    want = [(normalize_function(f.function), f.file, f.line) for f in g.frames]
    got = [(fn, file, line) for _, fn, file, line in frames]
    i = 0
    for w in want:
        while i < len(got) and got[i] != w:
            i += 1
        if i == len(got):
            pytest.fail(
                f"goroutine {g.id}: frame {w[0]} {w[1]}:{w[2]} of the runtime's traceback is not in gdb's bt (in order)\n"
                f"runtime's frames:\n" + "\n".join(f"  {f} {fl}:{ln}" for f, fl, ln in want) + f"\ngdb's bt:\n{bt}\n{context}",
                pytrace=False,
            )
        i += 1
    names = [fn for _, fn, _, _ in frames]
    if g.id != 1 and names[-1] != "runtime.goexit":
        pytest.fail(f"goroutine {g.id}: gdb's bt does not end at runtime.goexit:\n{bt}\n{context}", pytrace=False)


_BUSY_LINE = re.compile(r"^\s*\d+\s+\[(?:running|runnable)[],]")
_BUSY_BLOCK = re.compile(r"^goroutine \d+ \[(?:running|runnable)[],]")


def without_busy(text: str) -> str:
    """Drops the goroutines that run (or may run) between two looks at a
    live process (cms's main.spin): one-line entries and traceback blocks."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if _BUSY_BLOCK.match(line):
            skipping = True
        elif line.startswith("goroutine "):
            skipping = False
        if skipping or _BUSY_LINE.match(line):
            continue
        out.append(line)
    return "".join(out)


def compare_with_cli(run: GdbRun, i: int, cli: ToolResult, *, live: bool = False) -> None:
    got, want = run.output(i), cli.stdout
    if live:
        got, want = without_busy(got), without_busy(want)
    if got != want:
        import difflib

        diff = "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(), "goroscope CLI", f"gdb: {run.commands[i]}", lineterm="", n=2))
        pytest.fail(f"`{run.commands[i]}` in gdb differs from `{cli.cmd}`:\n{diff[:6000]}\n\n{run.describe()}", pytrace=False)


def cli_ok(*args: str) -> ToolResult:
    res = run_goroscope(*args)
    if res.returncode not in (0, 1):  # 1: deadlocks found
        assert_ok(res)
    return res


# ---------------------------------------------------------------------------
# Cores
# ---------------------------------------------------------------------------


@BUILDS
def test_gdb_core_commands(running: RunningExample):
    """`go …`, `info goroutines`, `goroutine N bt`, `goroutine all bt` on a
    gcore core print exactly the CLI's text."""
    core = running.require_core()
    tgt = ["--core", str(core), "--exe", str(running.exe)]
    gs = user_goroutines(running, 3)
    if not gs:
        pytest.fail(f"no goroutine to look at in {running.stacks_path}", pytrace=False)
    cases: list[tuple[str, list[str]]] = [
        ("go goroutines", ["goroutines"]),
        ("info goroutines", ["goroutines"]),
        ("go goroutines --all --json", ["goroutines", "--all", "--json"]),
        ("goroutine all bt", ["bt", "--all"]),
        ("go bt --all", ["bt", "--all"]),
        ("go blocking", ["blocking"]),
        ("go deadlocks", ["deadlocks"]),
        ("go stacks", ["stacks"]),
        ("go info", ["info"]),
    ]
    for g in gs:
        cases.append((f"go bt {g.id}", ["bt", str(g.id)]))
        cases.append((f"go chain {g.id}", ["chain", str(g.id)]))
    cases.append((f"goroutine {gs[0].id} bt", ["bt", str(gs[0].id)]))
    cases.append((f"go chain {gs[0].id} --dot", ["chain", str(gs[0].id), "--dot"]))
    run = gdb_batch([str(running.exe), str(core)], [c for c, _ in cases])
    run.check_clean()
    for i, (_, argv) in enumerate(cases):
        compare_with_cli(run, i, cli_ok(*argv, *tgt))


@BUILDS
def test_gdb_core_select(running: RunningExample):
    """`goroutine N` then `bt`: goroutine N's frames, with the runtime's
    function names and file:line, in order; `frame`, `up` work there."""
    core = running.require_core()
    gs = user_goroutines(running)
    cmds = []
    for g in gs:
        cmds += [f"goroutine {g.id}", "bt"]
    cmds += [f"goroutine {gs[0].id}", "up", "frame"]
    run = gdb_batch([str(running.exe), str(core)], cmds)
    run.check_clean()
    for k, g in enumerate(gs):
        sel, bt = run.output(2 * k), run.output(2 * k + 1)
        if f"[goroutine {g.id} (" not in sel:
            pytest.fail(f"`goroutine {g.id}` did not report the selection:\n{sel}\n{run.describe()}", pytrace=False)
        check_frames_match(g, bt, run.describe())
    # `up` from the innermost goroutine frame goes to its caller.
    n = 2 * len(gs)
    frames = gdb_frames(run.output(n + 1).splitlines()[0] if run.output(n + 1) else "")
    first = gdb_frames(run.output(2 * 0 + 1))
    if not frames or len(first) < 2 or frames[0][:2] != first[1][:2]:
        pytest.fail(f"`up` after `goroutine {gs[0].id}` did not select its second frame:\n{run.output(n + 1)}\nbt:\n{run.output(1)}", pytrace=False)


@pytest.mark.builds(examples=("cms",), variants=("default",))
def test_gdb_core_running_and_completion(running: RunningExample):
    """`goroutine N` for a goroutine running on a thread at the stop
    (cms's main.spin) switches to that thread; goroutine ids complete."""
    core = running.require_core()
    res = run_goroscope("goroutines", "--json", "--core", str(core), "--exe", str(running.exe))
    assert_ok(res)
    gs = json.loads(res.stdout)["goroutines"]
    spin = next((g for g in gs if g["status"] == "running" and g.get("thread_id") and any(f["function"] == "main.spin" for f in g["frames"])), None)
    cmds = ["complete go chain ", "complete goroutine "]
    if spin is not None:
        cmds += [f"goroutine {spin['id']}", "bt"]
    run = gdb_batch([str(running.exe), str(core)], cmds)
    run.check_clean()
    for i, prefix in ((0, "go chain"), (1, "goroutine")):
        offered = set(run.output(i).split("\n"))
        missing = [g["id"] for g in gs if f"{prefix} {g['id']}" not in offered]
        if missing:
            pytest.fail(f"`{run.commands[i]}<TAB>` does not offer goroutines {missing}:\n{run.output(i)}", pytrace=False)
    if spin is None:
        return  # main.spin was not on a thread at the gcore (possible, not expected)
    sel = run.output(2)
    if f"[goroutine {spin['id']} (running) runs on thread " not in sel or f"(LWP {spin['thread_id']})]" not in sel:
        pytest.fail(f"`goroutine {spin['id']}` should switch to its thread (LWP {spin['thread_id']}):\n{sel}\n{run.describe()}", pytrace=False)
    if not any(fn == "main.spin" for _, fn, _, _ in gdb_frames(run.output(3))):
        pytest.fail(f"bt of the running goroutine {spin['id']} lacks main.spin:\n{run.output(3)}", pytrace=False)


@pytest.mark.builds(examples=("cms",), variants=("default",))
def test_gdb_core_locals(running: RunningExample):
    """`info locals` in the frame of main.(*HTTPServer).serve, selected with
    `goroutine N`, shows its loop counter n = 1 (it parks in its second
    Accept)."""
    core = running.require_core()
    g = next((g for g in running.dump if any(f.function == "main.(*HTTPServer).serve" for f in g.frames)), None)
    if g is None:
        pytest.fail(f"no goroutine in main.(*HTTPServer).serve in {running.stacks_path}", pytrace=False)
    first = gdb_batch([str(running.exe), str(core)], [f"goroutine {g.id}", "bt"])
    first.check_clean()
    level = next((lv for lv, fn, _, _ in gdb_frames(first.output(1)) if fn == "main.(*HTTPServer).serve"), None)
    if level is None:
        pytest.fail(f"main.(*HTTPServer).serve is not in goroutine {g.id}'s bt:\n{first.output(1)}", pytrace=False)
    run = gdb_batch([str(running.exe), str(core)], [f"goroutine {g.id}", f"frame {level}", "info locals", f"goroutine {g.id} info locals"])
    run.check_clean()
    if "main.(*HTTPServer).serve" not in run.output(1):
        pytest.fail(f"`frame {level}` is not main.(*HTTPServer).serve:\n{run.describe()}", pytrace=False)
    if not re.search(r"^n = 1$", run.output(2), re.M):
        pytest.fail(f"`info locals` in main.(*HTTPServer).serve does not show n = 1:\n{run.output(2)}\n{run.describe()}", pytrace=False)


# ---------------------------------------------------------------------------
# Live processes and remote targets
# ---------------------------------------------------------------------------


def _check_detached(r: RunningExample, run: GdbRun) -> None:
    deadline = time.monotonic() + 5
    problems = process_trace_state(r.pid)
    while problems and time.monotonic() < deadline:
        time.sleep(0.1)
        problems = process_trace_state(r.pid)
    if problems:
        pytest.fail(f"example {r.name} after gdb detached: {problems}\n{run.describe()}", pytrace=False)


@BUILDS
@pytest.mark.live
def test_gdb_live(running: RunningExample):
    """gdb attached to the running example (memory read from the stopped
    process directly): the same text as the CLI on the live process, and
    `goroutine N` + `bt` show the runtime's frames."""
    gs = user_goroutines(running, 3)
    cmds = ["go goroutines", "goroutine all bt", f"go chain {gs[0].id}", f"goroutine {gs[0].id}", "bt"]
    run = gdb_batch(["-p", str(running.pid)], cmds)
    run.check_clean()
    _check_detached(running, run)
    tgt = ["--pid", str(running.pid), "--exe", str(running.exe)]
    compare_with_cli(run, 0, cli_ok("goroutines", *tgt), live=True)
    compare_with_cli(run, 1, cli_ok("bt", "--all", *tgt), live=True)
    compare_with_cli(run, 2, cli_ok("chain", str(gs[0].id), *tgt), live=True)
    check_frames_match(gs[0], run.output(4), run.describe())


@BUILDS
@pytest.mark.live
def test_gdb_remote(running: RunningExample, goenv):
    """gdb connected to gdbserver attached to the example: memory comes
    through gdb's memory API (cached per stop), same text as the CLI.

    gdbserver runs against a second process of the same build, stopped at
    the end: under load, gdbserver's detach can leave a process
    group-stopped (a SIGSTOP from its attach delivered after the detach),
    which must not leak into the other tests' shared process."""
    if shutil.which("gdbserver") is None:
        pytest.fail("gdbserver not found (Debian package gdbserver; scripts/test installs it)", pytrace=False)
    try:
        r = goenv.launch(running.build, running.exe, goenv.workdir, f"{running.name}-gdbserver", core=False)
    except HarnessError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        gs = user_goroutines(r, 2)
        tgt = ["--pid", str(r.pid), "--exe", str(r.exe)]
        # The CLI first: the process is certainly running then.
        cli = [cli_ok("goroutines", *tgt), cli_ok("bt", str(gs[0].id), *tgt)]
        cmds = ["go goroutines", "go info", f"go bt {gs[0].id}", f"goroutine {gs[0].id}", "bt"]
        if r.build is not None and r.build.example == "lockorder":
            cmds += [c for c, _, _ in LOCKORDER_VALUES]  # maps walked through gdb's memory reads
        cmds.append("detach")
        run = gdb_batch([str(r.exe)], cmds, pre=[f"target remote | exec gdbserver - --attach {r.pid}"])
        run.check_clean()
        info = run.output(1)
        if not re.search(r"^target\s+Remote", info, re.M):
            pytest.fail(f"`go info` through gdbserver does not name the remote target:\n{info}\n{run.describe()}", pytrace=False)
        compare_with_cli(run, 0, cli[0], live=True)
        compare_with_cli(run, 2, cli[1], live=True)
        check_frames_match(gs[0], run.output(4), run.describe())
        if r.build is not None and r.build.example == "lockorder":
            check_lockorder_values(run, 5)
    finally:
        goenv.stop(r)


# ---------------------------------------------------------------------------
# Without a Go target
# ---------------------------------------------------------------------------


@pytest.mark.errors
def test_gdb_without_go_target():
    """No target, a non-Go process, bad arguments: one-line messages, never a
    Python traceback; `help go` lists the commands."""
    run = gdb_batch([], ["help go", "go goroutines", "info goroutines", "go chain x", "goroutine 1", "go"])
    run.check_clean()
    helptext = run.output(0)
    for word in ("go goroutines", "go chain", "go deadlocks", "go bt"):
        if word not in helptext:
            pytest.fail(f"`help go` does not list {word!r}:\n{helptext}", pytrace=False)
    if run.stderr.count("gdb is not debugging a program") < 2:
        pytest.fail(f"expected 'gdb is not debugging a program' for go goroutines / info goroutines:\n{run.describe()}", pytrace=False)
    if "invalid value 'x'" not in run.stderr:
        pytest.fail(f"`go chain x` should print clap's usage error:\n{run.describe()}", pytrace=False)
    if "Usage: go" not in run.output(5):
        pytest.fail(f"`go` alone should print the usage:\n{run.describe()}", pytrace=False)
    true = shutil.which("true") or "/bin/true"
    run = gdb_batch([true], ["go info"], pre=["starti"])
    run.check_clean()
    if "not a Go binary" not in run.stderr:
        pytest.fail(f"`go info` on {true} should say it is not a Go binary:\n{run.describe()}", pytrace=False)


def test_gdbinit_prints_source_line(goroscope: Path):
    res = run_goroscope("gdbinit")
    assert_ok(res)
    line = f"source {GDB_SCRIPT.resolve()}"
    if line not in res.stdout.splitlines():
        pytest.fail(f"`goroscope gdbinit` should print {line!r}:\n{res.describe()}", pytrace=False)


# ---------------------------------------------------------------------------
# Value printers
# ---------------------------------------------------------------------------

# lockorder's state once it is deadlocked: transfer("alice", "bob", 30) moved
# the money before blocking; nobody gets to touch the ledger or the prices.
LOCKORDER_VALUES = [
    ("print 'main.accounts'.balances", r"map\[string\]int \(len 2\) = \{(.*)\}$", {'"alice"': "70", '"bob"': "80"}),
    ("print 'main.catalog'.prices", r"map\[string\]int \(len 1\) = \{(.*)\}$", {'"premium"': "12"}),
]
_MAP_ENTRY = re.compile(r'\[("(?:[^"\\]|\\.)*")\] = ([^,]+)(?:, |$)')


def check_lockorder_values(run: GdbRun, first: int) -> None:
    for k, (cmd, pattern, want) in enumerate(LOCKORDER_VALUES):
        out = run.output(first + k).strip()
        m = re.search(pattern, out)
        if not m:
            pytest.fail(f"`{cmd}` printed {out!r}, expected {pattern!r}\n{run.describe()}", pytrace=False)
        got = dict(_MAP_ENTRY.findall(m.group(1)))
        if got != want:
            pytest.fail(f"`{cmd}`: entries {got}, expected {want}\n{out}\n{run.describe()}", pytrace=False)


@pytest.mark.builds(examples=("lockorder",), variants=("default",))
def test_gdb_core_printers(running: RunningExample):
    """Go maps (classic buckets before go1.24, swiss tables after, walked by
    the Rust core), slices and strings print as Go values: globals, and the
    arguments of a selected goroutine's frame."""
    core = running.require_core()
    g = next((g for g in running.dump if any(f.function == "main.transfer" for f in g.frames)), None)
    if g is None:
        pytest.fail(f"no goroutine in main.transfer in {running.stacks_path}", pytrace=False)
    cmds = [c for c, _, _ in LOCKORDER_VALUES] + ["print 'main.ledger'.entries", "print 'runtime.buildVersion'", f"goroutine {g.id}", "bt"]
    run = gdb_batch([str(running.exe), str(core)], cmds)
    run.check_clean()
    check_lockorder_values(run, 0)
    n = len(LOCKORDER_VALUES)
    if not re.search(r"= \[\]string \(len 0, cap 0\)$", run.output(n).strip()):
        pytest.fail(f"empty slice printed as {run.output(n)!r}\n{run.describe()}", pytrace=False)
    if run.output(n + 1).strip() != f'$4 = "go{running.version}"':
        pytest.fail(f"runtime.buildVersion printed as {run.output(n + 1)!r}\n{run.describe()}", pytrace=False)
    if 'main.transfer (from="alice", to="bob", amount=30)' not in run.output(n + 3):
        pytest.fail(f"main.transfer's arguments are not printed as Go values in goroutine {g.id}'s bt:\n{run.output(n + 3)}", pytrace=False)


def _goroutine_in(r: RunningExample, function: str) -> int:
    g = next((g for g in r.dump if any(f.function == function for f in g.frames)), None)
    if g is None:
        pytest.fail(f"no goroutine in {function} in {r.stacks_path}", pytrace=False)
    return g.id


@pytest.mark.builds(examples=("lockorder",), variants=("default",))
def test_gdb_core_lock_printers(running: RunningExample):
    """sync.Mutex, sync.RWMutex and sync.WaitGroup print their state and the
    goroutine certain to hold them (its pending deferred Unlock), as
    lockorder's deadlock leaves them; `*runtime.g` names its goroutine."""
    core = running.require_core()
    transfer, reconcile, refresh = (_goroutine_in(running, f) for f in ("main.transfer", "main.reconcile", "main.refreshPrices"))
    cases = [
        (
            "print 'main.accounts'.mu",
            rf"sync\.Mutex \(locked, (?:woken, )?2 waiters, held by goroutine {transfer}: "
            rf"deferred sync\.\(\*Mutex\)\.Unlock in main\.transfer main\.go:\d+\)",
        ),
        (
            "print 'main.ledger'.mu",
            rf"sync\.Mutex \(locked, (?:woken, )?2 waiters, held by goroutine {reconcile}: "
            rf"deferred sync\.\(\*Mutex\)\.Unlock in main\.reconcile main\.go:\d+\)",
        ),
        (
            "print 'main.catalog'.rw",
            rf"sync\.RWMutex \(2 readers, writer pending or holding; locked, (?:woken, )?\d+ waiters, held by goroutine {refresh}: "
            rf"deferred sync\.\(\*RWMutex\)\.RUnlock in main\.refreshPrices main\.go:\d+\)",
        ),
        ("print 'main.transfers'", r"sync\.WaitGroup \(counter 2, waiters 1\)"),
        ("print 'main.firstLocks'", r"sync\.WaitGroup \(counter 0, waiters 0\)"),
    ]
    run = gdb_batch([str(running.exe), str(core)], [c for c, _ in cases] + ["print 'runtime.allgs'"])
    run.check_clean()
    for i, (cmd, pattern) in enumerate(cases):
        out = re.sub(r"^\$\d+ = ", "", run.output(i).strip())
        if not re.fullmatch(pattern, out):
            pytest.fail(f"`{cmd}` printed {out!r}, expected {pattern!r}\n{run.describe()}", pytrace=False)
    # *runtime.g pointers name their goroutine and its state.
    state = next(g.base_status for g in running.dump if g.id == transfer)
    want = f"(goroutine {transfer} [{state}])"
    if want not in run.output(len(cases)):
        pytest.fail(f"`print 'runtime.allgs'` does not show {want!r}:\n{run.output(len(cases))[:2000]}", pytrace=False)


# gdb's printing of Go values, turned into what fmt's %v prints, so that the
# two can be compared: structs {a b}, slices [a b], maps map[k:v] sorted by
# key, strings unquoted.
class _GdbValue:
    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def error(self, what: str):
        raise ValueError(f"{what} at {self.i}: ...{self.s[self.i : self.i + 60]!r}")

    def eat(self, lit: str) -> bool:
        if self.s.startswith(lit, self.i):
            self.i += len(lit)
            return True
        return False

    def expect(self, lit: str) -> None:
        if not self.eat(lit):
            self.error(f"expected {lit!r}")

    def string(self) -> str:
        self.expect('"')
        out = []
        while self.i < len(self.s) and self.s[self.i] != '"':
            if self.s[self.i] == "\\":
                self.i += 1
            out.append(self.s[self.i])
            self.i += 1
        self.expect('"')
        return "".join(out)

    def items(self, item) -> list:
        out: list = []
        self.expect("{")
        while not self.eat("}"):
            if out:
                self.expect(", ")
            out.append(item())
        return out

    def value(self):
        """Returns ("s", str) | ("map", [(k, v)]) | ("list", [v]) |
        ("list_struct", [v]) | ("fmt", text) | ("atom", text)."""
        if self.s.startswith("(", self.i):
            # An interface: "(T) value", the value as fmt prints it (the
            # interfaces of examples/values are top-level variables).
            self.i = self.s.index(") ", self.i) + 2
            rest = self.s[self.i :]
            self.i = len(self.s)
            return ("fmt", rest)
        if self.s.startswith('"', self.i):
            return ("s", self.string())
        if self.s.startswith("map[", self.i):
            j = self.s.find(" (len ", self.i)
            nil = self.s.find(" nil", self.i)
            if nil >= 0 and (j < 0 or nil < j):
                self.i = nil + len(" nil")
                return ("map", [])
            self.i = self.s.index(")", j) + 1
            if not self.eat(" = "):
                return ("map", [])

            def entry():
                self.expect("[")
                k = self.value()
                self.expect("] = ")
                return (k, self.value())

            return ("map", self.items(entry))
        if self.s.startswith("[]", self.i):
            self.i = self.s.index(")", self.i) + 1
            if not self.eat(" = "):
                return ("list", [])
            return ("list", self.items(self.value))
        if self.s.startswith("{", self.i):

            def field():
                m = re.compile(r"[\w.]+ = ").match(self.s, self.i)
                if not m:
                    self.error("expected a field")
                self.i = m.end()
                return self.value()

            return ("list_struct", self.items(field))
        m = re.compile(r"[^,}\]]+").match(self.s, self.i)
        if not m:
            self.error("expected a value")
        self.i = m.end()
        return ("atom", m.group(0))


def _fmt(v) -> str:
    kind, x = v
    if kind == "s":
        return x
    if kind == "atom":
        return "<nil>" if x == "nil" else x
    if kind == "fmt":
        return x
    if kind == "list":
        return "[" + " ".join(_fmt(e) for e in x) + "]"
    if kind == "list_struct":
        return "{" + " ".join(_fmt(e) for e in x) + "}"
    keys = [k for k, _ in x]
    numeric = all(k[0] == "atom" and re.fullmatch(r"-?\d+", k[1]) for k in keys)
    entries = sorted(x, key=lambda kv: int(kv[0][1]) if numeric else _fmt(kv[0]))
    return "map[" + " ".join(f"{_fmt(k)}:{_fmt(e)}" for k, e in entries) + "]"


def gdb_to_fmt(printed: str) -> str:
    """`$3 = {Name = "db", …}` as fmt's %v would print it."""
    p = _GdbValue(re.sub(r"^\$\d+ = ", "", printed.strip()))
    v = p.value()
    if p.i != len(p.s):
        p.error("trailing text")
    return _fmt(v)


# Values printed with more than fmt shows: an error's dynamic type, a
# channel's state and buffered elements (FMT stands for fmt's text).
FMT_DIFFERS = {
    "err": r"\$\d+ = \(\*errors\.errorString\) FMT",
    "jobs": r"\$\d+ = chan int FMT \(len 2, cap 4\) = \{7, 8\}",
    "closedCh": r'\$\d+ = chan string FMT \(len 1, cap 2, closed\) = \{"last"\}',
    "nilCh": r"\$\d+ = chan int nil",
}


@pytest.mark.parametrize("how", ["core", "live"])
def test_gdb_printers_match_fmt(goenv, go_version: str, how: str):
    """examples/values: every variable as gdb prints it (maps of 10 000
    entries walked by the Rust core, classic buckets before go1.24, swiss
    tables after; deleted entries; nested structs, slices, strings;
    interfaces with their dynamic type; time.Duration, time.Time, a context
    chain; channels with their buffered elements; all decoded by the Rust
    values decoder) equals what the program printed with fmt before it
    idled."""
    try:
        r = goenv.running("values")
    except HarnessError as e:
        pytest.fail(str(e), pytrace=False)
    values_file = Path(str(r.stacks_path) + ".values")
    want = dict(line.split("\t", 1) for line in values_file.read_text().splitlines())
    names = list(want)
    cmds = ["set print elements unlimited", "set print repeats unlimited"] + [f"print 'main.{n}'" for n in names]
    # Values gdb holds outside target memory (as arguments in registers)
    # are decoded from their bytes; `print elements` bounds a map.
    extra = [
        ("set $m = 'main.small'", None),
        ("print $m", r"\$\d+ = map\[string\]int \(len 1\) = \{\[\"one\"\] = 1\}"),
        ("set $c = 'main.jobs'", None),
        ("print $c", r"\$\d+ = chan int 0x[0-9a-f]+ \(len 2, cap 4\) = \{7, 8\}"),
        ("set print elements 4", None),
        ("print 'main.big'", r"\$\d+ = map\[int\]int \(len 10000\) = \{\[\d+\] = \d+, \[\d+\] = \d+\.\.\.\}"),
    ]
    cmds += [c for c, _ in extra]
    target = [str(r.exe), str(r.require_core())] if how == "core" else ["-p", str(r.pid)]
    run = gdb_batch(target, cmds)
    run.check_clean()
    if how == "live":
        _check_detached(r, run)
    problems = []
    for k, name in enumerate(names):
        out = run.output(k + 2)
        if name in FMT_DIFFERS:
            pattern = FMT_DIFFERS[name].replace("FMT", re.escape(want[name]))
            if not re.fullmatch(pattern, out.strip()):
                problems.append(f"main.{name}: gdb printed {out.strip()!r}, expected {pattern!r}")
            continue
        try:
            got = gdb_to_fmt(out)
        except ValueError as e:
            problems.append(f"main.{name}: cannot read gdb's output ({e}): {out[:300]!r}")
            continue
        if got != want[name]:
            problems.append(f"main.{name}:\n  fmt: {want[name][:300]}\n  gdb: {got[:300]}\n  gdb printed: {out[:300]}")
    for k, (cmd, pattern) in enumerate(extra):
        out = run.output(len(names) + 2 + k).strip()
        if pattern is not None and not re.fullmatch(pattern, out):
            problems.append(f"`{cmd}`: gdb printed {out[:300]!r}, expected {pattern!r}")
    if problems:
        pytest.fail(f"gdb's printing differs from fmt ({values_file}):\n" + "\n".join(problems) + f"\n\n{run.describe()[:3000]}", pytrace=False)
