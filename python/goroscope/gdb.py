"""goroscope's GDB adapter: the only module that imports ``gdb``.

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

import os
import re
from typing import Dict, List, Optional, Tuple

import gdb
import gdb.unwinder

from goroscope.core import Controller, Host, Selection, TargetInfo, UserError, native, parse_goroutine_id

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


# -- frames of the selected goroutine --------------------------------------


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


# -- commands ----------------------------------------------------------------

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


def _make_subcommand(name: str, about: str):
    # clap's help starts with the one-line description gdb lists.
    doc = native().help_text([name]).rstrip() or about

    class Sub(gdb.Command):
        __doc__ = doc

        def __init__(self):
            super().__init__(f"go {name}", gdb.COMMAND_STACK)

        @_guard
        def invoke(self, arg, from_tty):
            _print_run([name, *gdb.string_to_argv(arg)])

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


# -- value printers ------------------------------------------------------------
#
# Maps are walked by the Rust core (classic buckets and swiss tables); the
# layout of this map type's bucket or group comes from gdb's DWARF types,
# and the keys and elements are then printed by gdb (and these printers).


def _fields(t) -> Dict[str, "gdb.Field"]:
    return {f.name: f for f in t.fields() if f.name}


def _map_layout(t):
    """(kind, slot layout, key type, elem type) of a Go map type, or None."""
    st = t.strip_typedefs()
    if st.code != gdb.TYPE_CODE_PTR:
        return None
    hdr = st.target().strip_typedefs()
    name = hdr.tag or hdr.name or ""
    if name.startswith("hash<"):
        bucket = _fields(hdr)["buckets"].type.strip_typedefs().target().strip_typedefs()
        f = _fields(bucket)
        keys, elems = f["keys"], f["values"]
        ktype, etype = keys.type.strip_typedefs().target(), elems.type.strip_typedefs().target()
        layout = {
            "group_size": bucket.sizeof,
            "keys_off": keys.bitpos // 8,
            "key_stride": ktype.sizeof,
            "elems_off": elems.bitpos // 8,
            "elem_stride": etype.sizeof,
        }
        return "classic", layout, ktype, etype
    if name.startswith("map<"):
        table = _fields(hdr)["dirPtr"].type.strip_typedefs().target().strip_typedefs().target().strip_typedefs()
        group = _fields(_fields(table)["groups"].type.strip_typedefs())["data"].type.strip_typedefs().target().strip_typedefs()
        g = _fields(group)
        if "slots" in g:
            slot = g["slots"].type.strip_typedefs().target().strip_typedefs()
            sf = _fields(slot)
            base = g["slots"].bitpos // 8
            ktype, etype = sf["key"].type, sf["elem"].type
            layout = {
                "group_size": group.sizeof,
                "keys_off": base + sf["key"].bitpos // 8,
                "key_stride": slot.sizeof,
                "elems_off": base + sf["elem"].bitpos // 8,
                "elem_stride": slot.sizeof,
            }
        else:  # keys and elems in separate arrays (GOEXPERIMENT=mapsplitgroup)
            keys, elems = g["keys"], g["elems"]
            ktype, etype = keys.type.strip_typedefs().target(), elems.type.strip_typedefs().target()
            layout = {
                "group_size": group.sizeof,
                "keys_off": keys.bitpos // 8,
                "key_stride": ktype.sizeof,
                "elems_off": elems.bitpos // 8,
                "elem_stride": etype.sizeof,
            }
        return "swiss", layout, ktype, etype
    return None


def _print_limit() -> Optional[int]:
    try:
        v = gdb.parameter("print elements")
    except gdb.error:
        return None
    return None if v in (None, 0) else int(v)


class MapPrinter:
    """A Go map: `map[K]V (len N) = {[k] = v, ...}`."""

    def __init__(self, val, info):
        self.val = val
        self.kind, self.layout, self.ktype, self.etype = info
        self._entries = None
        self._error = None

    def _load(self):
        if self._entries is None and self._error is None:
            limit = _print_limit()
            try:
                n, entries = CTL.session().map_entries(self.kind, int(self.val), self.layout, limit if limit is not None else 2**62)
                self._entries = (n, entries)
            except Exception as e:  # shown in place of the value, never raised
                self._error = str(e)
        return self._entries

    def _addr(self) -> Optional[int]:
        try:
            return int(self.val)
        except gdb.error:  # optimized out
            return None

    def to_string(self):
        name = self.val.type.name or "map"
        addr = self._addr()
        if addr is None:
            return "<optimized out>"
        if addr == 0:
            return f"{name} nil"
        got = self._load()
        if got is None:
            return f"{name} {int(self.val):#x} <goroscope: {self._error}>"
        return f"{name} (len {got[0]})"

    def display_hint(self):
        return "map"

    def children(self):
        got = self._load() if self._addr() else None
        if not got:
            return
        kp, ep = self.ktype.pointer(), self.etype.pointer()
        for i, (k, e) in enumerate(got[1]):
            yield f"k{i}", gdb.Value(k).cast(kp).dereference()
            yield f"v{i}", gdb.Value(e).cast(ep).dereference()


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


def _direct_iface(t) -> bool:
    """Go stores pointer-shaped values in the interface's data word itself."""
    t = t.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_FUNC):
        return True
    if t.code == gdb.TYPE_CODE_STRUCT:
        f = t.fields()
        return len(f) == 1 and _direct_iface(f[0].type)
    if t.code == gdb.TYPE_CODE_ARRAY:
        lo, hi = t.range()
        return hi - lo == 0 and _direct_iface(t.target())
    return False


class InterfacePrinter:
    """A Go interface: `(T) value` with its dynamic type (named by the Rust
    core from the type descriptor or itab), or `nil`."""

    def __init__(self, val, empty: bool):
        self.val = val
        self.empty = empty

    def to_string(self):
        try:
            first = int(self.val["_type" if self.empty else "tab"])
            data = int(self.val["data"])
        except gdb.error:
            return "<optimized out>"
        if first == 0:
            return "nil"
        try:
            name = CTL.session().interface_type(first, self.empty)
        except Exception as e:  # shown in place of the value, never raised
            return f"<goroscope: {e}>"
        try:
            t = _lookup_go_type(name)
        except gdb.error:
            return f"({name}) data={data:#x}"
        try:
            if _direct_iface(t):
                v = gdb.Value(data).cast(t)
                st = t.strip_typedefs()
                if st.code == gdb.TYPE_CODE_PTR and st.target().strip_typedefs().code == gdb.TYPE_CODE_STRUCT and data:
                    return f"({name}) {data:#x} = {v.dereference().format_string()}"
                return f"({name}) {v.format_string()}"
            return f"({name}) {gdb.Value(data).cast(t.pointer()).dereference().format_string()}"
        except gdb.error as e:
            return f"({name}) data={data:#x} <{e}>"


class ChanPrinter:
    """A Go channel: `chan int (len 2, cap 4) = {7, 8}`, with `closed` and
    the goroutines queued to receive or send; decoded by the Rust core."""

    def __init__(self, val):
        self.val = val
        self._state = None
        self._error = None

    def _addr(self) -> Optional[int]:
        try:
            return int(self.val)
        except gdb.error:
            return None

    def _load(self):
        if self._state is None and self._error is None:
            limit = _print_limit()
            try:
                self._state = CTL.session().chan_state(self._addr(), limit if limit is not None else 2**62)
            except Exception as e:  # shown in place of the value, never raised
                self._error = str(e)
        return self._state

    def _elem_type(self):
        hchan = self.val.type.strip_typedefs().target().strip_typedefs()
        try:
            sudog = _fields(_fields(hchan)["recvq"].type.strip_typedefs())["first"].type.strip_typedefs().target().strip_typedefs()
            return _fields(sudog)["elem"].type.strip_typedefs().target()
        except (KeyError, gdb.error):
            name = hchan.tag or hchan.name or ""
            return _lookup_go_type(name[name.index("<") + 1 : name.rindex(">")])

    def to_string(self):
        name = self.val.type.name or "chan"
        addr = self._addr()
        if addr is None:
            return "<optimized out>"
        if addr == 0:
            return f"{name} nil"
        st = self._load()
        if st is None:
            return f"{name} {addr:#x} <goroscope: {self._error}>"
        facts = [f"len {st['len']}", f"cap {st['cap']}"]
        if st["closed"]:
            facts.append("closed")
        for what in ("receivers", "senders"):
            if st[what]:
                facts.append(f"{what}: goroutine{'s' if len(st[what]) > 1 else ''} {' '.join(map(str, st[what]))}")
        return f"{name} {addr:#x} ({', '.join(facts)})"

    def display_hint(self):
        return "array"

    def children(self):
        st = self._load() if self._addr() else None
        if not st or not st["elements"]:
            return
        try:
            ptr = self._elem_type().pointer()
        except (gdb.error, ValueError):
            return
        for i, a in enumerate(st["elements"]):
            yield f"[{i}]", gdb.Value(a).cast(ptr).dereference()


class LockPrinter:
    """sync.Mutex / sync.RWMutex: state and the goroutines certain to hold
    it (a pending deferred Unlock of this very lock), from the Rust core."""

    def __init__(self, val, kind: str):
        self.val = val
        self.kind = kind

    def to_string(self):
        name = self.val.type.name
        addr = self.val.address
        if addr is None:
            return f"{name} <not in memory>"
        try:
            st = CTL.session().lock_state(int(addr), self.kind)
        except Exception as e:  # shown in place of the value, never raised
            return f"{name} <goroscope: {e}>"
        facts = []
        if self.kind == "rwmutex":
            if st["readers"]:
                facts.append(f"{st['readers']} reader{'s' if st['readers'] != 1 else ''} holding or queued")
            if st["locked"] and not st["readers"] and not st["writer_waiting"]:
                facts.append("write-locked")
            if st["writer_waiting"]:
                facts.append("writer waiting")
            if not facts:
                facts.append("unlocked")
        else:
            facts.append("locked" if st["locked"] else "unlocked")
        if st["starving"]:
            facts.append("starving")
        if st["waiters"]:
            facts.append(f"{st['waiters']} waiter{'s' if st['waiters'] != 1 else ''}")
        for gid, why in st["holders"]:
            facts.append(f"held by goroutine {gid}: {why}")
        return f"{name} ({', '.join(facts)})"


class WaitGroupPrinter:
    """sync.WaitGroup: `sync.WaitGroup (counter 2, 1 waiter)`."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        name = self.val.type.name
        addr = self.val.address
        if addr is None:
            return f"{name} <not in memory>"
        try:
            counter, waiters = CTL.session().waitgroup_state(int(addr))
        except Exception as e:  # shown in place of the value, never raised
            return f"{name} <goroscope: {e}>"
        return f"{name} (counter {counter}, {waiters} waiter{'s' if waiters != 1 else ''})"


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


def go_duration(d: int) -> str:
    """time.Duration.String()."""
    if d == 0:
        return "0s"
    u = abs(d)

    def frac(v: int, prec: int) -> str:
        whole, part = divmod(v, 10**prec)
        return f"{whole}.{part:0{prec}d}".rstrip("0") if part else str(whole)

    if u < 1_000_000_000:
        s = f"{u}ns" if u < 1000 else frac(u, 3) + "µs" if u < 1_000_000 else frac(u, 6) + "ms"
    else:
        s = frac(u % 60_000_000_000, 9) + "s"
        mins = u // 60_000_000_000
        if mins:
            s = f"{mins % 60}m{s}"
            if mins >= 60:
                s = f"{mins // 60}h{s}"
    return "-" + s if d < 0 else s


class DurationPrinter:
    """time.Duration as Go prints it (`1m30s`)."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        try:
            return go_duration(int(self.val))
        except gdb.error:
            return "<optimized out>"


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
                info = _map_layout(t)
                return MapPrinter(val, info) if info else None
            if name in ("sync.Mutex", "sync.RWMutex"):
                return LockPrinter(val, "mutex" if name == "sync.Mutex" else "rwmutex")
            if name == "*runtime.g" or (t.code == gdb.TYPE_CODE_PTR and str(t.target()) == "runtime.g"):
                return GPrinter(val)
            if name == "sync.WaitGroup":
                return WaitGroupPrinter(val)
            if name == "time.Duration":
                return DurationPrinter(val)
            st = t.strip_typedefs()
            if st.code == gdb.TYPE_CODE_STRUCT and len(st.fields()) == 2:
                names = {f.name for f in st.fields()}
                if names == {"_type", "data"}:
                    return InterfacePrinter(val, empty=True)
                if names == {"tab", "data"}:
                    return InterfacePrinter(val, empty=False)
            if name.startswith("chan ") or name.startswith("<-chan ") or name.startswith("chan<- "):
                return ChanPrinter(val)
            if name == "string":
                st = t.strip_typedefs()
                if st.code == gdb.TYPE_CODE_STRUCT and {"str", "len"} <= set(_fields(st)):
                    return StringPrinter(val)
            if name.startswith("[]"):
                st = t.strip_typedefs()
                if st.code == gdb.TYPE_CODE_STRUCT and {"array", "len", "cap"} <= set(_fields(st)):
                    return SlicePrinter(val)
        except (gdb.error, KeyError, AttributeError):
            return None
        return None


# -- events --------------------------------------------------------------------


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
