//! Go maps walked in target memory, for value printers: classic hash maps
//! (`runtime.hmap` with buckets of 8 slots, before go1.24) and swiss tables
//! (`internal/runtime/maps.Map`, go1.24+: a directory of tables of groups,
//! or a single group for small maps). Returns where each live entry's key
//! and element are; formatting the values is the frontend's business.

use std::collections::HashSet;

use crate::error::{Error, Result, ResultExt};
use crate::goruntime::runtime::GoRuntime;
use crate::memory::Memory;

/// Which map implementation a value uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// `runtime.hmap` and `bmap` buckets (go1.21–go1.23, or
    /// GOEXPERIMENT=noswissmap).
    Classic,
    /// `internal/runtime/maps.Map` swiss tables (go1.24+).
    Swiss,
}

/// Where keys and elements sit in one bucket (classic) or group (swiss)
/// of a particular map type, as that type's compiled layout says (from
/// DWARF: `bucket<K,V>` / `map.group[K]V`).
#[derive(Debug, Clone, Copy)]
pub struct SlotLayout {
    /// Size of a bucket (overflow pointer last) or group (control word first).
    pub group_size: u64,
    /// Offset of slot 0's key, and the distance between keys.
    pub keys_off: u64,
    pub key_stride: u64,
    /// Offset of slot 0's element, and the distance between elements.
    pub elems_off: u64,
    pub elem_stride: u64,
}

/// The live entries of a map.
#[derive(Debug, Clone, Default)]
pub struct MapEntries {
    /// The map's own count (`len(m)`).
    pub len: u64,
    /// (key address, element address) of each entry found, up to the limit.
    pub entries: Vec<(u64, u64)>,
}

const SLOTS: u64 = 8;
/// Classic tophash values below this mark empty or evacuated slots.
const MIN_TOP_HASH: u8 = 5;
/// Classic `sameSizeGrow` flag: oldbuckets has as many buckets as buckets.
const SAME_SIZE_GROW: u8 = 8;
/// Sanity bounds against corrupt headers.
const MAX_B: u8 = 40;
const MAX_DIR: u64 = 1 << 24;
const MAX_CHAIN: usize = 1 << 20;

impl GoRuntime {
    fn map_field(&self, ty: &str, field: &str, fallback: u64) -> u64 {
        self.layouts
            .try_field(ty, field)
            .map(|f| f.offset)
            .unwrap_or(fallback)
    }

    /// The entries of the map whose header is at `map` (the map value
    /// itself is a pointer to it), at most `limit` of them.
    pub fn map_entries(
        &self,
        mem: &dyn Memory,
        kind: MapKind,
        map: u64,
        slots: &SlotLayout,
        limit: usize,
    ) -> Result<MapEntries> {
        if map == 0 {
            return Ok(MapEntries::default());
        }
        if slots.group_size == 0 || slots.group_size > 1 << 20 {
            return Err(Error::Corrupt(format!(
                "map slot layout with group size {}",
                slots.group_size
            )));
        }
        match kind {
            MapKind::Classic => self.classic_entries(mem, map, slots, limit),
            MapKind::Swiss => self.swiss_entries(mem, map, slots, limit),
        }
        .ctx(format!("map at {map:#x}"))
    }

    fn classic_entries(
        &self,
        mem: &dyn Memory,
        h: u64,
        s: &SlotLayout,
        limit: usize,
    ) -> Result<MapEntries> {
        let hm = "runtime.hmap";
        let count = mem.read_u64(h + self.map_field(hm, "count", 0))?;
        let flags = mem.read_u8(h + self.map_field(hm, "flags", 8))?;
        let b = mem.read_u8(h + self.map_field(hm, "B", 9))?;
        if b > MAX_B {
            return Err(Error::Corrupt(format!("hmap.B = {b}")));
        }
        let buckets = mem.read_u64(h + self.map_field(hm, "buckets", 16))?;
        let old = mem.read_u64(h + self.map_field(hm, "oldbuckets", 24))?;
        let mut out = MapEntries {
            len: count,
            entries: Vec::new(),
        };
        let nb = 1u64 << b;
        let old_nb = if flags & SAME_SIZE_GROW != 0 {
            nb
        } else {
            nb / 2
        };
        // Slots of oldbuckets not evacuated yet keep a live tophash;
        // evacuated ones are marked below MIN_TOP_HASH.
        let arrays = [
            (buckets, nb),
            (old, if old == 0 { 0 } else { old_nb.max(1) }),
        ];
        for (base, n) in arrays {
            if base == 0 {
                continue;
            }
            for i in 0..n {
                let mut bucket = base + i * s.group_size;
                for _ in 0..MAX_CHAIN {
                    let mut tophash = [0u8; SLOTS as usize];
                    mem.read_exact(bucket, &mut tophash)?;
                    for (j, &th) in tophash.iter().enumerate() {
                        if th < MIN_TOP_HASH {
                            continue;
                        }
                        if out.entries.len() >= limit {
                            return Ok(out);
                        }
                        let j = j as u64;
                        out.entries.push((
                            bucket + s.keys_off + j * s.key_stride,
                            bucket + s.elems_off + j * s.elem_stride,
                        ));
                    }
                    let overflow = mem.read_u64(bucket + s.group_size - 8)?;
                    if overflow == 0 {
                        break;
                    }
                    bucket = overflow;
                }
            }
        }
        Ok(out)
    }

    fn swiss_entries(
        &self,
        mem: &dyn Memory,
        m: u64,
        s: &SlotLayout,
        limit: usize,
    ) -> Result<MapEntries> {
        let mt = "internal/runtime/maps.Map";
        let tt = "internal/runtime/maps.table";
        let used = mem.read_u64(m + self.map_field(mt, "used", 0))?;
        let dir = mem.read_u64(m + self.map_field(mt, "dirPtr", 16))?;
        let dir_len = mem.read_u64(m + self.map_field(mt, "dirLen", 24))?;
        let mut out = MapEntries {
            len: used,
            entries: Vec::new(),
        };
        if dir == 0 {
            return Ok(out);
        }
        if dir_len == 0 {
            // A small map: dirPtr is its only group.
            self.swiss_group(mem, dir, s, limit, &mut out)?;
            return Ok(out);
        }
        if dir_len > MAX_DIR {
            return Err(Error::Corrupt(format!("maps.Map.dirLen = {dir_len}")));
        }
        let data_off = self.map_field(tt, "groups.data", 16);
        let mask_off = self.map_field(tt, "groups.lengthMask", 24);
        // Directory entries repeat a table that covers several of them.
        let mut seen = HashSet::new();
        for i in 0..dir_len {
            let t = mem.read_u64(dir + i * 8)?;
            if t == 0 || !seen.insert(t) {
                continue;
            }
            let data = mem.read_u64(t + data_off)?;
            let mask = mem.read_u64(t + mask_off)?;
            if mask >= MAX_DIR {
                return Err(Error::Corrupt(format!(
                    "table at {t:#x} has lengthMask {mask}"
                )));
            }
            for g in 0..=mask {
                if out.entries.len() >= limit {
                    return Ok(out);
                }
                self.swiss_group(mem, data + g * s.group_size, s, limit, &mut out)?;
            }
        }
        Ok(out)
    }

    /// Full slots of one group: control byte with the high bit clear.
    fn swiss_group(
        &self,
        mem: &dyn Memory,
        group: u64,
        s: &SlotLayout,
        limit: usize,
        out: &mut MapEntries,
    ) -> Result<()> {
        let ctrl = mem.read_u64(group)?;
        for j in 0..SLOTS {
            if (ctrl >> (8 * j)) & 0x80 != 0 {
                continue;
            }
            if out.entries.len() >= limit {
                return Ok(());
            }
            out.entries.push((
                group + s.keys_off + j * s.key_stride,
                group + s.elems_off + j * s.elem_stride,
            ));
        }
        Ok(())
    }
}
