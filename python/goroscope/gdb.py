"""goroscope's GDB adapter: the only module that imports ``gdb``.

Sections: host (what gdb is debugging: target kind, threads, registers,
memory; the Controller), goroutine selection (unwinder and frame filter),
commands, and Go value printers. ``register()`` installs them.

Commands (all through the grammar the CLI uses, so the text is the CLI's):

- ``go goroutines|bt|chain|blocking|deadlocks|stacks|info [options]``
- ``info goroutines [--all] [--group]``
- ``goroutine N bt`` / ``goroutine all bt``: Go tracebacks
- ``goroutine N``: select goroutine N, so that ``bt``, ``frame``, ``up``,
  ``down`` and ``info locals`` work in its context; ``goroutine N CMD``
  runs one gdb command there; ``goroutine off`` goes back to the thread.

Selection never writes ``$pc``/``$sp`` (impossible on cores). A Python
frame unwinder makes the selected goroutine's frames the callers of the
thread's innermost frame, one frame per physical Go frame as goroscope
unwinds it (frame ids use the frame's CFA, so Go's DWARF locals resolve),
and a frame filter hides the thread's own frame from ``bt``.
"""

from __future__ import annotations

import json
import os
import re
import struct
from typing import Any, Dict, List, Optional, Tuple

import gdb
import gdb.unwinder

from goroscope.core import Controller, Host, Selection, TargetInfo, UserError, native, parse_goroutine_id

__all__ = ["CTL", "GdbHost", "GoPrinters", "register", "select_goroutine"]

# -- host: what gdb is debugging -------------------------------------------------
# The gdb side of goroscope's Host: what gdb is debugging, its threads
# and registers, its memory; the one Controller; error and output helpers.

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
    "orig_rax",
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


# -- goroutine selection ---------------------------------------------------------
# Goroutine selection without writing registers: a frame unwinder that
# makes the selected goroutine's frames the callers of the thread's
# innermost frame, and a frame filter that hides that frame.


class _FrameId:
    """A frame id for gdb 13, which wants gdb.Value attributes."""

    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


def _on_selected_thread(sel: Selection) -> bool:
    th = gdb.selected_thread()
    return th is not None and th.global_num == sel.thread_key


class GoroutineUnwinder(gdb.unwinder.Unwinder):
    """Makes the selected goroutine's frames the callers of the thread's
    innermost frame, then unwinds them exactly as goroscope (and the Go
    runtime) does. Frames are identified by their CFA."""

    def __init__(self):
        super().__init__("goroscope-goroutine")

    def __call__(self, pending):
        sel = CTL.selection
        if sel is None or not _on_selected_thread(sel):
            return None
        try:
            sp_v = pending.read_register("rsp")
            pc_v = pending.read_register("rip")
            sp, pc = int(sp_v), int(pc_v)
            frames = sel.info["frames"]
            if not frames:
                return None
            if sp == sel.thread_sp and pc == sel.thread_pc:
                first = frames[0]
                # Identified below the goroutine's stack so that gdb sees
                # its frames as outer (older) ones.
                ui = pending.create_unwind_info(_FrameId(gdb.Value(first["sp"]).cast(sp_v.type), pc_v))
                ui.add_saved_register("rip", gdb.Value(first["pc"]).cast(pc_v.type))
                ui.add_saved_register("rsp", gdb.Value(first["sp"]).cast(sp_v.type))
                if sel.info.get("bp"):
                    ui.add_saved_register("rbp", gdb.Value(sel.info["bp"]).cast(sp_v.type))
                return ui
            for i, f in enumerate(frames):
                if f["sp"] != sp or f["pc"] != pc:
                    continue
                ui = pending.create_unwind_info(_FrameId(gdb.Value(f["cfa"]).cast(sp_v.type), gdb.Value(f["entry"]).cast(pc_v.type)))
                # The goroutine's top frame (goexit) returns to pc 0,
                # where gdb's unwinding stops (the frame filter hides it).
                caller_pc = frames[i + 1]["pc"] if i + 1 < len(frames) else 0
                ui.add_saved_register("rip", gdb.Value(caller_pc).cast(pc_v.type))
                ui.add_saved_register("rsp", gdb.Value(f["cfa"]).cast(sp_v.type))
                if f["caller_bp"] is not None:
                    ui.add_saved_register("rbp", gdb.Value(f["caller_bp"]).cast(sp_v.type))
                return ui
        except gdb.error:
            return None
        return None


class GoroutineFrameFilter:
    """Hides the thread's own innermost frame while a goroutine is
    selected on that thread."""

    def __init__(self):
        self.name = "goroscope-goroutine"
        self.priority = 100
        self.enabled = True

    def filter(self, frames):
        sel = CTL.selection
        if sel is None or not _on_selected_thread(sel):
            return frames
        return (d for d in frames if not _is_thread_frame(d.inferior_frame(), sel) and d.inferior_frame().pc() != 0)


def _is_thread_frame(frame, sel: Selection) -> bool:
    try:
        return frame.pc() == sel.thread_pc and int(frame.read_register("rsp")) == sel.thread_sp
    except gdb.error:
        return False


def _thread_by_tid(tid: int):
    for t in gdb.selected_inferior().threads():
        if t.ptid[1] == tid or (t.ptid[1] == 0 and t.ptid[0] == tid):
            return t
    return None


def _clear_selection() -> None:
    if CTL.selection is not None:
        CTL.selection = None
        gdb.invalidate_cached_frames()


def select_goroutine(goid: int, quiet: bool = False) -> None:
    info = CTL.frames(goid)
    _clear_selection()
    if info["thread"] is not None:
        # Running at the stop: its frames are that thread's frames.
        t = _thread_by_tid(info["thread"])
        if t is None:
            raise UserError(f"goroscope: goroutine {goid} runs on thread {info['thread']}, which gdb does not list")
        t.switch()
        gdb.newest_frame().select()
        if not quiet:
            gdb.write(f"[goroutine {goid} ({info['status']}) runs on thread {t.num} (LWP {info['thread']})]\n")
            gdb.execute("frame")
        return
    if not info["frames"]:
        raise UserError(f"goroscope: goroutine {goid} has no frames to show")
    th = gdb.selected_thread()
    if th is None:
        raise UserError("goroscope: no thread selected")
    f0 = gdb.newest_frame()
    sel = Selection(goid, th.global_num, int(f0.read_register("rsp")), f0.pc(), info)
    CTL.selection = sel
    gdb.invalidate_cached_frames()
    f = gdb.newest_frame()
    while f is not None and _is_thread_frame(f, sel):
        f = f.older()
    if f is None:
        _clear_selection()
        raise UserError(f"goroscope: gdb could not build goroutine {goid}'s frames")
    f.select()
    if not quiet:
        gdb.write(f"[goroutine {goid} ({info['status']}), shown on thread {th.num}]\n")
        gdb.execute("frame")


# -- commands --------------------------------------------------------------------
# gdb commands: `go …` (one subcommand per command of the shared
# grammar), `info goroutines` and `goroutine`.

_ID_COMMANDS = {"bt", "chain"}


class GoCommand(gdb.Command):
    """Go runtime commands (goroscope): goroutines, tracebacks, blocking chains, deadlocks.

    The same commands and output as the goroscope CLI, on what gdb is debugging
    (a core file, a live process, or a remote target):

      go goroutines [--all] [--group]    one line per goroutine
      go bt ID | go bt --all             Go tracebacks
      go chain ID                        blocking chain from a goroutine
      go blocking                        what blocked goroutines wait on
      go deadlocks                       wait-for cycles, leaked goroutines
      go stacks                          stack usage, recursion, overflow
      go info                            Go version, counts, crash facts

    Every command takes --json; blocking, chain and deadlocks take --dot.
    Related: `info goroutines`, `goroutine N` (select: bt, frame, up, down and
    info locals then work on goroutine N), `goroutine N bt`, `goroutine all bt`."""

    def __init__(self):
        super().__init__("go", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)

    @_guard
    def invoke(self, arg, from_tty):
        words = gdb.string_to_argv(arg)
        if not words:
            gdb.write(CTL.help_text([]))
            return
        _print_run(words)


def _selected_goroutine() -> Tuple[int, int, int]:
    """(goroutine id, pc, sp) of the goroutine `goroutine N` selected and
    gdb's selected frame in it."""
    sel = CTL.selection
    if sel is None:
        raise UserError("goroscope: no goroutine is selected: give a goroutine id (go locals N), or select one (goroutine N)")
    frame = gdb.selected_frame()
    return sel.goid, frame.pc(), int(frame.read_register("rsp")) & 0xFFFFFFFFFFFFFFFF


def _make_subcommand(name: str, about: str):
    # clap's help starts with the one-line description gdb lists.
    doc = native().help_text([name]).rstrip() or about

    class Sub(gdb.Command):
        __doc__ = doc

        def __init__(self):
            super().__init__(f"go {name}", gdb.COMMAND_STACK)

        @_guard
        def invoke(self, arg, from_tty):
            _print_run(CTL.locals_words([name, *gdb.string_to_argv(arg)], _selected_goroutine))

        def complete(self, text, word):
            if name in _ID_COMMANDS:
                return CTL.complete_ids(word or "")
            return gdb.COMPLETE_NONE

    Sub.__name__ = f"Go{name.capitalize()}Command"
    return Sub()


class InfoGoroutines(gdb.Command):
    """List the goroutines, one line each (as `go goroutines`): id, [state], top user frame, creator.
    Usage: info goroutines [--all] [--group] [--json]"""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STATUS, gdb.COMPLETE_NONE)

    @_guard
    def invoke(self, arg, from_tty):
        _print_run(["goroutines", *gdb.string_to_argv(arg)])


class GoroutineCommand(gdb.Command):
    """Select a goroutine, or run a command in its context.
    Usage:
      goroutine N            select goroutine N: bt, frame, up, down, info locals then show its frames
      goroutine N bt         goroutine N's traceback in Go's format (as `go bt N`)
      goroutine all bt       every goroutine's traceback (as `go bt --all`)
      goroutine N CMD        run gdb command CMD with goroutine N selected
      goroutine all CMD      run CMD for every goroutine
      goroutine off          back to the thread's own frames
      goroutine              show which goroutine is selected"""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK)

    @_guard
    def invoke(self, arg, from_tty):
        words = gdb.string_to_argv(arg)
        if not words:
            sel = CTL.selection
            gdb.write(f"goroutine {sel.goid} is selected\n" if sel else "no goroutine selected (the thread's own frames are shown)\n")
            return
        head, rest = words[0], arg.strip()[len(words[0]) :].strip()
        if head == "off":
            _clear_selection()
            gdb.newest_frame().select()
            return
        if head == "all":
            if not rest:
                raise UserError("goroscope: usage: goroutine all bt | goroutine all CMD")
            if rest.split()[0] == "bt":
                _print_run(["bt", "--all", *gdb.string_to_argv(rest)[1:]])
                return
            for goid in CTL.goroutine_ids(system=False):
                gdb.write(f"goroutine {goid}:\n")
                self._in_goroutine(goid, rest)
            return
        goid = parse_goroutine_id(head)
        if not rest:
            select_goroutine(goid)
            return
        if rest.split()[0] == "bt":
            _print_run(["bt", str(goid), *gdb.string_to_argv(rest)[1:]])
            return
        self._in_goroutine(goid, rest)

    @staticmethod
    def _in_goroutine(goid: int, command: str) -> None:
        before = CTL.selection
        thread = gdb.selected_thread()
        try:
            select_goroutine(goid, quiet=True)
            gdb.execute(command)
        finally:
            CTL.selection = before
            gdb.invalidate_cached_frames()
            if thread is not None and thread.is_valid():
                thread.switch()

    def complete(self, text, word):
        words = text.split()
        if len(words) > 1 or (len(words) == 1 and text.endswith(" ")):
            # `goroutine N CMD…`: complete CMD as gdb would.
            rest = text.lstrip()[len(words[0]) :].lstrip()
            word = word or ""
            try:
                lines = gdb.execute(f"complete {rest}", to_string=True).splitlines()
            except gdb.error:
                return []
            cut = len(rest) - len(word)
            return [line[cut:] for line in lines if line.startswith(rest[:cut])]
        prefix = word or ""
        extra = [w for w in ("all", "off") if w.startswith(prefix)]
        return extra + CTL.complete_ids(prefix)


# -- Go value printers -----------------------------------------------------------
# Go value printers for gdb. Go values are decoded by the Rust core
# (goroscope::values, through ``Session.value``): maps, channels,
# interfaces, sync.Mutex/RWMutex/WaitGroup, time.Time, time.Duration and
# contexts. These printers only adapt the result to gdb: the Go fmt text
# where that is what Go users expect, children (``display_hint`` "map" or
# "array", so ``set print elements`` applies) where the value is a
# collection. Slices and strings are gdb's own values, shown as Go shows
# them.


def _fields(t) -> Dict[str, "gdb.Field"]:
    return {f.name: f for f in t.fields() if f.name}


def _print_limit() -> Optional[int]:
    try:
        v = gdb.parameter("print elements")
    except gdb.error:
        return None
    return None if v in (None, 0) else int(v)


def _go_type_name(t) -> str:
    """The Go (DWARF) name of a gdb type: gdb keeps Go's names
    (`map[string]int`, `main.Item`), but may not name a pointer type."""
    if t.name:
        return t.name
    if t.code == gdb.TYPE_CODE_PTR and t.target().name:
        return "*" + t.target().name
    return str(t)


def _value_bytes(val) -> bytes:
    """The bytes of a value gdb holds outside target memory (an argument
    in registers), for the Rust decoder to read in its place."""
    t = val.type.strip_typedefs()
    size = t.sizeof
    code = t.code
    if code in (gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_INT, gdb.TYPE_CODE_BOOL, gdb.TYPE_CODE_CHAR, gdb.TYPE_CODE_ENUM):
        return (int(val) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    if code == gdb.TYPE_CODE_FLT:
        return struct.pack("<d" if size == 8 else "<f", float(val))
    out = bytearray(size)
    if code == gdb.TYPE_CODE_STRUCT:
        for f in t.fields():
            if f.bitpos % 8 or f.is_base_class:
                raise gdb.error("bit fields")
            b = _value_bytes(val[f])
            out[f.bitpos // 8 : f.bitpos // 8 + len(b)] = b
        return bytes(out)
    if code == gdb.TYPE_CODE_ARRAY:
        lo, hi = t.range()
        step = t.target().sizeof
        for i in range(lo, hi + 1):
            out[(i - lo) * step : (i - lo + 1) * step] = _value_bytes(val[i])
        return bytes(out)
    raise gdb.error(f"cannot take the bytes of {t}")


_TYPES: Dict[str, Any] = {}


def _gdb_type(name: str):
    """gdb's type for a Go type name, or None (cached per name)."""
    if name not in _TYPES:
        try:
            _TYPES[name] = _lookup_go_type(name)
        except (gdb.error, RuntimeError, ValueError):
            _TYPES[name] = None
    return _TYPES[name]


_SCALARS = ("bool", "int", "uint", "float")


def _child(tree: Dict[str, Any]):
    """A child of a decoded value, for gdb to print: the value at its
    address with its gdb type (so these printers apply again), else its
    scalar, else its fmt text."""
    addr = tree.get("addr")
    if addr and "error" not in tree:
        t = _gdb_type(tree["type"])
        if t is not None:
            return gdb.Value(addr).cast(t.pointer()).dereference()
    if tree.get("kind") in _SCALARS and "value" in tree:
        return tree["value"]
    return tree.get("text", "?")


class _Decoded:
    """A value decoded by the Rust core: `(fmt text, JSON tree)`, loaded
    once; a failure is shown in place of the value, never raised."""

    def __init__(self, val, name: Optional[str] = None):
        self.val = val
        self.name = name or _go_type_name(val.type)
        self._got: Optional[Tuple[str, Dict[str, Any]]] = None
        self.error: Optional[str] = None

    def load(self) -> Optional[Tuple[str, Dict[str, Any]]]:
        if self._got is None and self.error is None:
            limit = _print_limit()
            try:
                addr = self.val.address
                data = None if addr is not None else _value_bytes(self.val)
                text, tree = CTL.session().value(self.name, int(addr) if addr is not None else 0, False, limit if limit is not None else 2**62, data)
                self._got = (text, json.loads(tree))
            except Exception as e:  # shown in place of the value, never raised
                self.error = str(e)
        return self._got

    def text(self) -> str:
        got = self.load()
        return got[0] if got else f"<goroscope: {self.error}>"


class FmtPrinter(_Decoded):
    """Values Go users know by their fmt text: time.Time
    (`2024-03-15 10:30:00 +0000 UTC`), time.Duration (`1m30s`), contexts
    (`context.Background.WithCancel`)."""

    def to_string(self):
        return self.text()


class MapPrinter(_Decoded):
    """A Go map: `map[K]V (len N) = {[k] = v, ...}` in fmt's key order."""

    def to_string(self):
        got = self.load()
        if got is None:
            return f"{self.name} <goroscope: {self.error}>"
        if got[1].get("nil"):
            return f"{self.name} nil"
        return f"{self.name} (len {got[1].get('len', 0)})"

    def display_hint(self):
        return "map"

    def children(self):
        got = self.load()
        if not got:
            return
        for i, e in enumerate(got[1].get("children", [])):
            yield f"k{i}", _child(e["key"])
            yield f"v{i}", _child(e["value"])


class SlicePrinter:
    """A Go slice: `[]T (len N, cap M) = {...}`."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        try:
            return f"{self.val.type.name} (len {int(self.val['len'])}, cap {int(self.val['cap'])})"
        except gdb.error:  # optimized out, or only partly available
            return f"{self.val.type.name} <optimized out>"

    def display_hint(self):
        return "array"

    def children(self):
        try:
            n = int(self.val["len"])
            ptr = self.val["array"]
            int(ptr)
        except gdb.error:
            return
        limit = _print_limit()
        if limit is not None:
            n = min(n, limit)
        for i in range(n):
            yield f"[{i}]", (ptr + i).dereference()


class StringPrinter:
    """A Go string: its text, quoted (gdb's own Go support also prints the pointer)."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        try:
            n = int(self.val["len"])
            if n == 0:
                return '""'
            return self.val["str"].lazy_string(length=n)
        except gdb.error:  # optimized out, or only partly available
            return "<optimized out>"

    def display_hint(self):
        return "string"


def _lookup_go_type(name: str):
    """The gdb type of a Go type name as the runtime spells it (`*main.T`)."""
    stars = len(name) - len(name.lstrip("*"))
    base = name[stars:]
    try:
        t = gdb.lookup_type(base)
    except gdb.error:
        if base != "string":
            raise
        # Not found by name outside Go frames; every Go binary has a
        # string variable to take it from.
        sym = gdb.lookup_global_symbol("runtime.buildVersion")
        if sym is None:
            raise
        t = sym.type
    for _ in range(stars):
        t = t.pointer()
    return t


class InterfacePrinter(_Decoded):
    """A Go interface: `(T) value`, the dynamic type and the value as fmt
    prints it (an error's Error(), a context's chain), or `nil`."""

    def to_string(self):
        got = self.load()
        if got is None:
            return f"<goroscope: {self.error}>"
        text, tree = got
        dyn = tree.get("dynamic")
        if tree.get("nil") or dyn is None:
            return "nil"
        return f"({dyn['type']}) {text}"


class ChanPrinter(_Decoded):
    """A Go channel: `chan int 0xc000… (len 2, cap 4) = {7, 8}`, with
    `closed` and the goroutines queued to receive or send."""

    def to_string(self):
        got = self.load()
        if got is None:
            return f"{self.name} <goroscope: {self.error}>"
        st = got[1]
        addr = st.get("value", 0)
        if not addr:
            return f"{self.name} nil"
        facts = [f"len {st['len']}", f"cap {st['cap']}"]
        if st.get("closed"):
            facts.append("closed")
        for what, key in (("receivers", "recv_waiters"), ("senders", "send_waiters")):
            ids = st.get(key) or []
            if ids:
                facts.append(f"{what}: goroutine{'s' if len(ids) > 1 else ''} {' '.join(map(str, ids))}")
        return f"{self.name} {addr:#x} ({', '.join(facts)})"

    def display_hint(self):
        return "array"

    def children(self):
        got = self.load()
        if not got:
            return
        for i, e in enumerate(got[1].get("children", [])):
            yield f"[{i}]", _child(e["value"])


class SyncPrinter(_Decoded):
    """sync.Mutex / sync.RWMutex / sync.WaitGroup: the state the Rust core
    decodes (`locked, 2 waiters`; `counter 2, waiters 1`) and, for locks,
    the goroutines certain to hold them (a pending deferred Unlock/RUnlock
    of this very lock, from the analysis layer)."""

    def to_string(self):
        got = self.load()
        if got is None:
            return f"{self.name} <goroscope: {self.error}>"
        facts = [got[1].get("note") or got[0]]
        kind = {"sync.Mutex": "mutex", "sync.RWMutex": "rwmutex"}.get(self.name)
        addr = self.val.address
        if kind and addr is not None:  # a copy in registers has no holders
            try:
                holders = CTL.session().lock_holders(int(addr), kind)
            except Exception as e:  # shown in place of the value, never raised
                holders = []
                facts.append(f"holders unknown: {e}")
            for gid, why in holders:
                facts.append(f"held by goroutine {gid}: {why}")
        return f"{self.name} ({', '.join(facts)})"


class GPrinter:
    """`*runtime.g`: the pointer, and which goroutine it is, in what state."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        try:
            addr = int(self.val)
        except gdb.error:
            return "<optimized out>"
        if addr == 0:
            return "0x0"
        try:
            got = CTL.session().g_summary(addr)
        except Exception as e:  # shown in place of the value, never raised
            return f"{addr:#x} <goroscope: {e}>"
        if got is None:
            return f"{addr:#x}"
        return f"{addr:#x} (goroutine {got[0]} [{got[1]}])"


class GoPrinters:
    """Value printers for Go types (goroscope)."""

    name = "goroscope"
    enabled = True
    subprinters = None

    def __call__(self, val):
        if val.is_optimized_out:
            return None
        t = val.type
        name = t.name or ""
        try:
            if name.startswith("map["):
                return MapPrinter(val)
            if name in ("sync.Mutex", "sync.RWMutex", "sync.WaitGroup"):
                return SyncPrinter(val)
            if name == "*runtime.g" or (t.code == gdb.TYPE_CODE_PTR and str(t.target()) == "runtime.g"):
                return GPrinter(val)
            if name in ("time.Time", "time.Duration") or name.startswith("*context.") or name.startswith("context."):
                st = t.strip_typedefs()
                if not (name == "context.Context" and st.code == gdb.TYPE_CODE_STRUCT):
                    return FmtPrinter(val)
            st = t.strip_typedefs()
            if st.code == gdb.TYPE_CODE_STRUCT and len(st.fields()) == 2:
                names = {f.name for f in st.fields()}
                if names in ({"_type", "data"}, {"tab", "data"}):
                    return InterfacePrinter(val)
            if name.startswith("chan ") or name.startswith("<-chan ") or name.startswith("chan<- "):
                return ChanPrinter(val)
            if name == "string":
                if st.code == gdb.TYPE_CODE_STRUCT and {"str", "len"} <= set(_fields(st)):
                    return StringPrinter(val)
            if name.startswith("[]"):
                if st.code == gdb.TYPE_CODE_STRUCT and {"array", "len", "cap"} <= set(_fields(st)):
                    return SlicePrinter(val)
        except (gdb.error, KeyError, AttributeError):
            return None
        return None


# -- registration and events --------------------------------------------------


def _invalidate(_event=None) -> None:
    CTL.invalidate()


_REGISTERED = False


def register() -> None:
    """Registers commands, the unwinder, the frame filter and the event
    handlers (once per gdb)."""
    global _REGISTERED
    if _REGISTERED:
        return
    GoCommand()
    for name, about in native().commands():
        _make_subcommand(name, about)
    InfoGoroutines()
    GoroutineCommand()
    gdb.unwinder.register_unwinder(None, GoroutineUnwinder(), replace=True)
    flt = GoroutineFrameFilter()
    gdb.frame_filters[flt.name] = flt
    gdb.pretty_printers.append(GoPrinters())
    for ev in ("stop", "cont", "exited", "new_objfile", "clear_objfiles", "inferior_call", "memory_changed", "register_changed", "new_inferior"):
        reg = getattr(gdb.events, ev, None)
        if reg is not None:
            reg.connect(_invalidate)
    _REGISTERED = True
