"""The gdb side of goroscope's Host: what gdb is debugging, its threads
and registers, its memory; the one Controller; error and output helpers."""

from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Tuple

import gdb

from goroscope.core import Controller, Host, TargetInfo, UserError

REGISTERS = (
    "rax",
    "rbx",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "rbp",
    "rsp",
    "r8",
    "r9",
    "r10",
    "r11",
    "r12",
    "r13",
    "r14",
    "r15",
    "rip",
    "eflags",
    "fs_base",
    "gs_base",
)
PAGE = 4096
_CORE_RE = re.compile(r"Local core dump file:\s*\n\s*`(.+?)', file type")


class GdbHost(Host):
    """The current inferior of this gdb."""

    def target(self) -> TargetInfo:
        inf = gdb.selected_inferior()
        conn = getattr(inf, "connection", None)
        if conn is None or inf.pid == 0:
            raise UserError("goroscope: gdb is not debugging a program: load a core (`core-file CORE`), or run or attach to a Go program first")
        exe = inf.progspace.filename
        if not exe:
            raise UserError("goroscope: gdb has no executable for this target: load it with `file BINARY`")
        if exe.startswith("target:"):
            local = exe[len("target:") :]
            if not os.path.exists(local):
                raise UserError(f"goroscope: the executable {exe} is only on the remote side: load a local copy with `file BINARY`")
            exe = local
        if conn.type == "core":
            m = _CORE_RE.search(gdb.execute("info target", to_string=True))
            if not m:
                raise UserError("goroscope: gdb reads a core file but does not say which (`info target`)")
            return TargetInfo("core", exe, core=m.group(1), pid=inf.pid, describe=f"core file {m.group(1)}")
        if conn.type == "native":
            return TargetInfo("local", exe, pid=inf.pid, describe=f"process {inf.pid}")
        details = f" {conn.details}" if conn.details else ""
        return TargetInfo("remote", exe, pid=inf.pid, describe=f"{conn.description}{details}")

    def threads(self) -> List[Tuple[int, Dict[str, int]]]:
        inf = gdb.selected_inferior()
        orig = gdb.selected_thread()
        try:
            orig_frame = gdb.selected_frame()
        except gdb.error:
            orig_frame = None
        out = []
        try:
            for t in inf.threads():
                t.switch()
                f = gdb.newest_frame()
                regs = {}
                for r in REGISTERS:
                    try:
                        regs[r] = int(f.read_register(r)) & 0xFFFFFFFFFFFFFFFF
                    except (gdb.error, ValueError):
                        pass
                out.append((t.ptid[1] or t.ptid[0], regs))
        finally:
            if orig is not None and orig.is_valid():
                orig.switch()
                if orig_frame is not None and orig_frame.is_valid():
                    orig_frame.select()
        return out

    def read_memory(self, addr: int, length: int) -> Optional[bytes]:
        inf = gdb.selected_inferior()
        try:
            return bytes(inf.read_memory(addr, length))
        except gdb.MemoryError:
            pass
        # The readable prefix, page by page.
        out = bytearray()
        a, end = addr, addr + length
        while a < end:
            step = min(end, (a // PAGE + 1) * PAGE) - a
            try:
                out += bytes(inf.read_memory(a, step))
            except gdb.MemoryError:
                break
            a += step
        return bytes(out) if out else None


CTL = Controller(GdbHost())


def _fail(e: Exception):
    if isinstance(e, UserError):
        return gdb.GdbError(str(e))
    return gdb.GdbError(f"goroscope: internal error: {type(e).__name__}: {e}")


def _guard(fn):
    """Runs a command body; every failure becomes a one-line gdb error."""

    def run(*a, **kw):
        try:
            return fn(*a, **kw)
        except (gdb.GdbError, KeyboardInterrupt):
            raise
        except Exception as e:
            raise _fail(e) from None

    return run


def _print_run(words: List[str]) -> None:
    text, status, warnings = CTL.run(words)
    gdb.write(text)
    for w in warnings:
        gdb.write(f"goroscope: warning: {w}\n", gdb.STDERR)
    gdb.set_convenience_variable("goroscope_status", status)
