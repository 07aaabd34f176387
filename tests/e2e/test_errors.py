"""Error paths: every failure must be a non-zero exit with a message on
stderr, never a Rust panic (exit 101, "panicked at")."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import RunningExample, assert_clean_error, process_trace_state, run_goroscope

pytestmark = [pytest.mark.errors]


def _copy_prefix(src: Path, dst: Path, size: int) -> None:
    """Copy the first ``size`` bytes of src to dst (in-kernel where possible)."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        left = size
        while left > 0:
            try:
                n = os.copy_file_range(fi.fileno(), fo.fileno(), left)
            except OSError:
                n = 0
            if n == 0:
                chunk = fi.read(min(left, 1 << 20))
                if not chunk:
                    break
                fo.write(chunk)
                n = len(chunk)
            left -= n


@pytest.mark.matrix
def test_truncated_core(any_core: tuple[RunningExample, Path]):
    r, core = any_core
    trunc = core.with_name(core.name + ".truncated")
    try:
        _copy_prefix(core, trunc, core.stat().st_size // 2)
        res = run_goroscope("info", "--core", str(trunc))
        assert_clean_error(res, mentions=("truncat",))
    finally:
        trunc.unlink(missing_ok=True)


@pytest.mark.matrix
@pytest.mark.parametrize(
    "argv",
    [["info"], ["goroutines"], ["bt", "--all"]],
    ids=["info", "goroutines", "bt"],
)
def test_wrong_exe(any_core: tuple[RunningExample, Path], argv: list[str]):
    """A Go core with --exe /bin/ls (not the program that dumped it)."""
    r, core = any_core
    res = run_goroscope(*argv, "--exe", "/bin/ls", "--core", str(core))
    assert_clean_error(res)


@pytest.mark.parametrize("argv", [["goroutines"], ["info"]], ids=["goroutines", "info"])
def test_not_a_core(goroscope: Path, argv: list[str]):
    res = run_goroscope(*argv, "--core", "/etc/passwd")
    assert_clean_error(res, mentions=("core", "elf"))


def test_missing_core_file(goroscope: Path, tmp_path: Path):
    missing = tmp_path / "no-such-core"
    res = run_goroscope("info", "--core", str(missing))
    assert_clean_error(res, mentions=("no such file", "not found", "does not exist", str(missing)))


def test_no_target(goroscope: Path):
    res = run_goroscope("goroutines")
    assert_clean_error(res)


def test_pid_gone(goroscope: Path):
    p = subprocess.Popen(["true"])
    p.wait()
    res = run_goroscope("goroutines", "--pid", str(p.pid))
    assert_clean_error(res)


def test_pid_not_go(goroscope: Path):
    """A live process without a Go runtime: a clean error, and the process
    is left running and untraced."""
    p = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(0.2)
        res = run_goroscope("goroutines", "--pid", str(p.pid))
        assert_clean_error(res)
        deadline = time.monotonic() + 2.0
        while (problems := process_trace_state(p.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert p.poll() is None, f"sleep died (exit {p.returncode}) after goroscope attached"
        assert not problems, "goroscope left the process in a bad state: " + "; ".join(problems)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
