"""Parse Go goroutine tracebacks and compare them with goroscope's output.

This module understands the text the Go runtime prints for goroutine
stacks (``runtime.Stack(buf, true)``, ``panic``/``GOTRACEBACK=crash``
output, SIGQUIT dumps) and the same format printed by ``goroscope bt``.
It also turns ``goroscope goroutines --json`` output into the same model,
applying the frame-hiding rules the Go runtime uses at traceback level 1,
so that both can be compared with the runtime's own dump.

It has no dependencies beyond the standard library and is unit-tested in
``test_traceback_parser.py``.

Note: this file is named ``traceback.py`` but lives in the ``e2e`` package
(tests/e2e/__init__.py), so it never shadows the standard library module;
import it as ``from .traceback import ...`` or ``from e2e.traceback import ...``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Callable, Iterable, Optional

# Go prints the first INNER frames and the last OUTER frames of a stack and
# replaces the middle with "...N frames elided..." (Go >= 1.21).
TRACEBACK_INNER_FRAMES = 50
TRACEBACK_OUTER_FRAMES = 50

BUSY_STATUSES = frozenset({"running", "runnable"})

# goroutine 7 [chan receive]:
# goroutine 7 gp=0xc000007340 m=3 mp=0xc000100008 [running]:
# goroutine 7 gp=0xc000007340 m=nil [chan receive, 2 minutes, locked to thread]:
# goroutine 7 [select] {"k": "v"}:        (Go >= 1.26 with GODEBUG=tracebacklabels=1)
_HEADER_RE = re.compile(
    r"^goroutine (?P<id>\d+)"
    r"(?P<extras>(?: [a-z]+=\S+)*)"
    r" \[(?P<status>[^\]]*)\]"
    r"(?: (?P<labels>\{.*\}))?"
    r":\s*$"
)
# \t/path/to/file.go:123 +0x1d fp=0xc000 sp=0xc000 pc=0x4a
_LOCATION_RE = re.compile(
    r"^\t(?P<file>.*):(?P<line>\d+)"
    r"(?: \+0x(?P<offset>[0-9a-fA-F]+))?"
    r"(?P<extras>(?: [a-z]+=\S+)*)\s*$"
)
_CREATED_BY_RE = re.compile(r"^created by (?P<function>.+?)(?: in goroutine (?P<goroutine>\d+))?\s*$")
_ELIDED_RE = re.compile(r"^\.\.\.(?P<n>\d+) frames elided\.\.\.\s*$")
_ADDITIONAL_ELIDED = "...additional frames elided..."
_UNAVAILABLE = "goroutine running on other thread; stack unavailable"
_ANCESTOR_RE = re.compile(r"^\[originating from goroutine \d+\]:\s*$")
_MINUTES_RE = re.compile(r"^\d+ minutes?$")


class ParseError(ValueError):
    pass


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Frame:
    function: str
    file: str
    line: int
    args: Optional[str] = None  # text between the last parentheses, None if unknown
    offset: Optional[int] = None  # the +0x.. part; None for inlined frames
    extras: str = ""  # " fp=.. sp=.. pc=.." at traceback level >= 2

    def key(self) -> tuple:
        return (normalize_function(self.function), self.file, self.line)

    def render(self) -> str:
        return f"{normalize_function(self.function)}\n\t{self.file}:{self.line}"


@dataclasses.dataclass
class Creator:
    function: str
    file: str
    line: int
    goroutine: Optional[int] = None

    def key(self) -> tuple:
        return (normalize_function(self.function), self.file, self.line, self.goroutine or 0)

    def render(self) -> str:
        s = f"created by {normalize_function(self.function)}"
        if self.goroutine:
            s += f" in goroutine {self.goroutine}"
        return f"{s}\n\t{self.file}:{self.line}"


@dataclasses.dataclass
class Goroutine:
    id: int
    status: str  # text between the brackets of the header, verbatim
    frames: list[Frame] = dataclasses.field(default_factory=list)
    # "...N frames elided...": N, and how many frames were printed before it.
    elided: int = 0
    elided_at: Optional[int] = None
    created_by: Optional[Creator] = None
    unavailable: bool = False  # "goroutine running on other thread; stack unavailable"
    header_extras: dict = dataclasses.field(default_factory=dict)  # gp=, m=, mp=
    labels: Optional[str] = None
    # False when the status came from JSON, which has no "locked to thread" etc.
    status_extras_known: bool = True
    unknown_lines: list[str] = dataclasses.field(default_factory=list)
    raw: str = ""

    # -- status helpers -------------------------------------------------
    @property
    def base_status(self) -> str:
        return split_status(self.status)[0]

    @property
    def status_extras(self) -> tuple[str, ...]:
        return split_status(self.status)[1]

    @property
    def total_frames(self) -> int:
        return len(self.frames) + self.elided

    def render(self) -> str:
        """Canonical text used in diffs (no args, offsets or fp/sp/pc)."""
        out = [f"goroutine {self.id} [{self.status}]:"]
        if self.unavailable:
            out.append("\tgoroutine running on other thread; stack unavailable")
        for i, f in enumerate(self.frames):
            if self.elided and i == self.elided_at:
                out.append(f"...{self.elided} frames elided...")
            out.append(f.render())
        if self.elided and self.elided_at == len(self.frames):
            out.append(f"...{self.elided} frames elided...")
        if self.created_by:
            out.append(self.created_by.render())
        return "\n".join(out)


def split_status(status: str) -> tuple[str, tuple[str, ...]]:
    """Split a header status into (base, extras).

    The base is the status or wait reason without " (scan)"; extras are the
    comma-separated additions except "N minutes" (which depends on timing):
    "locked to thread", "synctest bubble N".
    """
    parts = [p.strip() for p in status.split(", ")]
    base = parts[0].replace(" (scan)", "")
    extras = tuple(p for p in parts[1:] if p and not _MINUTES_RE.match(p))
    return base, extras


def normalize_function(name: str) -> str:
    """The name as Go's traceback prints it (printFuncName).

    runtime.gopanic prints as "panic"; the type arguments of a generic
    function print as "[...]".
    """
    if name == "runtime.gopanic":
        return "panic"
    i = name.find("[")
    if i >= 0:
        j = name.rfind("]")
        if j > i:
            name = name[:i] + "[...]" + name[j + 1 :]
    return name


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------


def split_call(line: str) -> tuple[str, Optional[str]]:
    """Split "FUNC(ARGS)" into (FUNC, ARGS); the args are the LAST
    parenthesised group (function names may contain parentheses, as in
    ``main.(*Store).flush(0x0?)``)."""
    s = line.rstrip()
    if not s.endswith(")"):
        return s, None
    depth = 0
    for i in range(len(s) - 1, -1, -1):
        c = s[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                if i == 0:
                    return s, None
                return s[:i], s[i + 1 : -1]
    return s, None


def parse_location(line: str) -> Optional[tuple[str, int, Optional[int], str]]:
    m = _LOCATION_RE.match(line)
    if not m:
        return None
    off = int(m.group("offset"), 16) if m.group("offset") is not None else None
    return m.group("file"), int(m.group("line")), off, m.group("extras").strip()


def parse_traceback(text: str) -> list[Goroutine]:
    """Parse every goroutine block in ``text``.

    Lines outside goroutine blocks (``panic: ...``, ``SIGABRT: abort``,
    ``PC=...``, register dumps, ``-----`` separators) are ignored. Blocks end
    at a blank line or at the next header. Lines inside a block that are not
    understood are kept in ``Goroutine.unknown_lines``.
    """
    goroutines: list[Goroutine] = []
    cur: Optional[Goroutine] = None
    raw: list[str] = []
    pending: Optional[tuple[str, Optional[str]]] = None  # function line awaiting location
    pending_creator: Optional[tuple[str, Optional[int]]] = None
    in_ancestors = False

    def finish() -> None:
        nonlocal cur, pending, pending_creator, in_ancestors, raw
        if cur is not None:
            if pending is not None:
                cur.unknown_lines.append(f"{pending[0]}(...) without a location line")
            if pending_creator is not None:
                cur.unknown_lines.append(f"created by {pending_creator[0]} without a location line")
            cur.raw = "\n".join(raw)
            goroutines.append(cur)
        cur, pending, pending_creator, in_ancestors, raw = None, None, None, False, []

    for line in text.splitlines():
        m = _HEADER_RE.match(line)
        if m:
            finish()
            extras = {}
            for kv in m.group("extras").split():
                k, _, v = kv.partition("=")
                extras[k] = v
            cur = Goroutine(
                id=int(m.group("id")),
                status=m.group("status"),
                header_extras=extras,
                labels=m.group("labels"),
            )
            raw = [line]
            continue
        if cur is None:
            continue
        if not line.strip():
            finish()
            continue
        raw.append(line)
        if in_ancestors:
            continue
        if line.startswith("\t"):
            loc = parse_location(line)
            if line.strip() == _UNAVAILABLE:
                cur.unavailable = True
            elif loc is None:
                cur.unknown_lines.append(line)
            elif pending is not None:
                fn, args = pending
                cur.frames.append(Frame(fn, loc[0], loc[1], args, loc[2], loc[3]))
                pending = None
            elif pending_creator is not None:
                fn, gid = pending_creator
                cur.created_by = Creator(fn, loc[0], loc[1], gid)
                pending_creator = None
            else:
                cur.unknown_lines.append(line)
            continue
        if line.strip() == _UNAVAILABLE:
            cur.unavailable = True
            continue
        m = _ELIDED_RE.match(line)
        if m:
            cur.elided = int(m.group("n"))
            cur.elided_at = len(cur.frames)
            continue
        if line.strip() == _ADDITIONAL_ELIDED:
            continue
        if _ANCESTOR_RE.match(line):
            in_ancestors = True
            continue
        m = _CREATED_BY_RE.match(line)
        if m:
            gid = m.group("goroutine")
            pending_creator = (m.group("function"), int(gid) if gid else None)
            continue
        fn, args = split_call(line)
        if args is None or not fn:
            cur.unknown_lines.append(line)
            continue
        if pending is not None:
            cur.unknown_lines.append(f"{pending[0]}(...) without a location line")
        pending = (fn, args)
    finish()
    return goroutines


def by_id(goroutines: Iterable[Goroutine]) -> dict[int, Goroutine]:
    """Index goroutines by id. If an id appears more than once (crash output
    can print a goroutine both as "stack unavailable" and from its own
    thread), prefer the first block that has a stack."""
    out: dict[int, Goroutine] = {}
    for g in goroutines:
        old = out.get(g.id)
        if old is None or (old.unavailable and not g.unavailable):
            out[g.id] = g
    return out


# ---------------------------------------------------------------------------
# Go's frame-hiding rules (runtime/traceback.go showfuncinfo), for JSON
# ---------------------------------------------------------------------------


def parse_go_version(v: str) -> tuple[int, ...]:
    """ "go1.26.6" / "1.26.6" / "go1.23rc1" -> (1, 26, 6) / (1, 23)."""
    m = re.match(r"^(?:go)?(\d+)\.(\d+)(?:\.(\d+))?", v.strip())
    if not m:
        raise ValueError(f"not a Go version: {v!r}")
    return tuple(int(x) for x in m.groups() if x is not None)


def is_exported_runtime(name: str, go_version: tuple[int, ...]) -> bool:
    if not name.startswith("runtime.") or len(name) <= len("runtime."):
        return False
    rest = name[len("runtime.") :]
    if go_version < (1, 23):
        return "A" <= rest[0] <= "Z"
    # Go >= 1.23: exported functions and exported methods on exported types,
    # e.g. runtime.(*Func).Name.
    rcvr = ""
    i = rest.rfind(".")
    if i >= 0:
        rcvr, rest = rest[:i], rest[i + 1 :]
        if len(rcvr) >= 3 and rcvr.startswith("(*") and rcvr.endswith(")"):
            rcvr = rcvr[2:-1]
    return bool(rest) and "A" <= rest[0] <= "Z" and (not rcvr or "A" <= rcvr[0] <= "Z")


_WRAPPER_KEPT_CALLEES = frozenset({"runtime.gopanic", "runtime.sigpanic", "runtime.panicwrap"})
_ALWAYS_SHOWN_125 = frozenset({"runtime.runFinalizers", "runtime.runCleanups"})


def go_shows_frame(
    name: str,
    *,
    first_frame: bool,
    go_version: tuple[int, ...],
    wrapper: bool = False,
    callee: Optional[str] = None,
    level: int = 1,
) -> bool:
    """Whether Go's traceback at GOTRACEBACK level ``level`` prints a frame
    of function ``name``. ``first_frame``: no frame has been printed yet;
    ``callee``: the function of the next-inner logical frame (None for the
    innermost)."""
    if level > 1:
        return True
    if wrapper and callee not in _WRAPPER_KEPT_CALLEES:
        return False
    if go_version >= (1, 25) and name in _ALWAYS_SHOWN_125:
        return True
    if name == "runtime.gopanic" and not first_frame:
        return True
    return "." in name and (not name.startswith("runtime.") or is_exported_runtime(name, go_version))


def go_visible_frames(frames: list[Frame], wrappers: list[bool], go_version: tuple[int, ...], level: int = 1) -> list[Frame]:
    """Filter ALL frames (innermost first) the way Go prints them; if nothing
    would be shown, Go prints every frame."""
    shown: list[Frame] = []
    callee: Optional[str] = None
    for f, w in zip(frames, wrappers):
        if go_shows_frame(f.function, first_frame=not shown, go_version=go_version, wrapper=w, callee=callee, level=level):
            shown.append(f)
        callee = f.function
    return shown if shown else list(frames)


def elide(frames: list[Frame]) -> tuple[list[Frame], int, Optional[int]]:
    """Apply Go's elision: (printed frames, elided count, index of the marker)."""
    n = len(frames)
    if n <= TRACEBACK_INNER_FRAMES + TRACEBACK_OUTER_FRAMES:
        return list(frames), 0, None
    elided = n - TRACEBACK_INNER_FRAMES - TRACEBACK_OUTER_FRAMES
    return frames[:TRACEBACK_INNER_FRAMES] + frames[-TRACEBACK_OUTER_FRAMES:], elided, TRACEBACK_INNER_FRAMES


def json_status(g: dict) -> str:
    status = g.get("status") or "???"
    reason = g.get("wait_reason")
    if status == "waiting" and reason:
        return reason
    # _Gleaked (go1.26+, after a leak-detecting GC): "[chan send (leaked)]".
    if status == "leaked" and reason:
        return f"{reason} (leaked)"
    return status


def goroutine_from_json(g: dict, go_version, *, level: int = 1, apply_elision: bool = True) -> Goroutine:
    """Turn one element of ``goroscope goroutines --json``'s "goroutines"
    into a Goroutine as Go would print it at traceback ``level``."""
    if isinstance(go_version, str):
        go_version = parse_go_version(go_version)
    all_frames = []
    wrappers = []
    for f in g.get("frames") or []:
        all_frames.append(Frame(f["function"], f.get("file") or "?", int(f.get("line") or 0), None, None))
        wrappers.append(bool(f.get("wrapper")))
    frames = go_visible_frames(all_frames, wrappers, go_version, level)
    elided, at = 0, None
    if apply_elision:
        frames, elided, at = elide(frames)
    creator = None
    cb = g.get("created_by")
    gid = int(g["id"])
    if cb and gid != 1 and go_shows_frame(cb["function"], first_frame=False, go_version=go_version, level=level):
        creator = Creator(cb["function"], cb.get("file") or "?", int(cb.get("line") or 0), cb.get("goroutine"))
    return Goroutine(
        id=gid,
        status=json_status(g),
        frames=frames,
        elided=elided,
        elided_at=at,
        created_by=creator,
        status_extras_known=False,
    )


def start_function(g: Goroutine) -> Optional[str]:
    """The goroutine's entry function as far as visible: the outermost frame
    that is not runtime.goexit."""
    for f in reversed(g.frames):
        if f.function != "runtime.goexit":
            return f.function
    return None


def looks_like_system_goroutine(g: Goroutine) -> bool:
    """Heuristic for Go's isSystemGoroutine: started by a runtime function
    other than runtime.main (bgsweep, forcegchelper, runfinq, GC workers,
    ...). Used only to explain extra goroutines the tool lists."""
    fn = start_function(g)
    if fn is None:
        return False
    fn = normalize_function(fn)
    if fn.startswith("runtime.") and fn != "runtime.main":
        return True
    if g.created_by is None and g.id != 1 and all(f.function.startswith("runtime.") for f in g.frames):
        return True
    return False


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------


def _split_elided(g: Goroutine) -> tuple[list[Frame], Optional[list[Frame]]]:
    """(frames before the elision marker, frames after it or None)."""
    if g.elided:
        at = g.elided_at or 0
        return g.frames[:at], g.frames[at:]
    return g.frames, None


def compare_goroutine(expected: Goroutine, actual: Goroutine) -> list[str]:
    """Problems (empty if none) between Go's own block ``expected`` and the
    tool's block ``actual`` for the same goroutine.

    Rules: same status text (wait reason; "N minutes" and "(scan)" are
    ignored; "locked to thread" etc. only when both sides carry them), except
    when either side is running/runnable (a busy goroutine): then the status
    is not compared and the innermost frame only by function name. Frames
    (function, file, line) in order; when Go elided the middle of a long
    stack, the first and last frames it printed and the elided count (a tool
    that printed the whole stack is compared the same way). Same "created by"
    (function, goroutine, file, line).
    """
    problems: list[str] = []
    if expected.unavailable:
        return problems
    busy = expected.base_status in BUSY_STATUSES or actual.base_status in BUSY_STATUSES
    if not busy:
        if expected.base_status != actual.base_status:
            problems.append(f"status: expected [{expected.base_status}], got [{actual.base_status}]")
        elif expected.status_extras_known and actual.status_extras_known and expected.status_extras != actual.status_extras:
            problems.append(f"status: expected [{expected.status}], got [{actual.status}]")
    if actual.unavailable and not actual.frames:
        problems.append("tool printed no stack (stack unavailable)")
        return problems

    counts_differ = expected.total_frames != actual.total_frames
    if counts_differ:
        problems.append(
            f"frame count: expected {expected.total_frames} ({len(expected.frames)} printed, {expected.elided} elided), "
            f"got {actual.total_frames} ({len(actual.frames)} printed, {actual.elided} elided)"
        )
    eh, et = _split_elided(expected)
    ah, at = _split_elided(actual)
    if et is None and at is None:
        pairs = [("stack", eh, ah)]
    else:
        if et is None:
            problems.append(f"the tool elided {actual.elided} frames but Go printed the whole stack")
            assert at is not None
            et = eh[max(len(eh) - len(at), 0) :]
            eh = eh[: len(ah)]
        if at is None:
            at = ah[max(len(ah) - len(et), 0) :]
            ah = ah[: len(eh)]
        pairs = [("inner", eh, ah), ("outer", et, at)]

    for what, es, as_ in pairs:
        for i, (e, a) in enumerate(zip(es, as_)):
            if i == 0 and busy and what != "outer":
                if normalize_function(e.function) != normalize_function(a.function):
                    problems.append(
                        f"{what} frame #{i}: expected function {normalize_function(e.function)}, "
                        f"got {normalize_function(a.function)} (busy goroutine: only the name is compared)"
                    )
                continue
            if e.key() != a.key():
                problems.append(
                    f"{what} frame #{i}: expected {normalize_function(e.function)} at {e.file}:{e.line}, "
                    f"got {normalize_function(a.function)} at {a.file}:{a.line}"
                )
                break  # the diff shows the rest
        else:
            if len(es) != len(as_) and not counts_differ:
                problems.append(f"{what}: expected {len(es)} frames, got {len(as_)}")

    ec, ac = expected.created_by, actual.created_by
    if (ec is None) != (ac is None):
        problems.append("created by: expected " + (repr(ec.render()) if ec else "none") + ", got " + (repr(ac.render()) if ac else "none"))
    elif ec and ac and ec.key() != ac.key():
        problems.append(f"created by: expected {ec.render()!r}, got {ac.render()!r}")
    return problems


def diff_blocks(expected: Goroutine, actual: Optional[Goroutine]) -> str:
    e = expected.render().splitlines()
    a = actual.render().splitlines() if actual else []
    return "\n".join(difflib.unified_diff(e, a, fromfile="expected (Go runtime)", tofile="actual (goroscope)", lineterm="", n=3))


@dataclasses.dataclass
class DumpComparison:
    compared: list[int]
    skipped: dict[int, str]
    problems: dict[int, list[str]]
    missing: list[int]
    extra: list[int]
    explained_extra: dict[int, str]
    report: str

    @property
    def ok(self) -> bool:
        return not self.problems and not self.missing and not self.extra


def compare_dumps(
    expected: Iterable[Goroutine],
    actual: Iterable[Goroutine],
    *,
    skip: Optional[dict[int, str]] = None,
    include: Optional[Callable[[Goroutine], Optional[str]]] = None,
    explain_extra: Optional[Callable[[Goroutine], Optional[str]]] = None,
    title: str = "",
) -> DumpComparison:
    """Compare every goroutine of Go's dump ``expected`` with the tool's.

    ``skip``: ids not to compare, with the reason. ``include(g)`` may return
    a reason to skip an expected goroutine. ``explain_extra(g)`` returns why
    a goroutine the tool lists but the dump does not is acceptable, or None.
    """
    skip = dict(skip or {})
    exp = by_id(expected)
    act = by_id(actual)
    compared, problems, missing = [], {}, []
    for gid, eg in exp.items():
        if gid == 0:
            skip.setdefault(gid, "goroutine 0 is an M's g0 stack")
        if gid in skip:
            continue
        if eg.unavailable:
            skip[gid] = "Go printed no stack (running on other thread)"
            continue
        if include is not None:
            why = include(eg)
            if why:
                skip[gid] = why
                continue
        ag = act.get(gid)
        if ag is None:
            missing.append(gid)
            continue
        compared.append(gid)
        p = compare_goroutine(eg, ag)
        if p:
            problems[gid] = p
    extra, explained = [], {}
    for gid, ag in act.items():
        if gid in exp or gid in skip:
            continue
        why = explain_extra(ag) if explain_extra else None
        if why:
            explained[gid] = why
        else:
            extra.append(gid)

    lines: list[str] = []
    if problems or missing or extra:
        if title:
            lines.append(title)
        lines.append(
            f"compared {len(compared)} goroutines: {len(problems)} differ, {len(missing)} missing in tool output, {len(extra)} unexpected in tool output"
        )
        for gid in missing:
            lines.append(f"\n--- goroutine {gid}: missing from tool output; Go printed:\n{exp[gid].render()}")
        for gid, ps in problems.items():
            lines.append(f"\n--- goroutine {gid}:")
            lines.extend(f"  * {p}" for p in ps)
            lines.append(diff_blocks(exp[gid], act[gid]))
        for gid in extra:
            lines.append(f"\n--- goroutine {gid}: listed by the tool but not in Go's dump:\n{act[gid].render()}")
        if skip:
            lines.append("\n(skipped: " + ", ".join(f"{k}: {v}" for k, v in sorted(skip.items())) + ")")
    return DumpComparison(compared, skip, problems, missing, extra, explained, "\n".join(lines))
