//! Decoding a typed address of target memory into a [`Value`]. Bounded
//! (element counts, string lengths, depth, a total budget) and cycle-safe:
//! pointers are followed only where fmt follows them (depth 0), and any
//! unreadable memory becomes a [`Data::Error`] in the tree, never a panic.

use std::cell::Cell;

use crate::memory::Memory;
use crate::values::types::{GoType, Kind, TypeGraph, TypeId};
use crate::values::value::{Data, FieldValue, Value};

/// Bounds on what one decode reads.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Elements per slice, array or map.
    pub max_elems: usize,
    /// Bytes per string.
    pub max_string: usize,
    /// Nesting depth.
    pub max_depth: usize,
    /// Values decoded in total.
    pub max_values: usize,
}

impl Limits {
    /// The default limits with `max_elems` elements per container (the
    /// commands' `--max-elems`).
    pub fn with_max_elems(max_elems: usize) -> Self {
        Limits {
            max_elems,
            ..Default::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        // Large enough for a 10 000-entry map of small values; the depth
        // also bounds emulated methods (each context parent costs two
        // levels), so it allows ~30-deep context chains.
        Limits {
            max_elems: 100_000,
            max_string: 1 << 20,
            max_depth: 64,
            max_values: 2_000_000,
        }
    }
}

/// Decodes values of one binary from one address space.
pub struct Decoder<'a> {
    pub mem: &'a dyn Memory,
    pub types: &'a TypeGraph,
    /// PIE load bias: runtime type pointers minus this are the link-time
    /// addresses DWARF records.
    pub bias: u64,
    /// moduledata.types, to name runtime type descriptors.
    pub types_base: u64,
    pub limits: Limits,
    /// Go minor release (some method texts changed between releases).
    pub go_minor: u32,
    budget: Cell<usize>,
}

// Addresses read from the target may be garbage: address arithmetic on
// them wraps (the read then fails cleanly) instead of overflowing.

/// Swiss-table control byte: the high bit is set for empty and deleted
/// slots (internal/runtime/maps/group.go ctrlEmpty, ctrlDeleted).
const CTRL_FREE_BIT: u8 = 0x80;
/// Classic buckets: tophash values below minTopHash mark empty or
/// evacuated cells (runtime/map.go).
const MIN_TOP_HASH: u8 = 5;
/// Cells per classic bucket and slots per swiss group.
const SLOTS: u64 = 8;

impl<'a> Decoder<'a> {
    pub fn new(
        mem: &'a dyn Memory,
        types: &'a TypeGraph,
        bias: u64,
        types_base: u64,
        limits: Limits,
    ) -> Self {
        Decoder {
            mem,
            types,
            bias,
            types_base,
            limits,
            go_minor: 0,
            budget: Cell::new(limits.max_values),
        }
    }

    /// Decodes the value of type `ty` at `addr`, as fmt sees a top-level
    /// argument (depth 0: pointers to composites are followed once).
    pub fn decode(&self, ty: TypeId, addr: u64) -> Value {
        self.budget.set(self.limits.max_values);
        self.at(ty, addr, 0)
    }

    fn t(&self, ty: TypeId) -> &'a GoType {
        self.types.get(ty)
    }

    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, String> {
        let mut b = vec![0u8; len];
        self.mem
            .read_exact(addr, &mut b)
            .map_err(|e| format!("unreadable: {e}"))?;
        Ok(b)
    }

    fn u64_at(&self, addr: u64) -> Result<u64, String> {
        self.mem
            .read_u64(addr)
            .map_err(|e| format!("unreadable: {e}"))
    }

    /// The value of type `ty` at `addr`, `depth` levels below the argument.
    pub fn at(&self, ty: TypeId, addr: u64, depth: usize) -> Value {
        let t = self.t(ty);
        let left = self.budget.get();
        if left == 0 {
            return Value::error(&t.name, t.kind, addr, "value budget exhausted");
        }
        self.budget.set(left - 1);
        if depth > self.limits.max_depth {
            return Value::error(&t.name, t.kind, addr, "too deep");
        }
        let data = match self.data(t, addr, depth) {
            Ok(d) => d,
            Err(e) => Data::Error(e),
        };
        let mut v = Value {
            type_name: t.name.clone(),
            kind: t.kind,
            addr,
            data,
            method: None,
            note: None,
        };
        crate::values::methods::annotate(self, &mut v, depth);
        v
    }

    /// Some fields of the struct `ty` at `addr` (what a method needs,
    /// without decoding the rest: a cancelCtx's children map would lead
    /// back to its parent).
    pub fn fields_at(&self, ty: TypeId, addr: u64, names: &[&str], depth: usize) -> Value {
        let t = self.t(ty);
        let fields = t
            .fields
            .iter()
            .filter(|f| names.contains(&f.name.as_str()))
            .map(|f| FieldValue {
                name: f.name.clone(),
                value: self.at(f.ty, addr.wrapping_add(f.offset), depth + 1),
            })
            .collect();
        Value {
            type_name: t.name.clone(),
            kind: t.kind,
            addr,
            data: Data::Struct(fields),
            method: None,
            note: None,
        }
    }

    fn data(&self, t: &GoType, addr: u64, depth: usize) -> Result<Data, String> {
        let scalar = |size: u64| -> Result<u64, String> {
            let n = size.clamp(1, 8) as usize;
            let b = self.read(addr, n)?;
            let mut w = [0u8; 8];
            w[..n].copy_from_slice(&b);
            Ok(u64::from_le_bytes(w))
        };
        Ok(match t.kind {
            Kind::Bool => Data::Bool(scalar(1)? != 0),
            Kind::Int => {
                let u = scalar(t.size)?;
                let shift = 64 - 8 * t.size.clamp(1, 8);
                Data::Int(((u << shift) as i64) >> shift)
            }
            Kind::Uint => Data::Uint(scalar(t.size)?),
            Kind::Float => {
                if t.size == 4 {
                    Data::Float {
                        v: f64::from(f32::from_bits(scalar(4)? as u32)),
                        bits: 32,
                    }
                } else {
                    Data::Float {
                        v: f64::from_bits(scalar(8)?),
                        bits: 64,
                    }
                }
            }
            Kind::Complex => {
                if t.size == 8 {
                    let u = scalar(8)?;
                    Data::Complex {
                        re: f64::from(f32::from_bits(u as u32)),
                        im: f64::from(f32::from_bits((u >> 32) as u32)),
                        bits: 32,
                    }
                } else {
                    let b = self.read(addr, 16)?;
                    let w = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
                    Data::Complex {
                        re: f64::from_bits(w(0)),
                        im: f64::from_bits(w(8)),
                        bits: 64,
                    }
                }
            }
            Kind::String => self.string_at(addr)?,
            Kind::Pointer | Kind::UnsafePointer => {
                let p = self.u64_at(addr)?;
                let follow = depth == 0 && p != 0 && t.kind == Kind::Pointer;
                let pointee = match t.target {
                    Some(el)
                        if follow
                            && matches!(
                                self.t(el).kind,
                                Kind::Struct | Kind::Array | Kind::Slice | Kind::Map
                            ) =>
                    {
                        Some(Box::new(self.at(el, p, depth + 1)))
                    }
                    _ => None,
                };
                Data::Pointer { addr: p, pointee }
            }
            Kind::Struct => Data::Struct(
                t.fields
                    .iter()
                    .map(|f| FieldValue {
                        name: f.name.clone(),
                        value: self.at(f.ty, addr.wrapping_add(f.offset), depth + 1),
                    })
                    .collect(),
            ),
            Kind::Array => {
                let el = t.elem.or(t.target).ok_or("array without element type")?;
                let esize = self.t(el).size;
                let n = t.count.min(self.limits.max_elems as u64);
                Data::List {
                    items: (0..n)
                        .map(|i| self.at(el, addr.wrapping_add(i.wrapping_mul(esize)), depth + 1))
                        .collect(),
                    len: t.count,
                    cap: None,
                    nil: false,
                }
            }
            Kind::Slice => {
                let b = self.read(addr, 24)?;
                let w = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
                let (ptr, len, cap) = (w(0), w(8), w(16));
                let el = t.elem.ok_or("slice without element type")?;
                let esize = self.t(el).size;
                if len > cap {
                    return Err(format!("slice len {len} > cap {cap}"));
                }
                let n = len.min(self.limits.max_elems as u64);
                Data::List {
                    items: (0..n)
                        .map(|i| self.at(el, ptr.wrapping_add(i.wrapping_mul(esize)), depth + 1))
                        .collect(),
                    len,
                    cap: Some(cap),
                    nil: ptr == 0,
                }
            }
            Kind::Map => self.map_at(t, addr, depth)?,
            Kind::Chan => {
                let h = self.u64_at(addr)?;
                // chan T is a typedef of *hchan<T>.
                let hchan = t.target.and_then(|p| self.t(p).target).map(|h| self.t(h));
                match hchan {
                    _ if h == 0 => Data::Chan {
                        addr: 0,
                        len: 0,
                        cap: 0,
                        closed: false,
                        recv_waiters: Vec::new(),
                        send_waiters: Vec::new(),
                        buffered: Vec::new(),
                    },
                    None => return Err(format!("{} has no hchan type in DWARF", t.name)),
                    Some(hc) => {
                        let len = self.field_u64(hc, h, "qcount")?;
                        let cap = self.field_u64(hc, h, "dataqsiz")?;
                        Data::Chan {
                            addr: h,
                            len,
                            cap,
                            closed: self.field_u64(hc, h, "closed")? != 0,
                            recv_waiters: self.waiters(hc, h, "recvq"),
                            send_waiters: self.waiters(hc, h, "sendq"),
                            buffered: self.buffered(t, hc, h, len, cap, depth),
                        }
                    }
                }
            }
            Kind::Func => {
                // A func value points at a funcval whose first word is the
                // code pointer; fmt prints that (reflect.Value.Pointer).
                let fv = self.u64_at(addr)?;
                Data::Func(if fv == 0 { 0 } else { self.u64_at(fv)? })
            }
            Kind::Interface => {
                let tab = self.u64_at(addr)?;
                let data = self.u64_at(addr.wrapping_add(8))?;
                if tab == 0 {
                    Data::Iface {
                        rtype: 0,
                        dynamic: None,
                    }
                } else {
                    // iface: itab._type follows itab.inter (go1.21–1.27).
                    let rtype = if t.nonempty_iface {
                        self.u64_at(tab.wrapping_add(8))?
                    } else {
                        tab
                    };
                    Data::Iface {
                        rtype,
                        dynamic: Some(Box::new(self.dynamic(
                            rtype,
                            data,
                            addr.wrapping_add(8),
                            depth,
                        ))),
                    }
                }
            }
            Kind::Other => return Err(format!("cannot decode DWARF type {:?}", t.name)),
        })
    }

    /// The value an interface holds: its type from the runtime descriptor,
    /// its bits in the data word (pointer-shaped types) or behind it.
    fn dynamic(&self, rtype: u64, data: u64, word_addr: u64, depth: usize) -> Value {
        let name = crate::goruntime::typedesc::type_name(self.mem, self.types_base, rtype)
            .unwrap_or_else(|_| format!("<type {rtype:#x}>"));
        let ty = crate::values::rtype::type_for(self, rtype);
        let Some(ty) = ty else {
            // The linker emits DWARF only for types the program names
            // statically; `*T` stored in an interface may lack its own
            // pointer DIE while T has one.
            if let Some(elem) = name.strip_prefix('*').and_then(|e| self.types.by_name(e)) {
                let pointee = (depth == 0
                    && data != 0
                    && matches!(
                        self.t(elem).kind,
                        Kind::Struct | Kind::Array | Kind::Slice | Kind::Map
                    ))
                .then(|| Box::new(self.at(elem, data, 1)));
                let mut v = Value {
                    type_name: name,
                    kind: Kind::Pointer,
                    addr: 0,
                    data: Data::Pointer {
                        addr: data,
                        pointee,
                    },
                    method: None,
                    note: None,
                };
                crate::values::methods::annotate(self, &mut v, depth + 1);
                return v;
            }
            return Value::error(
                &name,
                Kind::Other,
                data,
                format!("no DWARF type for {name}"),
            );
        };
        // fmt receives a top-level interface's contents as its argument:
        // the dynamic value of a depth-0 interface is itself at depth 0.
        let depth = if depth == 0 { 0 } else { depth + 1 };
        if self.types.is_direct_iface(ty) {
            // The data word is the value itself: decode it where it lies.
            let mut v = self.at(ty, word_addr, depth);
            v.addr = 0;
            v
        } else {
            self.at(ty, data, depth)
        }
    }

    fn string_at(&self, addr: u64) -> Result<Data, String> {
        let ptr = self.u64_at(addr)?;
        let len = self.u64_at(addr.wrapping_add(8))?;
        if len > 1 << 40 {
            return Err(format!("string length {len} is not plausible"));
        }
        let n = len.min(self.limits.max_string as u64) as usize;
        let b = if n == 0 {
            Vec::new()
        } else {
            self.read(ptr, n)?
        };
        Ok(Data::String {
            s: String::from_utf8_lossy(&b).into_owned(),
            len,
        })
    }

    /// Maps: swiss tables (`map<K,V>` header, 1.24+) or classic buckets
    /// (`hash<K,V>`), told apart by the header's fields, not the version.
    fn map_at(&self, t: &GoType, addr: u64, depth: usize) -> Result<Data, String> {
        let hdr = self.u64_at(addr)?;
        let header_ty = t
            .target
            .and_then(|p| self.t(p).target)
            .ok_or_else(|| format!("map type {} has no header type in DWARF", t.name))?;
        let (key, elem) = match (t.key, t.elem) {
            (Some(k), Some(e)) => (k, e),
            _ => return Err(format!("map type {} lacks key/elem types", t.name)),
        };
        if hdr == 0 {
            return Ok(Data::Map {
                entries: Vec::new(),
                len: 0,
                nil: true,
            });
        }
        let h = self.t(header_ty);
        let mut slots: Vec<(u64, u64)> = Vec::new();
        let len;
        if h.field("dirPtr").is_some() {
            len = self.swiss_slots(h, hdr, &mut slots)?;
        } else if h.field("buckets").is_some() {
            len = self.classic_slots(h, hdr, &mut slots)?;
        } else {
            return Err(format!("unknown map header layout {}", h.name));
        }
        let entries = slots
            .into_iter()
            .take(self.limits.max_elems)
            .map(|(k, v)| (self.at(key, k, depth + 1), self.at(elem, v, depth + 1)))
            .collect();
        Ok(Data::Map {
            entries,
            len,
            nil: false,
        })
    }

    fn field_u64(&self, st: &GoType, base: u64, name: &str) -> Result<u64, String> {
        let f = st
            .field(name)
            .ok_or_else(|| format!("{} has no field {name}", st.name))?;
        let size = self.t(f.ty).size.clamp(1, 8) as usize;
        let b = self.read(base.wrapping_add(f.offset), size)?;
        let mut w = [0u8; 8];
        w[..size].copy_from_slice(&b);
        Ok(u64::from_le_bytes(w))
    }

    /// A channel's buffered elements, oldest first: the ring `buf` of
    /// `cap` slots holds `len` of them starting at `recvx`.
    fn buffered(
        &self,
        t: &GoType,
        hc: &GoType,
        h: u64,
        len: u64,
        cap: u64,
        depth: usize,
    ) -> Vec<Value> {
        let (Some(el), Ok(buf), Ok(recvx)) = (
            t.elem,
            self.field_u64(hc, h, "buf"),
            self.field_u64(hc, h, "recvx"),
        ) else {
            return Vec::new();
        };
        let esize = self.t(el).size;
        if len > cap || cap == 0 || esize == 0 {
            return Vec::new();
        }
        (0..len.min(self.limits.max_elems as u64))
            .map(|i| {
                let slot = (recvx + i) % cap;
                self.at(el, buf.wrapping_add(slot.wrapping_mul(esize)), depth + 1)
            })
            .collect()
    }

    /// Goroutine ids on a channel wait queue (`hchan.recvq`/`sendq`: a
    /// list of sudogs, each naming its g). Unreadable links end the list.
    fn waiters(&self, hchan: &GoType, h: u64, queue: &str) -> Vec<u64> {
        let mut ids = Vec::new();
        let (Some(q), Some(g)) = (hchan.field(queue), self.types.by_name("runtime.g")) else {
            return ids;
        };
        let Some(goid) = self.t(g).field("goid") else {
            return ids;
        };
        let waitq = self.t(q.ty);
        let Ok(sudog) = self.pointee(waitq, "first") else {
            return ids;
        };
        let (Some(sg), Some(next)) = (sudog.field("g"), sudog.field("next")) else {
            return ids;
        };
        let Some(first) = waitq.field("first") else {
            return ids;
        };
        let mut s = self
            .u64_at(h.wrapping_add(q.offset + first.offset))
            .unwrap_or(0);
        // Bounded: a corrupt list must not loop.
        while s != 0 && ids.len() < 100_000 {
            match self
                .u64_at(s.wrapping_add(sg.offset))
                .and_then(|g| self.u64_at(g.wrapping_add(goid.offset)))
            {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
            s = self.u64_at(s.wrapping_add(next.offset)).unwrap_or(0);
        }
        ids
    }

    fn pointee(&self, st: &GoType, name: &str) -> Result<&'a GoType, String> {
        let f = st
            .field(name)
            .ok_or_else(|| format!("{} has no field {name}", st.name))?;
        self.t(f.ty)
            .target
            .map(|p| self.t(p))
            .ok_or_else(|| format!("{}.{name} is not a typed pointer", st.name))
    }

    /// Key and value addresses of a slot at `base` (`koff`/`voff` from
    /// it), dereferencing keys and values stored indirectly (larger than
    /// 128 bytes).
    fn kv(
        &self,
        koff: u64,
        voff: u64,
        base: u64,
        indirect: (bool, bool),
    ) -> Result<(u64, u64), String> {
        let mut k = base.wrapping_add(koff);
        let mut v = base.wrapping_add(voff);
        if indirect.0 {
            k = self.u64_at(k)?;
        }
        if indirect.1 {
            v = self.u64_at(v)?;
        }
        Ok((k, v))
    }

    /// Swiss tables: a small map's single group, or the directory of
    /// tables (entries may repeat a table; each is read once).
    fn swiss_slots(&self, m: &GoType, hdr: u64, out: &mut Vec<(u64, u64)>) -> Result<u64, String> {
        let used = self.field_u64(m, hdr, "used")?;
        let dir_ptr = self.field_u64(m, hdr, "dirPtr")?;
        let dir_len = self.field_u64(m, hdr, "dirLen")?;
        // dirPtr is typed **table<K,V>; table.groups.data is *group.
        let table = self
            .pointee(m, "dirPtr")?
            .target
            .map(|t| self.t(t))
            .ok_or("map dirPtr is not **table")?;
        let groups_ref = self.t(table.field("groups").ok_or("table has no groups")?.ty);
        let group = self.pointee(groups_ref, "data")?;
        let layout = GroupLayout::new(self, group)?;
        let max = self.limits.max_elems;
        if dir_len == 0 {
            if dir_ptr != 0 {
                layout.collect(self, dir_ptr, out, max)?;
            }
            return Ok(used);
        }
        if dir_len > 1 << 24 {
            return Err(format!("map directory length {dir_len} is not plausible"));
        }
        let mut seen = std::collections::HashSet::new();
        for i in 0..dir_len {
            let tp = self.u64_at(dir_ptr.wrapping_add(8 * i))?;
            if tp == 0 || !seen.insert(tp) {
                continue;
            }
            let gr = table.field("groups").ok_or("table has no groups")?;
            let data = self.field_u64(groups_ref, tp.wrapping_add(gr.offset), "data")?;
            let mask = self.field_u64(groups_ref, tp.wrapping_add(gr.offset), "lengthMask")?;
            if mask > 1 << 24 {
                return Err(format!("table at {tp:#x} has {} groups", mask + 1));
            }
            for g in 0..=mask {
                if out.len() >= max {
                    return Ok(used);
                }
                layout.collect(self, data.wrapping_add(g * group.size), out, max)?;
            }
        }
        Ok(used)
    }

    /// Classic hmap: every bucket and its overflow chain; while growing,
    /// the old buckets not yet evacuated too (their entries live only
    /// there; evacuated ones only in the new array).
    fn classic_slots(
        &self,
        h: &GoType,
        hdr: u64,
        out: &mut Vec<(u64, u64)>,
    ) -> Result<u64, String> {
        let count = self.field_u64(h, hdr, "count")?;
        let b = self.field_u64(h, hdr, "B")?;
        if b > 40 {
            return Err(format!("hmap.B = {b} is not plausible"));
        }
        let buckets = self.field_u64(h, hdr, "buckets")?;
        let old = self.field_u64(h, hdr, "oldbuckets")?;
        let bucket = self.pointee(h, "buckets")?;
        let keys = bucket.field("keys").ok_or("bucket has no keys")?;
        let vals = bucket.field("values").ok_or("bucket has no values")?;
        let ovf = bucket.field("overflow").ok_or("bucket has no overflow")?;
        let tophash = bucket.fields.first().ok_or("bucket has no tophash")?.offset;
        let kt = self
            .t(keys.ty)
            .elem
            .or(self.t(keys.ty).target)
            .ok_or("keys array")?;
        let vt = self
            .t(vals.ty)
            .elem
            .or(self.t(vals.ty).target)
            .ok_or("values array")?;
        let (ksize, vsize) = (self.t(kt).size, self.t(vt).size);
        // Indirect keys/values (over 128 bytes): the cell holds *K / *V.
        let kind_ind = self.t(kt).kind == Kind::Pointer && is_indirect_name(&self.t(kt).name, h);
        let val_ind = self.t(vt).kind == Kind::Pointer && is_indirect_name(&self.t(vt).name, h);
        let max = self.limits.max_elems;
        let walk = |start: u64, out: &mut Vec<(u64, u64)>| -> Result<(), String> {
            let mut cur = start;
            // Overflow chains are short; a cycle in corrupt memory is not.
            let mut hops = 0;
            while cur != 0 && hops < 1 << 16 && out.len() < max {
                let th = self.read(cur.wrapping_add(tophash), SLOTS as usize)?;
                for (i, &top) in th.iter().enumerate() {
                    if top >= MIN_TOP_HASH {
                        let i = i as u64;
                        let mut k = cur.wrapping_add(keys.offset + i * ksize);
                        let mut v = cur.wrapping_add(vals.offset + i * vsize);
                        if kind_ind {
                            k = self.u64_at(k)?;
                        }
                        if val_ind {
                            v = self.u64_at(v)?;
                        }
                        out.push((k, v));
                    }
                }
                cur = self.u64_at(cur.wrapping_add(ovf.offset))?;
                hops += 1;
            }
            Ok(())
        };
        for i in 0..(1u64 << b) {
            // Also bounds the loop when a corrupt B is large.
            if out.len() >= max {
                return Ok(count);
            }
            walk(buckets.wrapping_add(i * bucket.size), out)?;
        }
        if old != 0 {
            let ob = if b > 0 { b - 1 } else { 0 };
            // The old array may have been the same size (same-size grow).
            let flags = self.field_u64(h, hdr, "flags")?;
            let nold = if flags & 8 != 0 {
                1u64 << b
            } else {
                1u64 << ob
            };
            for i in 0..nold {
                if out.len() >= max {
                    break;
                }
                let ba = old.wrapping_add(i * bucket.size);
                let first = self.read(ba.wrapping_add(tophash), 1)?[0];
                // evacuatedX/Y/Empty (2..=4): already moved.
                if (2..=4).contains(&first) {
                    continue;
                }
                walk(ba, out)?;
            }
        }
        Ok(count)
    }
}

/// A classic bucket cell holds `*K` instead of `K` when K is larger than
/// 128 bytes; the header type's name `hash<K,V>` still names K and V, so
/// a pointer cell type that is neither is indirect.
fn is_indirect_name(cell: &str, hash: &GoType) -> bool {
    let Some(inner) = hash
        .name
        .strip_prefix("hash<")
        .and_then(|s| s.strip_suffix('>'))
    else {
        return false;
    };
    !split_kv(inner).contains(&cell)
}

/// Splits "K,V" at the top-level comma.
fn split_kv(s: &str) -> Vec<&str> {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '[' | '(' | '{' | '<' => depth += 1,
            ']' | ')' | '}' | '>' => depth -= 1,
            ',' if depth == 0 => return vec![&s[..i], &s[i + 1..]],
            _ => {}
        }
    }
    vec![s]
}

/// Where keys and values sit in a swiss group (slots of {key, elem}, or
/// split keys/elems arrays under GOEXPERIMENT=mapsplitgroup).
struct GroupLayout {
    ctrl: u64,
    /// (offset of slot 0's key, stride, indirect)
    key: (u64, u64, bool),
    elem: (u64, u64, bool),
}

impl GroupLayout {
    fn new(d: &Decoder<'_>, group: &GoType) -> Result<Self, String> {
        let ctrl = group.field("ctrl").ok_or("group has no ctrl")?.offset;
        // The group's DWARF name is "noalg.map.group[K]V" and its slot
        // fields carry K and V, or *K/*V when stored indirectly.
        let ind = |t: TypeId| {
            d.t(t).kind == Kind::Pointer
                && d.t(t).size == 8
                && group_names_indirect(&group.name, &d.t(t).name)
        };
        if let Some(slots) = group.field("slots") {
            let arr = d.t(slots.ty);
            let slot = d.t(arr.elem.or(arr.target).ok_or("slots array")?);
            let k = slot.field("key").ok_or("slot has no key")?;
            let e = slot.field("elem").ok_or("slot has no elem")?;
            Ok(GroupLayout {
                ctrl,
                key: (slots.offset + k.offset, slot.size, ind(k.ty)),
                elem: (slots.offset + e.offset, slot.size, ind(e.ty)),
            })
        } else {
            let k = group
                .field("keys")
                .ok_or("group has neither slots nor keys")?;
            let e = group.field("elems").ok_or("group has no elems")?;
            let ka = d.t(k.ty);
            let ea = d.t(e.ty);
            let kt = ka.elem.or(ka.target).ok_or("keys array")?;
            let et = ea.elem.or(ea.target).ok_or("elems array")?;
            Ok(GroupLayout {
                ctrl,
                key: (k.offset, d.t(kt).size, ind(kt)),
                elem: (e.offset, d.t(et).size, ind(et)),
            })
        }
    }

    fn collect(
        &self,
        d: &Decoder<'_>,
        g: u64,
        out: &mut Vec<(u64, u64)>,
        max: usize,
    ) -> Result<(), String> {
        let ctrl = d.read(g.wrapping_add(self.ctrl), SLOTS as usize)?;
        for (i, &c) in ctrl.iter().enumerate() {
            if c & CTRL_FREE_BIT != 0 || out.len() >= max {
                continue;
            }
            let i = i as u64;
            let (k, v) = d.kv(
                self.key.0 + i * self.key.1,
                self.elem.0 + i * self.elem.1,
                g,
                (self.key.2, self.elem.2),
            )?;
            out.push((k, v));
        }
        Ok(())
    }
}

/// Whether a group slot field typed `cell` (a pointer) stands for an
/// indirect key/elem: the group's name "noalg.map.group[K]V" does not
/// mention `cell` as K or V.
fn group_names_indirect(group: &str, cell: &str) -> bool {
    let Some(rest) = group.strip_prefix("noalg.map.group[") else {
        return false;
    };
    // rest = "K]V": K ends at the bracket matching the opening one.
    let mut depth = 1i32;
    for (i, c) in rest.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    let (k, v) = (&rest[..i], &rest[i + 1..]);
                    return k != cell && v != cell;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::format::format_value;
    use crate::values::types::Field;

    /// Memory made of a few readable regions; everything else fails.
    struct Regions(Vec<(u64, Vec<u8>)>);

    impl Memory for Regions {
        fn read_exact(&self, addr: u64, buf: &mut [u8]) -> crate::error::Result<()> {
            for (base, data) in &self.0 {
                if addr >= *base && addr + buf.len() as u64 <= base + data.len() as u64 {
                    let off = (addr - base) as usize;
                    buf.copy_from_slice(&data[off..off + buf.len()]);
                    return Ok(());
                }
            }
            Err(crate::error::Error::Unreadable {
                addr,
                len: buf.len(),
                context: String::new(),
            })
        }
    }

    fn ty(name: &str, kind: Kind, size: u64) -> GoType {
        GoType {
            name: name.into(),
            kind,
            size,
            target: None,
            elem: None,
            key: None,
            count: 0,
            fields: Vec::new(),
            signed: kind == Kind::Int,
            nonempty_iface: false,
        }
    }

    /// 0 int, 1 string, 2 main.Node {V int; Name string; Next *Node},
    /// 3 *main.Node, 4 []int.
    fn graph() -> TypeGraph {
        let mut node = ty("main.Node", Kind::Struct, 32);
        node.fields = vec![
            Field {
                name: "V".into(),
                offset: 0,
                ty: 0,
                embedded: false,
            },
            Field {
                name: "Name".into(),
                offset: 8,
                ty: 1,
                embedded: false,
            },
            Field {
                name: "Next".into(),
                offset: 24,
                ty: 3,
                embedded: false,
            },
        ];
        let mut ptr = ty("*main.Node", Kind::Pointer, 8);
        ptr.target = Some(2);
        let mut slice = ty("[]int", Kind::Slice, 24);
        slice.elem = Some(0);
        TypeGraph::from_types(vec![
            ty("int", Kind::Int, 8),
            ty("string", Kind::String, 16),
            node,
            ptr,
            slice,
        ])
    }

    fn words(ws: &[u64]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn cycles_and_unreadable_memory_are_values_not_panics() {
        let g = graph();
        // A node whose Next points at itself and whose Name points nowhere;
        // the pointer slot at 0x2000 holds the node's address.
        let mem = Regions(vec![
            (0x1000, words(&[7, 0xdead_0000, 3, 0x1000])),
            (0x2000, words(&[0x1000])),
        ]);
        let d = Decoder::new(&mem, &g, 0, 0, Limits::default());
        let v = d.decode(3, 0x2000);
        // fmt follows a pointer once at depth 0, then prints addresses.
        assert_eq!(
            format_value(&v, true),
            "&{V:7 Name:<error: unreadable: cannot read 3 bytes at 0xdead0000> Next:0x1000}"
        );
        // An unreadable root is an error value too.
        let v = d.decode(2, 0x9000);
        assert!(format_value(&v, false).contains("<error: unreadable"));
    }

    #[test]
    fn slices_are_bounded_and_checked() {
        let g = graph();
        let mem = Regions(vec![
            (0x1000, words(&[1, 2, 3, 4])),
            (0x2000, words(&[0x1000, 4, 4])),
            (0x3000, words(&[0x1000, 9, 4])),
        ]);
        let limits = Limits {
            max_elems: 2,
            ..Limits::default()
        };
        let d = Decoder::new(&mem, &g, 0, 0, limits);
        assert_eq!(
            format_value(&d.decode(4, 0x2000), false),
            "[1 2 …(+2 more)]"
        );
        assert!(format_value(&d.decode(4, 0x3000), false).contains("len 9 > cap 4"));
    }
}
