"""The debugger-agnostic part of goroscope's debugger adapters.

A :class:`Controller` owns one native session per stop of the target (a
core never stops; a live or remote process gets a new session after every
stop, which also drops the memory cache), runs commands through the one
command grammar shared with the CLI, and remembers which goroutine the user
selected. Adapters (``goroscope.gdb``, later ``goroscope.lldb``) implement
:class:`Host` for their debugger and turn :class:`UserError` into the
debugger's own error reporting. Nothing here decodes Go memory: that is the
Rust core's job.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple


class UserError(Exception):
    """A message for the user, shown without a Python traceback."""


def native():
    """The native module, or a UserError saying how to build it."""
    try:
        from goroscope import _native
    except ImportError as e:
        raise UserError(
            "goroscope: the native module goroscope._native is not built or not importable "
            f"({e}); run `pip install .` in the goroscope checkout, or scripts/build-python for an in-tree build"
        ) from None
    return _native


@dataclasses.dataclass
class TargetInfo:
    """What the debugger is looking at."""

    kind: str  # "core", "local" (a process on this machine) or "remote"
    exe: str
    core: Optional[str] = None
    pid: int = 0
    describe: str = ""


class Host:
    """What an adapter provides about its debugger's current target."""

    def target(self) -> TargetInfo:
        """The current target; raise UserError when there is none."""
        raise NotImplementedError

    def threads(self) -> List[Tuple[int, Dict[str, int]]]:
        """Every thread as (tid, {register name: value}), amd64 names."""
        raise NotImplementedError

    def read_memory(self, addr: int, length: int) -> Optional[bytes]:
        """The readable prefix of [addr, addr+length) (remote targets)."""
        raise NotImplementedError


@dataclasses.dataclass
class Selection:
    """The goroutine whose frames the debugger shows on one of its threads
    (the host's thread ``thread_key`` keeps its own registers; the
    unwinder makes the goroutine's frames its callers)."""

    goid: int
    thread_key: Any
    thread_sp: int
    thread_pc: int
    info: Dict[str, Any]

    def frame_at(self, sp: int) -> Optional[Dict[str, Any]]:
        for f in self.info["frames"]:
            if f["sp"] == sp:
                return f
        return None


class Controller:
    """Sessions, commands and the goroutine selection for one debugger."""

    def __init__(self, host: Host):
        self.host = host
        self._session = None
        self._frames: Dict[int, Dict[str, Any]] = {}
        self.selection: Optional[Selection] = None

    # -- sessions ---------------------------------------------------------
    def invalidate(self, *, keep_selection: bool = False) -> None:
        """Forget everything read from the target (call at every stop and
        resume). The selection survives only where the caller knows the
        stack did not change."""
        self._session = None
        self._frames = {}
        if not keep_selection:
            self.selection = None

    def session(self):
        if self._session is not None:
            return self._session
        n = native()
        t = self.host.target()
        try:
            if t.kind == "core":
                s = n.Session.open_core(t.core, t.exe or None)
            elif t.kind == "local":
                s = n.Session.open_host(t.exe, self.host.threads(), pid=t.pid)
            else:
                s = n.Session.open_host(t.exe, self.host.threads(), pid=t.pid, read=self.host.read_memory, describe=t.describe)
        except n.GoroscopeError as e:
            raise UserError(f"goroscope: {t.describe or t.exe}: {e}") from None
        self._session = s
        return s

    # -- commands ---------------------------------------------------------
    def run(self, words: Sequence[str]) -> Tuple[str, int, List[str]]:
        """Runs a command line of the shared grammar; returns (text, exit
        status, warnings) exactly as the CLI would print them."""
        n = native()
        words = list(words)
        try:
            # Parse first: usage errors and --help need no target.
            n.check(words)
            return self.session().run(words)
        except n.UsageError as e:
            raise UserError(str(e).rstrip("\n")) from None
        except n.GoroscopeError as e:
            raise UserError(f"goroscope: {e}") from None

    def help_text(self, words: Sequence[str]) -> str:
        return native().help_text(list(words))

    def goroutine_ids(self, system: bool = True) -> List[int]:
        return list(self.session().goroutine_ids(system))

    def frames(self, goid: int) -> Dict[str, Any]:
        """The physical frames of a goroutine (see _native.Session.goroutine_frames)."""
        if goid not in self._frames:
            n = native()
            try:
                self._frames[goid] = self.session().goroutine_frames(goid)
            except n.GoroscopeError as e:
                raise UserError(f"goroscope: {e}") from None
        return self._frames[goid]

    def physical_frame(self, goid: int, pc: int, sp: int) -> int:
        """The index among goroutine ``goid``'s physical frames of the
        debugger frame with this pc and sp (``locals --physical-frame``)."""
        for i, f in enumerate(self.frames(goid)["frames"]):
            if f["pc"] == pc and f["sp"] == sp:
                return i
        raise UserError(f"goroscope: the selected frame (pc {pc:#x}, sp {sp:#x}) is not one of goroutine {goid}'s frames")

    def locals_words(self, words: List[str], selected) -> List[str]:
        """`locals` with no goroutine id: the debugger's selected
        goroutine and frame. ``selected()`` returns (goid, pc, sp) or raises
        UserError saying why there is none."""
        if words[:1] != ["locals"] or any(w in ("-h", "--help") for w in words[1:]):
            return words
        rest = iter(words[1:])
        for w in rest:
            if w in ("--frame", "--physical-frame", "--max-elems"):
                next(rest, None)  # the option's value
            elif not w.startswith("-"):
                return words  # a goroutine id is given
        goid, pc, sp = selected()
        rest = list(words[1:])
        if not any(w.startswith("--frame") or w.startswith("--physical-frame") for w in rest):
            rest = ["--physical-frame", str(self.physical_frame(goid, pc, sp)), *rest]
        return ["locals", str(goid), *rest]

    def complete_ids(self, prefix: str) -> List[str]:
        """Goroutine ids starting with ``prefix`` (never raises: completion
        must stay quiet)."""
        try:
            ids = self.goroutine_ids(system=True)
        except Exception:
            return []
        return [str(i) for i in ids if str(i).startswith(prefix)]


def parse_goroutine_id(word: str) -> int:
    try:
        v = int(word, 10)
    except ValueError:
        raise UserError(f"goroscope: not a goroutine id: {word!r}") from None
    if v < 0:
        raise UserError(f"goroscope: not a goroutine id: {word!r}")
    return v
