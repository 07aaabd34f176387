"""Session fixtures for goroscope's end-to-end tests.

For every supported Go release (scripts/go-versions, or the space-separated
$GOROSCOPE_GO_VERSIONS) the examples under examples/ are built once into
tests/.work/<version>/, and each long-running example is started once: the
harness waits for its "ready pid=N" line, reads the stacks file it wrote
(the runtime's own runtime.Stack(buf, true) dump) and immediately takes a
core with gcore, before any test attaches to the live process. Everything
for one version (processes, cores) is torn down before the next version
starts; tests are grouped by version for that (a session-scoped
parametrized fixture).

Each example is built in several variants (variants.py: default, stripped,
nodwarf, pie, cgo, race); a test parametrized with ``example`` or
``crash_example`` gets a variants.Build and its id names the variant
(``test_gcore_bt[1.26.6-cms-stripped]``; the default build keeps the plain
example name). Tests run release by release and, within a release, build by
build: the default builds stay up for the whole release (the shape tests
compare every variant with them), a variant's process and cores are
released as soon as the next variant starts.

Environment:
  GOROSCOPE_BIN           goroscope binary (default target/release/goroscope)
  GOROSCOPE_GO_VERSIONS   space-separated Go versions to test (default: all
                          in scripts/go-versions)
  GOROSCOPE_EXAMPLES_DIR  examples directory (default examples/)
  GOROSCOPE_KEEP_CORES=1  keep cores in tests/.work after the run
  GOROSCOPE_WORK_DIR      scratch directory (default tests/.work)
  GOROSCOPE_VARIANTS, GOROSCOPE_FULL_MATRIX_GO   see variants.py
"""

from __future__ import annotations

import dataclasses
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from .traceback import Goroutine, parse_traceback
from .variants import Build, builds_for
from .variants import sort_key as build_sort_key

REPO = Path(__file__).resolve().parents[2]
WORK = Path(os.environ.get("GOROSCOPE_WORK_DIR") or REPO / "tests" / ".work").resolve()
EXAMPLES_DIR = Path(os.environ.get("GOROSCOPE_EXAMPLES_DIR") or REPO / "examples").resolve()
GO_TOOLCHAIN = REPO / "scripts" / "go-toolchain"
GO_VERSIONS_FILE = REPO / "scripts" / "go-versions"

READY_TIMEOUT = 60.0  # seconds to wait for "ready pid=N"
BUILD_TIMEOUT = 900.0
GCORE_TIMEOUT = 300.0
TOOL_TIMEOUT = 300.0
CRASH_TIMEOUT = 60.0
MISSING = "<no examples>"

_READY_RE = re.compile(r"^ready pid=(\d+)\s*$", re.M)

# Every process group the harness started, so that nothing survives the
# session even when a finalizer is skipped (Ctrl-C, internal errors).
_STARTED_PGIDS: set[int] = set()


# ---------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------


def go_versions() -> list[str]:
    env = os.environ.get("GOROSCOPE_GO_VERSIONS", "").split()
    if env:
        return env
    out = []
    for line in GO_VERSIONS_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def is_crash_example(name: str) -> bool:
    """Examples named crash* die with a core dump instead of staying up."""
    return name.startswith("crash")


# Examples with their own tests instead of the ready/stacks protocol:
# overflow crashes by design before it could print `ready` (test_stacks.py);
# values holds variables for the debugger value printers (test_gdb.py);
# fmtvalues is compared with its own fmt output by `print` (test_values.py).
OWN_TESTS = {"overflow", "values", "fmtvalues"}


def all_examples() -> list[str]:
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(p.name for p in EXAMPLES_DIR.iterdir() if (p / "go.mod").is_file() and p.name not in OWN_TESTS)


def live_examples() -> list[str]:
    return [n for n in all_examples() if not is_crash_example(n)]


def crash_examples() -> list[str]:
    return [n for n in all_examples() if is_crash_example(n)]


def live_builds(version: str) -> list[Build]:
    """Every (example, variant) of the long-running examples for a release,
    default builds first."""
    out = [b for n in live_examples() for b in builds_for(n, EXAMPLES_DIR / n, version)]
    return sorted(out, key=build_sort_key)


def crash_builds(version: str) -> list[Build]:
    out = [b for n in crash_examples() for b in builds_for(n, EXAMPLES_DIR / n, version)]
    return sorted(out, key=build_sort_key)


def _marker_filter(metafunc: pytest.Metafunc, builds: list[Build]) -> list[Build]:
    """@pytest.mark.builds(examples=(...), variants=(...), not_variants=(...))
    narrows the builds a test runs on."""
    m = metafunc.definition.get_closest_marker("builds")
    if m is None:
        return builds
    ex = m.kwargs.get("examples")
    vs = m.kwargs.get("variants")
    nvs = m.kwargs.get("not_variants") or ()
    return [b for b in builds if (ex is None or b.example in ex) and (vs is None or b.variant.id in vs) and b.variant.id not in nvs]


# ---------------------------------------------------------------------------
# pytest hooks
# ---------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # go_version first so that ids read test_gcore_bt[1.26.6-cms-stripped].
    # go_version and the build are parametrized together: the variants may
    # differ between releases (GOROSCOPE_FULL_MATRIX_GO).
    names = metafunc.fixturenames
    for argname, builds_of, examples in (
        ("example", live_builds, live_examples),
        ("crash_example", crash_builds, crash_examples),
    ):
        if argname not in names:
            continue
        if "go_version" not in names:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: `{argname}` needs `go_version` (fixture goenv)")
        combos, ids = [], []
        for v in go_versions():
            for b in _marker_filter(metafunc, builds_of(v)) if examples() else [MISSING]:
                combos.append((v, b))
                ids.append(f"{v}-{b}")
        metafunc.parametrize(("go_version", argname), combos, indirect=["go_version"], scope="session", ids=ids)
        return
    if "go_version" in names:
        metafunc.parametrize("go_version", go_versions(), indirect=True, scope="session", ids=str)


def _item_order(item: pytest.Item, versions: list[str]) -> tuple:
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    v = params.get("go_version")
    vi = versions.index(v) if v in versions else -1
    b = params.get("example", params.get("crash_example"))
    if isinstance(b, Build):
        return (vi, 1, build_sort_key(b), b.id)
    return (vi, 0, (0, ""), "")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # With pytest-xdist (--dist loadgroup) keep each Go version on one worker.
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "go_version" in callspec.params:
            item.add_marker(pytest.mark.xdist_group(f"go{callspec.params['go_version']}"))


class _BuildOrder:
    """Runs release by release and, inside a release, build by build: a
    stable sort after pytest's own fixture-based reordering, so that each
    variant's process and cores exist only while its tests run."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        versions = go_versions()
        items.sort(key=lambda it: _item_order(it, versions))


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_BuildOrder(), "goroscope-build-order")


# Lines the tests want printed at the end of the run (e.g. what the caddy
# test found), whether they passed or not.
SUMMARY_LINES: list[str] = []

_VERSION_IN_ID = re.compile(r"\[(\d+\.\d+(?:\.\d+)?(?:(?:rc|beta)\d+)?)[-\]]")
_SECONDS_PER_VERSION: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    m = _VERSION_IN_ID.search(report.nodeid)
    key = m.group(1) if m else "(no Go release)"
    _SECONDS_PER_VERSION[key] = _SECONDS_PER_VERSION.get(key, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if SUMMARY_LINES:
        terminalreporter.write_sep("-", "e2e notes")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)
    if not _SECONDS_PER_VERSION:
        return
    terminalreporter.write_sep("-", "e2e time per Go release (setup + call + teardown, builds included)")
    for k, v in _SECONDS_PER_VERSION.items():
        terminalreporter.write_line(f"  {k:>16}: {v:7.1f}s")


def pytest_unconfigure(config: pytest.Config) -> None:
    for pgid in list(_STARTED_PGIDS):
        _kill_group(pgid)
    kill_examples_under(WORK)


def kill_examples_under(root: Path) -> None:
    """Kills every process whose executable lies under ``root``: a safety
    net for example processes that left their process group (a debugger
    attach/detach, a process started by a debugger), which would otherwise
    outlive the run (cms spins a core) and slow every later test."""
    mine = os.getpid()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == mine:
            continue
        try:
            exe = Path(os.readlink(d / "exe"))
        except OSError:
            continue
        if exe.is_relative_to(root):
            try:
                os.kill(int(d.name), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"goroscope: {goroscope_path()}",
        f"go versions: {' '.join(go_versions())}",
        f"examples: {' '.join(all_examples()) or '(none)'} in {EXAMPLES_DIR}",
        "builds per release: " + "; ".join(f"{v}: {' '.join(str(b) for b in live_builds(v) + crash_builds(v))}" for v in go_versions()),
        f"core_pattern: {read_core_pattern()!r}",
    ]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def goroscope_path() -> Path:
    return Path(os.environ.get("GOROSCOPE_BIN") or REPO / "target" / "release" / "goroscope")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        pass
    _STARTED_PGIDS.discard(pgid)


def _tail(path: Path, n: int = 4000) -> str:
    try:
        data = path.read_text(errors="replace")
    except OSError:
        return "(none)"
    return data[-n:] if data else "(empty)"


def read_core_pattern() -> str:
    try:
        return Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError:
        return ""


def _core_uses_pid() -> bool:
    try:
        return Path("/proc/sys/kernel/core_uses_pid").read_text().strip() == "1"
    except OSError:
        return False


def _enable_core_dumps() -> None:  # preexec_fn
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def find_core_file(cwd: Path, pid: int, exe: Path) -> Optional[Path]:
    """Locate the kernel-written core of process ``pid`` started in ``cwd``,
    following /proc/sys/kernel/core_pattern (plain-file patterns only)."""
    pattern = read_core_pattern() or "core"
    comm = exe.name[:15]
    subst = {"p": str(pid), "P": str(pid), "i": str(pid), "I": str(pid), "e": comm, "E": str(exe).replace("/", "!"), "%": "%"}
    candidates: list[Path] = []
    if "%" in pattern:
        expanded = re.sub(r"%(.)", lambda m: subst.get(m.group(1), "*"), pattern)
    else:
        expanded = pattern
    base = Path(expanded) if expanded.startswith("/") else cwd / expanded
    if "*" in expanded:
        candidates.extend(sorted(base.parent.glob(base.name)))
    else:
        candidates.append(base)
        if "%p" not in pattern:
            candidates.append(base.with_name(f"{base.name}.{pid}"))
    candidates += [cwd / f"core.{pid}", cwd / "core"]
    for c in candidates:
        if c.is_file():
            return c
    return None


@dataclasses.dataclass
class ToolResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def cmd(self) -> str:
        return " ".join(self.args)

    def describe(self) -> str:
        return (
            f"$ {self.cmd}\nexit code {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stderr ---\n{self.stderr[-4000:] or '(empty)'}\n"
            f"--- stdout (head) ---\n{self.stdout[:2000] or '(empty)'}"
        )


def run_goroscope(*args: str, timeout: float = TOOL_TIMEOUT, save_to: Optional[Path] = None) -> ToolResult:
    exe = goroscope_path()
    if not exe.is_file():
        pytest.fail(
            f"goroscope binary not found at {exe}; build it with `cargo build --release` (scripts/test does) or point GOROSCOPE_BIN at it",
            pytrace=False,
        )
    argv = [str(exe), *args]
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"$ {' '.join(argv)}\ntimed out after {timeout:.0f}s\nstderr: {(e.stderr or b'')[-2000:]!r}", pytrace=False)
    res = ToolResult(argv, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), time.monotonic() - t0)
    if save_to is not None:
        save_to.write_text(f"$ {res.cmd}\n# exit {res.returncode}\n# stderr:\n{res.stderr}\n# stdout:\n{res.stdout}")
    return res


def assert_no_panic(res: ToolResult) -> None:
    if res.returncode == 101 or "panicked at" in res.stderr:
        pytest.fail(f"goroscope panicked (Rust panic, exit 101):\n{res.describe()}", pytrace=False)
    if res.returncode < 0:
        pytest.fail(f"goroscope was killed by signal {-res.returncode}:\n{res.describe()}", pytrace=False)


def assert_ok(res: ToolResult) -> None:
    assert_no_panic(res)
    if res.returncode != 0:
        pytest.fail(f"goroscope failed:\n{res.describe()}", pytrace=False)


def assert_clean_error(res: ToolResult, *, mentions: tuple[str, ...] = ()) -> None:
    """Non-zero exit, a message on stderr, no Rust panic."""
    assert_no_panic(res)
    if res.returncode == 0:
        pytest.fail(f"expected goroscope to fail, it exited 0:\n{res.describe()}", pytrace=False)
    if not res.stderr.strip():
        pytest.fail(f"goroscope failed without a message on stderr:\n{res.describe()}", pytrace=False)
    low = res.stderr.lower()
    if mentions and not any(m.lower() in low for m in mentions):
        pytest.fail(f"goroscope's error message mentions none of {mentions}:\n{res.describe()}", pytrace=False)


def process_trace_state(pid: int) -> list[str]:
    """Problems with a live process after the tool detached: any thread
    stopped (state t/T) or traced (TracerPid != 0)."""
    problems = []
    tasks = Path(f"/proc/{pid}/task")
    try:
        tids = sorted(int(t.name) for t in tasks.iterdir())
    except FileNotFoundError:
        return [f"process {pid} is gone"]
    for tid in tids:
        try:
            status = (tasks / str(tid) / "status").read_text()
        except FileNotFoundError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        state = fields.get("State", "?").strip()
        tracer = fields.get("TracerPid", "0").strip()
        if state[:1] in ("t", "T"):
            problems.append(f"thread {tid} is stopped (State: {state})")
        if tracer != "0":
            problems.append(f"thread {tid} is still traced (TracerPid: {tracer})")
    return problems


# ---------------------------------------------------------------------------
# Per-version environment
# ---------------------------------------------------------------------------


class HarnessError(Exception):
    pass


@dataclasses.dataclass
class RunningExample:
    """A long-running example: its process, Go's stack dump and a gcore."""

    name: str  # the build id: "cms", "cms-stripped", ...
    version: str
    exe: Path
    proc: subprocess.Popen
    pid: int
    stacks_path: Path
    stacks_text: str
    dump: list[Goroutine]
    core: Optional[Path] = None
    core_error: Optional[str] = None
    started: float = 0.0
    build: Optional[Build] = None

    @property
    def writer_id(self) -> Optional[int]:
        """The goroutine that wrote the dump: runtime.Stack lists the calling
        goroutine first, as [running]. It has exited since."""
        if self.dump and self.dump[0].base_status == "running":
            return self.dump[0].id
        return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def require_core(self) -> Path:
        if self.core is None:
            pytest.fail(f"no gcore core for {self.name} (go {self.version}): {self.core_error}", pytrace=False)
        return self.core

    def describe(self) -> str:
        return self.build.describe() if self.build else self.name


@dataclasses.dataclass
class CrashRun:
    name: str  # the build id: "crash", "crash-stripped", ...
    version: str
    exe: Path
    rundir: Path
    pid: int
    returncode: int
    stderr: str
    dump: list[Goroutine]
    core: Optional[Path]
    skip_reason: Optional[str] = None
    error: Optional[str] = None
    build: Optional[Build] = None

    def require_core(self) -> Path:
        if self.skip_reason:
            pytest.skip(self.skip_reason)
        if self.error:
            pytest.fail(self.error, pytrace=False)
        assert self.core is not None
        return self.core

    def describe(self) -> str:
        return self.build.describe() if self.build else self.name


class GoEnv:
    """Everything for one Go release; created once per version per session.

    Builds are variants.Build values (or plain example names, meaning the
    default build). Processes and cores of the default builds live until
    the release is done; those of any other build are released as soon as
    another non-default build is started (tests run build by build, see
    _BuildOrder), so at most one variant's core sits on disk beside the
    defaults' (cores are 1-2 GB each)."""

    def __init__(self, version: str):
        self.version = version
        # Under pytest-xdist each worker gets its own directory: --dist
        # loadgroup keeps a version on one worker (see
        # pytest_collection_modifyitems), but other modes (and pytest 9 with
        # xdist <= 3.8, where loadgroup has no effect) may split one version
        # across workers, which then each build and run their own copies.
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        self.workdir = WORK / version / worker if worker else WORK / version
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._go: Optional[str] = None
        self._go_error: Optional[str] = None
        self._built: dict[str, object] = {}
        self._running: dict[str, object] = {}
        self._crashes: dict[str, object] = {}
        self._cores: list[Path] = []
        self._memo: dict[object, object] = {}
        self._owned: dict[str, list[Path]] = {}  # build id -> scratch files/dirs
        self._known: dict[str, Build] = {}
        self._lru: list[str] = []  # non-default build ids, least recently used first

    # -- toolchain --------------------------------------------------------
    @property
    def go(self) -> str:
        if self._go is None and self._go_error is None:
            try:
                p = subprocess.run(
                    [str(GO_TOOLCHAIN), self.version],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=BUILD_TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                self._go_error = f"scripts/go-toolchain {self.version} timed out"
            else:
                if p.returncode == 0 and p.stdout.strip():
                    self._go = p.stdout.strip().splitlines()[-1]
                else:
                    self._go_error = f"scripts/go-toolchain {self.version} failed (exit {p.returncode}):\n{p.stderr[-3000:]}"
        if self._go_error:
            raise HarnessError(self._go_error)
        assert self._go is not None
        return self._go

    def go_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOPROXY="off", GOWORK="off")
        if not (env.get("GOCACHE") or env.get("XDG_CACHE_HOME") or env.get("HOME")):
            env["GOCACHE"] = str(WORK / "gocache")
        return env

    def as_build(self, b) -> Build:
        if not isinstance(b, Build):
            if b == MISSING:
                raise HarnessError(f"no examples found in {EXAMPLES_DIR} (expected standalone Go modules such as examples/cms)")
            from .variants import DEFAULT, imports_c

            b = Build(b, DEFAULT, imports_c(EXAMPLES_DIR / b))
        self._known[b.id] = b
        return b

    def memo(self, key: tuple, fn):
        """fn() computed once per release (e.g. goroscope's output on a
        default build's core, which every variant is compared with). Keys
        are (kind, build id, ...): released with that build."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def own(self, b: Build, path: Path) -> None:
        """Delete ``path`` (file or directory) when build ``b`` is released."""
        self._owned.setdefault(self.as_build(b).id, []).append(path)

    # -- build ------------------------------------------------------------
    def build(self, b) -> Path:
        b = self.as_build(b)
        cached = self._built.get(b.id)
        if isinstance(cached, Path):
            return cached
        if isinstance(cached, HarnessError):
            raise cached
        try:
            exe = self.build_to(b, self.workdir / f"{b.id}-{self.version}")
        except HarnessError as e:
            self._built[b.id] = e
            raise
        self._built[b.id] = exe
        return exe

    def build_to(self, b: Build, exe: Path, *, extra_ldflags: tuple[str, ...] = (), src: Optional[Path] = None) -> Path:
        """Build ``b`` into ``exe`` (uncached; extra -ldflags such as -X, or
        another source directory, for the tests that need a different build
        of the same program)."""
        src = src or EXAMPLES_DIR / b.example
        if not (src / "go.mod").is_file():
            raise HarnessError(f"example {b.example}: {src}/go.mod not found")
        cmd = [self.go, *b.go_build_args(exe, extra_ldflags)]
        env = self.go_env()
        env.update(b.env())
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, cwd=src, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"building {b.describe()} with go {self.version} timed out after {BUILD_TIMEOUT:.0f}s")
        if p.returncode != 0:
            hint = ""
            if b.cgo_enabled and shutil.which(env.get("CC") or "gcc") is None:
                hint = "\n(cgo builds need a C compiler: install gcc and libc6-dev)"
            raise HarnessError(
                f"building {b.describe()} with go {self.version} failed (exit {p.returncode}):\n"
                f"$ (cd {src} && GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off {' '.join(f'{k}={v}' for k, v in b.env().items())} "
                f"{' '.join(repr(c) if ' ' in c else c for c in cmd)})\n{p.stdout}{p.stderr}{hint}"
            )
        sys.stderr.write(f"[e2e] built {exe.name} in {time.monotonic() - t0:.1f}s\n")
        return exe

    # -- lifetime of variants ------------------------------------------------
    def activate(self, b: Build) -> None:
        """Starting a non-default build releases the least recently used
        other non-default builds (processes killed, cores and scratch files
        deleted, memos dropped): one variant is kept (three under
        pytest-xdist); defaults stay until the release is done. Serially,
        tests run build by build, so one variant at a time is enough. Under pytest-xdist the tests of a build
        are spread over the workers (--dist loadgroup has no effect with
        pytest 9 and xdist <= 3.8), so each worker keeps a few."""
        b = self.as_build(b)
        if b.is_default:
            return
        if b.id in self._lru:
            self._lru.remove(b.id)
        self._lru.append(b.id)
        keep = 1 if not os.environ.get("PYTEST_XDIST_WORKER") else 3
        while len(self._lru) > keep:
            self._release_build(self._lru.pop(0))

    def _release_build(self, bid: str) -> None:
        for cache in (self._running, self._crashes):
            obj = cache.pop(bid, None)
            if obj is not None:
                self._release(obj)
        for path in self._owned.pop(bid, []):
            self._delete(path)
        for key in [k for k in self._memo if len(k) > 1 and k[1] == bid]:
            obj = self._memo.pop(key)
            for o in obj if isinstance(obj, tuple) else (obj,):
                if isinstance(o, RunningExample):
                    self._release(o)

    @staticmethod
    def _delete(path: Path) -> None:
        if os.environ.get("GOROSCOPE_KEEP_CORES") == "1":
            return
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def _release(self, obj) -> None:
        if isinstance(obj, RunningExample):
            self._stop(obj.proc)
            if obj.core is not None and os.environ.get("GOROSCOPE_KEEP_CORES") != "1":
                obj.core.unlink(missing_ok=True)
        elif isinstance(obj, CrashRun):
            if obj.core is not None and os.environ.get("GOROSCOPE_KEEP_CORES") != "1":
                obj.core.unlink(missing_ok=True)

    # -- long-running examples -------------------------------------------
    def running(self, b) -> RunningExample:
        b = self.as_build(b)
        cached = self._running.get(b.id)
        if isinstance(cached, RunningExample):
            return cached
        if isinstance(cached, HarnessError):
            raise cached
        self.activate(b)
        try:
            r = self.launch(b, self.build(b), self.workdir, b.id)
        except HarnessError as e:
            self._running[b.id] = e
            raise
        self._running[b.id] = r
        return r

    def launch(self, b: Build, exe: Path, rundir: Path, tag: str, *, core: bool = True) -> RunningExample:
        """Start ``exe`` (a build of example ``b``) in ``rundir``, wait for
        its ready line, read its stacks file and take a gcore (named
        ``TAG.core.PID``). The caller owns the result: stop it with
        GoEnv.stop(r) unless it came from running()."""
        name = tag
        stacks = rundir / f"{tag}.stacks"
        out_path = rundir / f"{tag}.stdout"
        err_path = rundir / f"{tag}.stderr"
        for p in (stacks, out_path, err_path):
            p.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("GOTRACEBACK", "GODEBUG", "GOMAXPROCS")}
        what = f"example {b.describe()} (go {self.version})"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [str(exe), "-stacks", str(stacks)],
                cwd=rundir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        _STARTED_PGIDS.add(proc.pid)
        started = time.monotonic()
        deadline = started + READY_TIMEOUT
        pid = None
        while time.monotonic() < deadline:
            m = _READY_RE.search(out_path.read_text(errors="replace"))
            if m:
                pid = int(m.group(1))
                break
            if proc.poll() is not None:
                self._stop(proc)
                raise HarnessError(
                    f"{what} exited with {proc.returncode} before printing 'ready pid=N'\nstdout:\n{_tail(out_path)}\nstderr:\n{_tail(err_path)}"
                )
            time.sleep(0.05)
        if pid is None:
            self._stop(proc)
            raise HarnessError(f"{what} printed no 'ready pid=N' line within {READY_TIMEOUT:.0f}s\nstdout:\n{_tail(out_path)}\nstderr:\n{_tail(err_path)}")
        if pid != proc.pid:
            self._stop(proc)
            raise HarnessError(f"{what}: ready line says pid={pid} but the process is {proc.pid}")
        if not stacks.is_file():
            self._stop(proc)
            raise HarnessError(f"{what} printed ready but wrote no stacks file {stacks}")
        text = stacks.read_text(errors="replace")
        dump = parse_traceback(text)
        if not dump:
            self._stop(proc)
            raise HarnessError(f"no goroutines parsed from {stacks}:\n{text[:2000]}")
        r = RunningExample(name, self.version, exe, proc, pid, stacks, text, dump, started=started, build=b)
        # Take the core now, before any test attaches to the live process.
        if core:
            self._gcore(r, rundir / f"{tag}.core")
        return r

    def stop(self, r: RunningExample) -> None:
        """Stop a process from launch() and delete its core."""
        self._release(r)

    def stop_process(self, r: RunningExample) -> None:
        """Stop a process from launch(), keeping its core (deleted with the
        build, or at the end of the release)."""
        self._stop(r.proc)

    def _gcore(self, r: RunningExample, prefix: Path) -> None:
        gcore = shutil.which("gcore")
        if gcore is None:
            r.core_error = "gcore not found (install gdb; scripts/test does)"
            return
        core = Path(f"{prefix}.{r.pid}")
        core.unlink(missing_ok=True)
        self._cores.append(core)
        t0 = time.monotonic()
        try:
            p = subprocess.run(
                [gcore, "-o", str(prefix), str(r.pid)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=GCORE_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            r.core_error = f"gcore -o {prefix} {r.pid} timed out after {GCORE_TIMEOUT:.0f}s"
            return
        if p.returncode != 0 or not core.is_file():
            r.core_error = f"gcore -o {prefix} {r.pid} failed (exit {p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}"
            return
        if not r.alive():
            r.core_error = f"example {r.name} died while gcore ran (exit {r.proc.returncode})"
            return
        r.core = core
        sys.stderr.write(f"[e2e] gcore {core.name}: {core.stat().st_size >> 20} MiB in {time.monotonic() - t0:.1f}s\n")

    # -- crashing examples ------------------------------------------------
    def crash(self, b) -> CrashRun:
        b = self.as_build(b)
        cached = self._crashes.get(b.id)
        if isinstance(cached, CrashRun):
            return cached
        if isinstance(cached, HarnessError):
            raise cached
        self.activate(b)
        try:
            c = self._crash(b)
        except HarnessError as e:
            self._crashes[b.id] = e
            raise
        self._crashes[b.id] = c
        return c

    def _crash(self, b: Build) -> CrashRun:
        name = b.id
        exe = self.build(b)
        pattern = read_core_pattern()
        rundir = self.workdir / f"{name}-run"
        shutil.rmtree(rundir, ignore_errors=True)
        rundir.mkdir(parents=True)
        what = f"example {b.describe()} (go {self.version})"
        if pattern.startswith("|"):
            return CrashRun(
                name,
                self.version,
                exe,
                rundir,
                0,
                0,
                "",
                [],
                None,
                skip_reason=(
                    f"kernel.core_pattern pipes cores to a program ({pattern!r}); crash-core tests need a plain "
                    f"file pattern, e.g. `echo core > /proc/sys/kernel/core_pattern` (as root, outside containers)"
                ),
                build=b,
            )
        env = {k: v for k, v in os.environ.items() if k not in ("GODEBUG", "GOMAXPROCS")}
        env["GOTRACEBACK"] = "crash"
        out_path, err_path = rundir / "stdout", rundir / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [str(exe), "-stacks", str(rundir / "stacks.txt")],
                cwd=rundir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=_enable_core_dumps,
            )
        _STARTED_PGIDS.add(proc.pid)
        try:
            rc = proc.wait(timeout=CRASH_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._stop(proc)
            raise HarnessError(f"{what} did not crash within {CRASH_TIMEOUT:.0f}s\nstdout:\n{_tail(out_path)}\nstderr:\n{_tail(err_path)}")
        _kill_group(proc.pid)
        stderr = err_path.read_text(errors="replace")
        core = find_core_file(rundir, proc.pid, exe)
        if core is not None:
            self._cores.append(core)
        error = None
        if rc != -signal.SIGABRT:
            error = f"{what} with GOTRACEBACK=crash exited with {rc}, expected death by SIGABRT (-{int(signal.SIGABRT)})\nstderr:\n{stderr[-4000:]}"
        elif core is None:
            limit = resource.getrlimit(resource.RLIMIT_CORE)
            error = (
                f"{what} died of SIGABRT but no core file was found in {rundir} "
                f"(core_pattern={pattern!r}, core_uses_pid={_core_uses_pid()}, harness RLIMIT_CORE={limit})"
            )
        return CrashRun(name, self.version, exe, rundir, proc.pid, rc, stderr, parse_traceback(stderr), core, error=error, build=b)

    # -- teardown -----------------------------------------------------------
    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        _kill_group(proc.pid)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        for r in self._running.values():
            if isinstance(r, RunningExample):
                self._stop(r.proc)
        # Under xdist every worker has its own directory; serially the
        # release's directory holds only this GoEnv's builds.
        kill_examples_under(self.workdir)
        for obj in self._memo.values():
            for o in obj if isinstance(obj, tuple) else (obj,):
                if isinstance(o, RunningExample):
                    self._stop(o.proc)
        for paths in self._owned.values():
            for path in paths:
                self._delete(path)
        if os.environ.get("GOROSCOPE_KEEP_CORES") != "1":
            for core in self._cores:
                core.unlink(missing_ok=True)
            for c in self._crashes.values():
                if isinstance(c, CrashRun):
                    shutil.rmtree(c.rundir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def go_version(request: pytest.FixtureRequest) -> str:
    """The Go release under test (parametrized session-wide, so that all tests
    of one version run together)."""
    return request.param


@pytest.fixture(scope="session")
def goenv(go_version: str):
    env = GoEnv(go_version)
    yield env
    env.close()


@pytest.fixture(scope="session")
def goroscope() -> Path:
    exe = goroscope_path()
    if not exe.is_file():
        pytest.fail(
            f"goroscope binary not found at {exe}; build it with `cargo build --release` (scripts/test does) or set GOROSCOPE_BIN",
            pytrace=False,
        )
    return exe


def _harness(call):
    try:
        return call()
    except HarnessError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(autouse=True)
def _current_build(request: pytest.FixtureRequest) -> None:
    """Any test of a non-default build releases the previous variant's
    processes and cores first (tests run build by build)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None:
        return
    b = callspec.params.get("example", callspec.params.get("crash_example"))
    if isinstance(b, Build) and not b.is_default:
        request.getfixturevalue("goenv").activate(b)


@pytest.fixture
def running(goenv: GoEnv, example: Build) -> RunningExample:
    """The example build, running (started once per release), with Go's
    stack dump and a gcore taken right after ready."""
    r = _harness(lambda: goenv.running(example))
    return r


@pytest.fixture
def crashed(goenv: GoEnv, crash_example: Build) -> CrashRun:
    return _harness(lambda: goenv.crash(crash_example))


@pytest.fixture
def any_core(goenv: GoEnv) -> tuple[RunningExample, Path]:
    """A gcore core of the default build of cms (else the first long-running
    example), for error-path tests."""
    names = live_examples()
    if not names:
        pytest.fail(f"no long-running examples in {EXAMPLES_DIR}", pytrace=False)
    name = "cms" if "cms" in names else names[0]
    r = _harness(lambda: goenv.running(name))
    return r, r.require_core()
