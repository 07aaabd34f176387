"""Go value printers for gdb. Maps, channels, interfaces, locks and
goroutines are decoded by the Rust core; gdb prints the keys, elements
and fields with its own DWARF types."""

from __future__ import annotations

from typing import Dict, Optional

import gdb

from goroscope.gdb.host import CTL

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
