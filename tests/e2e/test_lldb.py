"""goroscope inside a real LLDB: `lldb-16 -b` processes driven per case, on
gcore cores and live processes (LLDB attached by pid).

- `go goroutines`, `go bt N`, `go chain N`, ... print byte for byte what
  the CLI prints on the same target;
- the OperatingSystem plugin lists every goroutine that is not running on
  an OS thread as a thread (`thread list`: name 'goroutine N', queue = its
  wait reason), and `bt` on that thread (`go goroutine N bt`) shows the
  user frames of the runtime's own traceback: LLDB 16 reads no Go DWARF
  beyond line tables, so an inlined call is not a frame of its own there:
  the frame carries the physical function's name and the innermost inlined
  call's file:line. LLDB's frames must be goroscope's physical frames, all
  of them down to runtime.goexit (the plugin's choice of rbp keeps LLDB's
  unwinder on track; see docs/debuggers.md).

LLDB loads goroscope with `command script import scripts/goroscope_lldb.py`
(the importable name of scripts/goroscope-lldb.py), which imports the
installed package if LLDB's Python can ($GOROSCOPE_GDB_PYTHONPATH, where
scripts/test installs the wheel), else the in-tree build.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

import pytest

from .conftest import REPO, RunningExample, assert_ok, run_goroscope
from .test_gdb import _check_detached, cli_ok, gdb_env, user_goroutines, without_busy
from .traceback import Goroutine, normalize_function

pytestmark = [pytest.mark.matrix, pytest.mark.lldb]

LLDB_SCRIPT = REPO / "scripts" / "goroscope_lldb.py"
MARK = "@@goroscope-e2e@@"
LLDB_TIMEOUT = 300.0
BUILDS = pytest.mark.builds(examples=("cms", "lockorder"), variants=("default",))

# A frame line of LLDB's `bt`: "  * frame #3: 0x… exe`FUNC at FILE:LINE"
# (FILE is a base name; a column may follow).
_BT_RE = re.compile(r"^\*?\s*frame #(\d+): 0x[0-9a-f]+ [^`]+`(.+?) at ([^:\s]+):(\d+)(?::\d+)?$")
_THREAD_RE = re.compile(r"thread #(\d+): tid = (\d+), .*name = 'goroutine (\d+)', queue = '([^']*)'")
GOROUTINE_TID_BASE = 10**12


def lldb_path() -> str:
    for name in ("lldb-16", "lldb"):
        p = shutil.which(name)
        if p:
            return p
    pytest.fail("lldb-16 not found (scripts/test installs lldb-16 and python3-lldb-16)", pytrace=False)


class LldbRun:
    """One `lldb -b` process: each command's output, separated by markers."""

    def __init__(self, argv: list[str], proc: subprocess.CompletedProcess, commands: list[str], seconds: float):
        self.argv = argv
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.commands = commands
        self.seconds = seconds

    def describe(self) -> str:
        shown = " ".join(f"'{a}'" if " " in a else a for a in self.argv)
        return (
            f"$ {shown}\nexit {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stderr ---\n{self.stderr[-4000:] or '(empty)'}\n--- stdout (head) ---\n{self.stdout[:6000] or '(empty)'}"
        )

    def output(self, i: int) -> str:
        """What command i printed: LLDB echoes each command as `(lldb) CMD`;
        `script print(MARK)` lines fence the outputs."""
        start = f"{MARK}{i}\n"
        end = f"{MARK}{i + 1 if i + 1 < len(self.commands) else 'end'}\n"
        a = self.stdout.find(start)
        b = self.stdout.find(end, a + len(start)) if a >= 0 else -1
        if a < 0 or b < 0:
            pytest.fail(f"no output section for `{self.commands[i]}` in lldb's stdout\n{self.describe()}", pytrace=False)
        text = self.stdout[a + len(start) : b]
        echo = f"(lldb) {self.commands[i]}\n"
        if text.startswith(echo):
            text = text[len(echo) :]
        # the echo of the next marker command
        text = re.sub(r"\(lldb\) script print\('[^']*'\)\n\Z", "", text)
        return text

    def check_clean(self) -> None:
        for bad in ("Traceback (most recent call last)", "internal error", "cannot load the native module", "panicked at", "PLEASE submit a bug report"):
            if bad in self.stderr or bad in self.stdout:
                pytest.fail(f"lldb printed {bad!r}:\n{self.describe()}", pytrace=False)


def lldb_batch(target: list[str], commands: list[str], *, env: Optional[dict[str, str]] = None) -> LldbRun:
    """Runs `lldb -b` with goroscope imported before the target loads, then
    `commands`, each preceded by a marker line."""
    argv = [lldb_path(), "--no-lldbinit", "-b"]
    argv += ["-O", "settings set use-color false", "-O", "settings set stop-line-count-before 0", "-O", "settings set stop-line-count-after 0"]
    argv += ["-O", f"command script import {LLDB_SCRIPT}"]
    for i, c in enumerate(commands):
        argv += ["-o", f"script print('{MARK}{i}')", "-o", c]
    argv += ["-o", f"script print('{MARK}end')"]
    argv += target
    t0 = time.monotonic()
    try:
        p = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", timeout=LLDB_TIMEOUT, env={**gdb_env(), **(env or {})}
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"lldb timed out after {LLDB_TIMEOUT:.0f}s: {' '.join(argv)}", pytrace=False)
    return LldbRun(argv, p, commands, time.monotonic() - t0)


def compare_with_cli(run: LldbRun, i: int, cli, *, live: bool = False) -> None:
    got, want = run.output(i), cli.stdout
    if live:
        got, want = without_busy(got), without_busy(want)
    if got != want:
        import difflib

        diff = "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(), "goroscope CLI", f"lldb: {run.commands[i]}", lineterm="", n=2))
        pytest.fail(f"`{run.commands[i]}` in lldb differs from `{cli.cmd}`:\n{diff[:6000]}\n\n{run.describe()}", pytrace=False)


def lldb_frames(bt: str) -> list[tuple[str, str, int]]:
    out = []
    for line in bt.splitlines():
        m = _BT_RE.match(line.strip())
        if m:
            out.append((normalize_function(m.group(2)), m.group(3), int(m.group(4))))
    return out


def expected_physical(g: Goroutine) -> list[tuple[str, str, int]]:
    """The runtime's frames of g as LLDB shows them: one per physical frame
    (an inlined call, printed without +0x offset, joins its caller), named
    after the physical function, at the innermost call's file:line."""
    out, pending = [], []
    for f in g.frames:
        pending.append(f)
        if f.offset is not None:
            out.append((normalize_function(f.function), Path(pending[0].file).name, pending[0].line))
            pending = []
    return out


def physical_frames(cli_frames: list[dict]) -> list[tuple[str, str, int]]:
    """goroscope's frames of a goroutine (`bt ID --json`: every logical
    frame, runtime ones too) as LLDB shows them: one per physical frame,
    named after the physical function, at the innermost inlined call's
    file:line."""
    out, pending = [], []
    for f in cli_frames:
        pending.append(f)
        if not f["inlined"]:
            out.append((normalize_function(f["function"]), Path(pending[0]["file"]).name, pending[0]["line"]))
            pending = []
    return out


def _fn(name: str) -> str:
    return name[: -len(".abi0")] if name.endswith(".abi0") else name


def check_frames(g: Goroutine, bt: str, cli_frames: list[dict], context: str) -> None:
    """LLDB's frames of goroutine g's thread are goroscope's physical
    frames, all of them, in order (frame 0 is looked up at its pc, not
    pc-1: its line may differ), so the runtime's user frames of g are all
    there, in order."""
    got = [(_fn(fn), file, line) for fn, file, line in lldb_frames(bt)]
    want = physical_frames(cli_frames)
    if not got:
        pytest.fail(f"goroutine {g.id}: no frames in lldb's bt:\n{bt}\n{context}", pytrace=False)
    for i, f in enumerate(got):
        w = want[i] if i < len(want) else None
        if w is None or (f[0] != w[0] if i == 0 else f != w):
            pytest.fail(
                f"goroutine {g.id}: lldb's frame #{i} is {f}, goroscope's physical frame is {w}\n"
                f"goroscope's frames:\n" + "\n".join(f"  {x}" for x in want) + f"\nlldb's bt:\n{bt}\n{context}",
                pytrace=False,
            )
    if len(got) < len(want):
        pytest.fail(
            f"goroutine {g.id}: lldb's bt stops after {len(got)} of goroscope's {len(want)} physical frames\n"
            f"goroscope's frames:\n" + "\n".join(f"  {x}" for x in want) + f"\nlldb's bt:\n{bt}\n{context}",
            pytrace=False,
        )
    user = [w for w in expected_physical(g) if w[0].startswith("main.")]
    i = 0
    for w in user:
        while i < len(got) and got[i] != w:
            i += 1
        if i == len(got):
            pytest.fail(f"goroutine {g.id}: the runtime's frame {w} is not in lldb's bt\n{bt}\n{context}", pytrace=False)
        i += 1


def cli_frames(gid: int, *tgt: str) -> list[dict]:
    res = run_goroscope("bt", str(gid), "--json", *tgt)
    assert_ok(res)
    return json.loads(res.stdout)["goroutines"][0]["frames"]


def check_thread_list(run: LldbRun, i: int, gs: list[dict]) -> None:
    """Every goroutine not running on an OS thread is a thread named after
    it, with tid GOROUTINE_TID_BASE + id and its wait reason as queue."""
    listed = {int(m.group(3)): (int(m.group(2)), m.group(4)) for m in _THREAD_RE.finditer(run.output(i))}
    for g in gs:
        if g["status"] == "running":
            continue
        if g["id"] not in listed:
            pytest.fail(f"goroutine {g['id']} is not in lldb's `thread list`:\n{run.output(i)}\n{run.describe()}", pytrace=False)
        tid, queue = listed[g["id"]]
        if tid != GOROUTINE_TID_BASE + g["id"] or queue != (g.get("wait_reason") or g["status"]):
            want = (GOROUTINE_TID_BASE + g["id"], g.get("wait_reason") or g["status"])
            pytest.fail(f"goroutine {g['id']}: thread tid {tid}, queue {queue!r}; expected {want}", pytrace=False)


def cli_goroutines(*tgt: str) -> list[dict]:
    res = run_goroscope("goroutines", "--all", "--json", *tgt)
    assert_ok(res)
    return json.loads(res.stdout)["goroutines"]


# ---------------------------------------------------------------------------


@BUILDS
def test_lldb_core(running: RunningExample):
    """On a gcore core: the `go …` commands print the CLI's text; `thread
    list` lists the goroutines; `go goroutine N bt` shows the runtime's
    user frames."""
    core = running.require_core()
    tgt = ["--core", str(core), "--exe", str(running.exe)]
    gs = user_goroutines(running, 4)
    if not gs:
        pytest.fail(f"no goroutine to look at in {running.stacks_path}", pytrace=False)
    cases: list[tuple[str, Optional[list[str]]]] = [
        ("go goroutines", ["goroutines"]),
        ("go bt --all", ["bt", "--all"]),
        ("go deadlocks", ["deadlocks"]),
        ("go info", ["info"]),
    ]
    for g in gs[:2]:
        cases.append((f"go bt {g.id}", ["bt", str(g.id)]))
        cases.append((f"go chain {g.id}", ["chain", str(g.id)]))
    cases.append(("thread list", None))
    for g in gs:
        cases.append((f"go goroutine {g.id} bt", None))
    all_gs = cli_goroutines(*tgt)
    # A goroutine running on an OS thread at the gcore (cms's main.spin) is that thread.
    spin = next((g for g in all_gs if g["status"] == "running" and g.get("thread_id") and g.get("stack_source") == "registers"), None)
    if spin is not None:
        cases.append((f"go goroutine {spin['id']}", None))
    run = lldb_batch(["-c", str(core), str(running.exe)], [c for c, _ in cases])
    run.check_clean()
    for i, (_, argv) in enumerate(cases):
        if argv is not None:
            compare_with_cli(run, i, cli_ok(*argv, *tgt))
    n = next(i for i, (c, _) in enumerate(cases) if c == "thread list")
    check_thread_list(run, n, all_gs)
    if spin is not None:
        out = run.output(len(cases) - 1)
        if f"[goroutine {spin['id']} (running) runs on thread #" not in out or f"(tid {spin['thread_id']})]" not in out:
            pytest.fail(f"`go goroutine {spin['id']}` should select its OS thread (tid {spin['thread_id']}):\n{out}\n{run.describe()}", pytrace=False)
    for k, g in enumerate(gs):
        check_frames(g, run.output(n + 1 + k), cli_frames(g.id, *tgt), run.describe())


@BUILDS
@pytest.mark.live
def test_lldb_live(running: RunningExample):
    """LLDB attached to the running example (memory read through /proc):
    the CLI's text; `go threads` makes the goroutines threads right away
    (LLDB 16 loads the OS plugin after an attach has listed the threads)."""
    gs = user_goroutines(running, 2)
    # Right after an attach LLDB has listed the threads without the OS
    # plugin; `go threads` adds the goroutine threads (then `thread list`).
    cmds = ["go goroutines", f"go chain {gs[0].id}", f"go bt {gs[0].id}", "go threads", "thread list", f"go goroutine {gs[0].id} bt", "detach"]
    run = lldb_batch(["-p", str(running.pid)], cmds)
    run.check_clean()
    _check_detached(running, run)
    tgt = ["--pid", str(running.pid), "--exe", str(running.exe)]
    compare_with_cli(run, 0, cli_ok("goroutines", *tgt), live=True)
    compare_with_cli(run, 1, cli_ok("chain", str(gs[0].id), *tgt), live=True)
    compare_with_cli(run, 2, cli_ok("bt", str(gs[0].id), *tgt), live=True)
    for i in (3, 4):
        listed = {int(m.group(3)) for m in _THREAD_RE.finditer(run.output(i))}
        missing = [g.id for g in user_goroutines(running, 100) if g.id not in listed]
        if missing:
            pytest.fail(f"goroutines {missing} are not in lldb's `{run.commands[i]}`:\n{run.output(i)}\n{run.describe()}", pytrace=False)
    check_frames(gs[0], run.output(5), cli_frames(gs[0].id, *tgt), run.describe())


@BUILDS
@pytest.mark.live
def test_lldb_memory_api(running: RunningExample):
    """Memory read through LLDB's SBProcess.ReadMemory (what a remote
    target gets; forced here on the attached example): the CLI's text."""
    gs = user_goroutines(running, 2)
    cmds = ["go goroutines", f"go bt {gs[0].id}", f"go chain {gs[0].id}", "go info", "detach"]
    run = lldb_batch(["-p", str(running.pid)], cmds, env={"GOROSCOPE_LLDB_MEMORY": "lldb"})
    run.check_clean()
    _check_detached(running, run)
    if not re.search(rf"^target\s+process {running.pid} \(gdb-remote\)$", run.output(3), re.M):
        pytest.fail(f"`go info` should name the target read through lldb:\n{run.output(3)}\n{run.describe()}", pytrace=False)
    tgt = ["--pid", str(running.pid), "--exe", str(running.exe)]
    compare_with_cli(run, 0, cli_ok("goroutines", *tgt), live=True)
    compare_with_cli(run, 1, cli_ok("bt", str(gs[0].id), *tgt), live=True)
    compare_with_cli(run, 2, cli_ok("chain", str(gs[0].id), *tgt), live=True)


@pytest.mark.errors
def test_lldb_without_go_target():
    """No target, a non-Go program, bad arguments: one-line errors, never
    a Python traceback; `help go` describes the commands. (In batch mode
    LLDB stops at the first failing command: one process per error.)"""
    run = lldb_batch([], ["help go", "go", "go goroutines"])
    run.check_clean()
    if "go chain ID" not in run.output(0):
        pytest.fail(f"`help go` does not list the commands:\n{run.output(0)}\n{run.describe()}", pytrace=False)
    if "go goroutines" not in run.output(1):
        pytest.fail(f"`go` alone should print the commands:\n{run.describe()}", pytrace=False)
    if "error: goroscope: lldb is not debugging a program" not in run.stderr:
        pytest.fail(f"`go goroutines` without a target should say so:\n{run.describe()}", pytrace=False)
    run = lldb_batch([], ["go chain x"])
    run.check_clean()
    if "invalid value 'x'" not in run.stderr:
        pytest.fail(f"`go chain x` should print clap's usage error:\n{run.describe()}", pytrace=False)
    true = shutil.which("true") or "/bin/true"
    run = lldb_batch([true], ["process launch --stop-at-entry", "thread list", "go info"])
    run.check_clean()
    if "not a Go binary" not in run.stderr:
        pytest.fail(f"`go info` on {true} should say it is not a Go binary:\n{run.describe()}", pytrace=False)


def test_lldbinit_prints_import_line(goroscope: Path):
    res = run_goroscope("lldbinit")
    assert_ok(res)
    line = f"command script import {LLDB_SCRIPT.parent.resolve() / LLDB_SCRIPT.name}"
    if line not in res.stdout.splitlines():
        pytest.fail(f"`goroscope lldbinit` should print {line!r}:\n{res.describe()}", pytrace=False)
