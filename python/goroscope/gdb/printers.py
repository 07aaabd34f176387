"""Go value printers for gdb. Go values are decoded by the Rust core
(goroscope::values, through ``Session.value``): maps, channels,
interfaces, sync.Mutex/RWMutex/WaitGroup, time.Time, time.Duration and
contexts. These printers only adapt the result to gdb: the Go fmt text
where that is what Go users expect, children (``display_hint`` "map" or
"array", so ``set print elements`` applies) where the value is a
collection. Slices and strings are gdb's own values, shown as Go shows
them."""

from __future__ import annotations

import json
import struct
from typing import Any, Dict, Optional, Tuple

import gdb

from goroscope.gdb.host import CTL


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
