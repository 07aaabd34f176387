"""goroscope's LLDB adapter: the only module that imports ``lldb``.

Load it with ``command script import scripts/goroscope-lldb.py`` (``goroscope
lldbinit`` prints the line for ``~/.lldbinit``). It registers:

- ``go goroutines|bt|chain|blocking|deadlocks|stacks|info [options]``: the
  shared command grammar, with the CLI's exact text;
- ``go goroutine N``: select goroutine N's thread (see below);
- an OperatingSystem plugin (``target.process.python-os-plugin-path``) that
  presents every goroutine that is not running on an OS thread as a thread
  of its own (tid ``GOROUTINE_TID_BASE + id``, named ``goroutine N``, queue
  = its wait reason), so that ``thread list``, ``thread select``, ``bt`` and
  ``register read`` work per goroutine on cores and live processes.
  Goroutines running at the stop are the OS threads they run on.

LLDB 16 cannot resolve Go's DWARF types (it has no type system for
DW_LANG_Go: variables print as ``<could not resolve type>``), so there are
no value summaries to attach: see docs/debuggers.md.

Memory: a core LLDB has loaded is read from the core file directly, a
process on this machine through /proc (LLDB has stopped it), anything else
through ``SBProcess.ReadMemory``; the session (and its cache) is dropped
whenever the process's stop id changes.
"""

from __future__ import annotations

import itertools
import os
import shlex
import struct
from typing import Dict, List, Optional, Tuple

import lldb

from goroscope.core import Controller, Host, TargetInfo, UserError, native, parse_goroutine_id

# Goroutine threads get tid GOROUTINE_TID_BASE + goroutine id: Linux tids
# stay below 2**22, so these never collide with an OS thread's.
GOROUTINE_TID_BASE = 10**12
PAGE = 4096
_REG_NAMES = {
    "rax": "rax",
    "rbx": "rbx",
    "rcx": "rcx",
    "rdx": "rdx",
    "rsi": "rsi",
    "rdi": "rdi",
    "rbp": "rbp",
    "rsp": "rsp",
    "r8": "r8",
    "r9": "r9",
    "r10": "r10",
    "r11": "r11",
    "r12": "r12",
    "r13": "r13",
    "r14": "r14",
    "r15": "r15",
    "rip": "rip",
    "rflags": "eflags",
    "fs_base": "fs_base",
    "gs_base": "gs_base",
    "orig_rax": "orig_rax",
}


def is_goroutine_tid(tid: int) -> bool:
    return tid >= GOROUTINE_TID_BASE


def _core_path(process) -> Optional[str]:
    """The core file LLDB has loaded: LLDB maps it, and an ELF core is
    ET_CORE (LLDB 16's SB API does not name it)."""
    found = []
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}
    except OSError:
        return None
    for p in sorted(paths):
        if not p.startswith("/") or p.endswith(" (deleted)"):
            continue
        try:
            with open(p, "rb") as f:
                head = f.read(18)
        except OSError:
            continue
        if head[:4] == b"\x7fELF" and head[5] == 1 and struct.unpack_from("<H", head, 16)[0] == 4:
            found.append(p)
    if len(found) == 1:
        return found[0]
    pid = process.GetProcessID()
    named = [p for p in found if str(pid) in os.path.basename(p)]
    return named[0] if len(named) == 1 else None


def _target_info(target) -> TargetInfo:
    if target is None or not target.IsValid():
        raise UserError("goroscope: lldb is not debugging a program: load a core (`target create BINARY --core CORE`), or run or attach to a Go program first")
    process = target.GetProcess()
    if not process.IsValid() or process.GetState() in (lldb.eStateInvalid, lldb.eStateUnloaded, lldb.eStateDetached, lldb.eStateExited):
        raise UserError("goroscope: lldb is not debugging a program: load a core (`target create BINARY --core CORE`), or run or attach to a Go program first")
    pid = process.GetProcessID()
    exe_spec = target.GetExecutable()
    exe = exe_spec.fullpath if exe_spec.IsValid() else None
    if not exe and pid > 0 and process.GetPluginName() != "elf-core":
        # Attaching: LLDB stops the process (and asks the OS plugin for
        # its threads) before it sets the target's executable.
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            exe = None
    if not exe:
        raise UserError("goroscope: lldb has no executable for this target: load it with `target create BINARY`")
    if not os.path.exists(exe):
        raise UserError(f"goroscope: the executable {exe} is not on this machine: load a local copy with `target create BINARY`")
    if process.GetPluginName() == "elf-core":
        core = _core_path(process)
        if core:
            return TargetInfo("core", exe, core=core, pid=pid, describe=f"core file {core}")
        return TargetInfo("remote", exe, pid=pid, describe="core file loaded by lldb")
    platform = target.GetPlatform()
    through_lldb = os.environ.get("GOROSCOPE_LLDB_MEMORY") == "lldb"  # as for a remote target (tests)
    if not through_lldb and platform.IsValid() and platform.GetName() == "host" and pid > 0 and os.path.exists(f"/proc/{pid}"):
        try:
            same = os.path.samefile(f"/proc/{pid}/exe", exe)
        except OSError:
            same = False
        if same:
            return TargetInfo("local", exe, pid=pid, describe=f"process {pid}")
    return TargetInfo("remote", exe, pid=pid, describe=f"process {pid} ({process.GetPluginName()})")


def _read_memory(process, addr: int, length: int) -> Optional[bytes]:
    err = lldb.SBError()
    data = process.ReadMemory(addr, length, err)
    if err.Success() and data is not None and len(data) == length:
        return bytes(data)
    # The readable prefix, page by page.
    out = bytearray()
    a, end = addr, addr + length
    while a < end:
        step = min(end, (a // PAGE + 1) * PAGE) - a
        err = lldb.SBError()
        data = process.ReadMemory(a, step, err)
        if not err.Success() or data is None:
            break
        out += data
        if len(data) < step:
            break
        a += step
    return bytes(out) if out else None


class LldbHost(Host):
    """The selected target of one LLDB debugger."""

    def __init__(self, debugger=None):
        self.debugger = debugger

    def _target(self):
        d = self.debugger or lldb.debugger
        return d.GetSelectedTarget() if d is not None else None

    def key(self) -> Tuple[int, int]:
        t = self._target()
        if t is None or not t.IsValid():
            return (0, 0)
        p = t.GetProcess()
        return (p.GetUniqueID(), p.GetStopID()) if p.IsValid() else (0, 0)

    def target(self) -> TargetInfo:
        return _target_info(self._target())

    def threads(self) -> List[Tuple[int, Dict[str, int]]]:
        out = []
        for t in self._target().GetProcess():
            tid = t.GetThreadID()
            if is_goroutine_tid(tid):
                continue  # one of ours (the OS plugin's goroutine threads)
            f = t.GetFrameAtIndex(0)
            regs: Dict[str, int] = {}
            for rset in f.GetRegisters():
                for r in rset:
                    name = _REG_NAMES.get(r.GetName())
                    if name and name not in regs:
                        err = lldb.SBError()
                        v = r.GetValueAsUnsigned(err, 0)
                        if err.Success():
                            regs[name] = v & 0xFFFFFFFFFFFFFFFF
            out.append((tid, regs))
        return out

    def read_memory(self, addr: int, length: int) -> Optional[bytes]:
        return _read_memory(self._target().GetProcess(), addr, length)


class _Tracked(Controller):
    """A Controller whose session is dropped whenever the process stops
    again (LLDB has no stop hook a script can rely on in batch mode)."""

    def __init__(self, host):
        super().__init__(host)
        self._key = None

    def session(self):
        key = self.host.key()
        if key != self._key:
            self.invalidate()
            self._key = key
        return super().session()


CTL = _Tracked(LldbHost())


# -- the OperatingSystem plugin ------------------------------------------------

# amd64 registers of a goroutine thread: (name, DWARF number, generic role).
_OS_REGS = [
    ("rax", 0, None),
    ("rdx", 1, None),
    ("rcx", 2, None),
    ("rbx", 3, None),
    ("rsi", 4, None),
    ("rdi", 5, None),
    ("rbp", 6, "fp"),
    ("rsp", 7, "sp"),
    ("r8", 8, None),
    ("r9", 9, None),
    ("r10", 10, None),
    ("r11", 11, None),
    ("r12", 12, None),
    ("r13", 13, None),
    ("r14", 14, None),
    ("r15", 15, None),
    ("rip", 16, "pc"),
    ("rflags", 49, "flags"),
]


class _PluginHost(Host):
    """The process an OperatingSystem plugin was made for. The plugin must
    not ask LLDB for the process's threads (LLDB 16 re-enters the plugin
    and crashes), so the session gets no thread registers: a core is read
    whole from the file, a local process through /proc, and goroutines
    running at the stop stay on their OS threads."""

    def __init__(self, process):
        self.process = process

    def key(self) -> Tuple[int, int]:
        return (self.process.GetUniqueID(), self.process.GetStopID())

    def target(self) -> TargetInfo:
        return _target_info(self.process.GetTarget())

    def threads(self) -> List[Tuple[int, Dict[str, int]]]:
        return []

    def read_memory(self, addr: int, length: int) -> Optional[bytes]:
        return _read_memory(self.process, addr, length)


def max_goroutine_threads() -> int:
    """How many goroutines the OS plugin lists as threads at a stop
    (``GOROSCOPE_LLDB_MAX_THREADS``, default 10 000; 0 = all). LLDB spends
    about 0.7 ms of its own per plugin thread at every stop (its thread
    objects, stop info, register contexts), i.e. over a minute at 100 000
    goroutines; the others are made on demand when ``go goroutine N``
    selects one."""
    try:
        return max(0, int(os.environ.get("GOROSCOPE_LLDB_MAX_THREADS", "10000")))
    except ValueError:
        return 10000


class OperatingSystemPlugIn:
    """Goroutines as LLDB threads (``settings set
    target.process.python-os-plugin-path .../goroscope_lldb_os.py``;
    ``goroscope.lldb`` sets it when imported)."""

    def __init__(self, process):
        self.process = process
        self.ctl = _Tracked(_PluginHost(process))
        self._not_go = False  # the process is not a Go program: stay out of the way
        # ((process id, stop id), {tid: (thread dict, register bytes)}), in allgs order
        self._cached = None
        self._told = None  # the stop at which the cap was last reported

    def _table(self) -> Dict[int, Tuple[Dict, bytes]]:
        """Every goroutine thread of this stop (cached per stop)."""
        key = self.ctl.host.key()
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        out = self._list_threads()
        if out:
            self._cached = (key, out)
        return out

    def _list_threads(self) -> Dict[int, Tuple[Dict, bytes]]:
        if self._not_go:
            return {}
        try:
            self.ctl.host.target()  # not a process: nothing to add
            gs = self.ctl.session().goroutine_threads()
        except Exception as e:
            self._not_go = "not a Go binary" in str(e)
            if os.environ.get("GOROSCOPE_LLDB_DEBUG"):  # why a process gets no goroutine threads
                print(f"goroscope OS plugin: {type(e).__name__}: {e}")
            return {}  # not a Go program, no native module, ...: LLDB's threads only
        out = {}
        pack = struct.Struct(f"<{len(_OS_REGS)}Q").pack
        names = [n for n, _, _ in _OS_REGS]
        for goid, g_addr, queue, pc, sp, bp in gs:
            tid = GOROUTINE_TID_BASE + goid
            # r14 holds the current g in Go's register ABI.
            vals = {"rip": pc, "rsp": sp, "rbp": bp, "r14": g_addr}
            info = {"tid": tid, "name": f"goroutine {goid}", "queue": queue, "state": "stopped", "stop_reason": "none"}
            out[tid] = (info, pack(*(vals.get(n, 0) for n in names)))
        return out

    def get_thread_info(self):
        try:
            table = self._table()
            cap = max_goroutine_threads()
            if not cap or len(table) <= cap:
                return [info for info, _ in table.values()]
            if self._told != self._cached[0]:
                self._told = self._cached[0]
                print(
                    f"goroscope: listing {cap} of {len(table)} goroutines as threads (GOROSCOPE_LLDB_MAX_THREADS); "
                    "`go goroutine N` selects any goroutine, `go goroutines` lists them all"
                )
            return [info for info, _ in itertools.islice(table.values(), cap)]
        except Exception:
            return []

    def get_register_info(self):
        regs = []
        for i, (name, dwarf, generic) in enumerate(_OS_REGS):
            r = {"name": name, "bitsize": 64, "offset": 8 * i, "encoding": "uint", "format": "hex", "set": 0, "gcc": dwarf, "dwarf": dwarf}
            if generic:
                r["generic"] = generic
            regs.append(r)
        return {"sets": ["General Purpose Registers"], "registers": regs}

    def get_register_data(self, tid):
        entry = self._table().get(tid)  # this stop's registers (cached per stop)
        return entry[1] if entry else bytes(8 * len(_OS_REGS))

    def create_thread(self, tid, context):
        """SBProcess.CreateOSPluginThread(tid, 0): the goroutine thread with
        this tid (how `go` commands add goroutine threads LLDB did not ask
        for: after an attach, or beyond GOROSCOPE_LLDB_MAX_THREADS)."""
        try:
            entry = self._table().get(tid)
            return entry[0] if entry else None
        except Exception:
            return None


OS_PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lldb_os", "goroscope_lldb_os.py")


# -- commands ------------------------------------------------------------------


def _write(result, text: str) -> None:
    if text:
        result.Print(text)


def _selected_goroutine(debugger) -> Tuple[int, int, int]:
    """(goroutine id, pc, sp) of LLDB's selected thread and frame: a
    goroutine thread of the OS plugin, or an OS thread running a goroutine."""
    process = debugger.GetSelectedTarget().GetProcess()
    thread = process.GetSelectedThread() if process.IsValid() else None
    if thread is None or not thread.IsValid():
        raise UserError("goroscope: no thread is selected: give a goroutine id (go locals N)")
    tid = thread.GetThreadID()
    if is_goroutine_tid(tid):
        goid = tid - GOROUTINE_TID_BASE
    else:
        goid = CTL.session().goroutine_on_thread(tid)
        if goid is None:
            raise UserError(f"goroscope: thread {tid} runs no goroutine: give a goroutine id (go locals N)")
    frame = thread.GetSelectedFrame()
    return goid, frame.GetPC(), frame.GetSP()


def _run(words: List[str], result, debugger=None) -> None:
    if debugger is not None:
        words = CTL.locals_words(words, lambda: _selected_goroutine(debugger))
    text, status, warnings = CTL.run(words)
    _write(result, text)
    for w in warnings:
        result.AppendWarning(f"goroscope: {w}")
    result.SetStatus(lldb.eReturnStatusSuccessFinishResult)


def _thread_of(process, goid: int):
    """The LLDB thread that shows goroutine goid, and a line saying so."""
    info = CTL.frames(goid)
    if info["thread"] is not None:
        t = process.GetThreadByID(info["thread"])
        if t.IsValid():
            return t, f"goroutine {goid} ({info['status']}) runs on thread #{t.GetIndexID()} (tid {info['thread']})"
        raise UserError(f"goroscope: goroutine {goid} runs on thread {info['thread']}, which lldb does not list")
    t = process.GetThreadByID(GOROUTINE_TID_BASE + goid)
    if not t.IsValid():  # beyond GOROSCOPE_LLDB_MAX_THREADS, or not listed yet
        t = process.CreateOSPluginThread(GOROUTINE_TID_BASE + goid, 0)
    if not t.IsValid():
        raise UserError(
            f"goroscope: goroutine {goid} is not among lldb's threads: is the OS plugin set? (`settings set target.process.python-os-plugin-path {OS_PLUGIN}`)"
        )
    return t, f"goroutine {goid} ({info['status']}) is thread #{t.GetIndexID()}"


def _ensure_goroutine_threads(process) -> None:
    """After `process attach` LLDB has listed the threads before it loaded
    the OS plugin, and asks it again only at the next stop: add the
    goroutine threads now (SBProcess.CreateOSPluginThread)."""
    if any(is_goroutine_tid(t.GetThreadID()) for t in process):
        return
    gs = CTL.session().goroutine_threads()
    cap = max_goroutine_threads()
    for goid, *_ in gs[:cap] if cap else gs:
        process.CreateOSPluginThread(GOROUTINE_TID_BASE + goid, 0)


def _threads_command(debugger, words: List[str], result) -> None:
    if words:
        raise UserError("goroscope: usage: go threads")
    process = debugger.GetSelectedTarget().GetProcess()
    CTL.session()
    _ensure_goroutine_threads(process)
    res = lldb.SBCommandReturnObject()
    debugger.GetCommandInterpreter().HandleCommand("thread list", res)
    _write(result, res.GetOutput() or "")
    result.SetStatus(lldb.eReturnStatusSuccessFinishResult)


def _select(debugger, words: List[str], result) -> None:
    if not words:
        raise UserError("goroscope: usage: go goroutine N [LLDB COMMAND...]")
    goid = parse_goroutine_id(words[0])
    process = debugger.GetSelectedTarget().GetProcess()
    CTL.session()
    _ensure_goroutine_threads(process)
    t, line = _thread_of(process, goid)
    process.SetSelectedThread(t)
    interp = debugger.GetCommandInterpreter()
    res = lldb.SBCommandReturnObject()
    command = " ".join(words[1:]) if len(words) > 1 else "frame select 0"
    # The nested command runs in the selected goroutine's context (not the
    # context `go` itself was called in).
    interp.HandleCommand(command, lldb.SBExecutionContext(t), res, False)
    if len(words) == 1:
        _write(result, f"[{line}]\n")
    _write(result, res.GetOutput() or "")
    if not res.Succeeded():
        raise UserError(res.GetError().rstrip("\n") or f"`{command}` failed")
    result.SetStatus(lldb.eReturnStatusSuccessFinishResult)


def _help() -> str:
    return (
        "Go runtime commands (goroscope): the CLI's commands and text on what lldb debugs.\n"
        "\n"
        "  go goroutines [--all] [--group]    one line per goroutine\n"
        "  go bt ID | go bt --all             Go tracebacks\n"
        "  go chain ID                        blocking chain from a goroutine\n"
        "  go blocking                        what blocked goroutines wait on\n"
        "  go deadlocks                       wait-for cycles, leaked goroutines\n"
        "  go stacks                          stack usage, recursion, overflow\n"
        "  go info                            Go version, counts, crash facts\n"
        "  go print EXPR...                   Go values as fmt prints them (package variables, fields, map keys)\n"
        "  go locals [ID] [--frame N]         parameters and locals; without ID, the selected goroutine\n"
        "                                     thread's selected frame (what `frame variable` would show)\n"
        "  go goroutine N [CMD...]            select goroutine N's thread (then bt, frame select, register read),\n"
        "                                     or run one lldb command there\n"
        "  go threads                         thread list, goroutine threads included (also right after an attach)\n"
        "\n"
        "Every command takes --json; blocking, chain and deadlocks take --dot.\n"
        "Goroutines are also threads (`thread list`: 'goroutine N', queue = its wait reason);\n"
        "at most GOROSCOPE_LLDB_MAX_THREADS of them (default 10000), `go goroutine N` reaches any.\n"
    )


class GoCommand:
    """`go …`: goroscope's commands in lldb."""

    def __init__(self, debugger, internal_dict):
        pass

    def get_short_help(self):
        return "Go runtime commands (goroscope): goroutines, tracebacks, blocking chains, deadlocks."

    def get_long_help(self):
        return _help()

    def __call__(self, debugger, command, exe_ctx, result):
        CTL.host.debugger = debugger
        try:
            try:
                words = shlex.split(command)
            except ValueError as e:
                raise UserError(f"goroscope: {e}") from None
            if not words:
                _write(result, _help())
                return
            if words[0] == "goroutine":
                _select(debugger, words[1:], result)
                return
            if words[0] == "threads":
                _threads_command(debugger, words[1:], result)
                return
            _run(words, result, debugger)
        except UserError as e:
            result.SetError(str(e))
        except KeyboardInterrupt:
            result.SetError("goroscope: interrupted")
        except Exception as e:
            result.SetError(f"goroscope: internal error: {type(e).__name__}: {e}")


# -- registration ----------------------------------------------------------------


def _install_os_plugin(debugger) -> None:
    interp = debugger.GetCommandInterpreter()
    res = lldb.SBCommandReturnObject()
    # The global default (targets created from now on) and, if there is
    # one, the current target (LLDB then loads the plugin at its next stop).
    interp.HandleCommand(f"settings set -g target.process.python-os-plugin-path {OS_PLUGIN}", res)
    t = debugger.GetSelectedTarget()
    if t.IsValid():
        interp.HandleCommand(f"settings set target.process.python-os-plugin-path {OS_PLUGIN}", res)


def register(debugger) -> None:
    """Adds the `go` command and installs the OperatingSystem plugin."""
    native()  # a clear message now if the native module is missing
    # LLDB resolves the class by name in its interpreter's namespace.
    debugger.HandleCommand(f"script import {__name__}")
    debugger.HandleCommand(f"command script add -o -c {__name__}.GoCommand go")
    _install_os_plugin(debugger)


def __lldb_init_module(debugger, internal_dict):
    try:
        register(debugger)
    except UserError as e:
        print(e)
