//! Finding the runtime's globals in binaries stripped of their symbol table
//! (`-ldflags=-s`): moduledata from the pclntab it points to, `allgs` by
//! the shape of its contents, the Ms from each thread's TLS `g` slot. Every
//! candidate is validated against the runtime structures it must describe,
//! so a wrong guess is rejected rather than believed.

use std::collections::HashSet;

use crate::binary::elf::Executable;
use crate::error::{Error, Result};
use crate::goruntime::layout::{get_uint, Layouts};
use crate::goruntime::runtime::{GLayout, MLayout};
use crate::memory::{Memory, OsThread};

/// pcHeader magic for Go 1.20+.
const PCLNTAB_MAGIC: u32 = 0xffff_fff1;
/// Largest slice length accepted for allgs.
const MAX_ALLGS: u64 = 50_000_000;

/// Where the pclntab header lives (target address), from the section or a
/// scan of the read-only segments for a valid header.
pub fn find_pc_header(exe: &Executable, bias: u64) -> Option<u64> {
    // ".gopclntab", or ".data.rel.ro.gopclntab" in PIE builds before 1.26.
    if let Some(s) = exe.sections.iter().find(|s| s.name.ends_with(".gopclntab")) {
        return Some(s.addr + bias);
    }
    for seg in &exe.segments {
        let data = exe
            .bytes()
            .get(seg.offset as usize..(seg.offset + seg.filesz) as usize)?;
        let mut off = 0usize;
        while off + 72 <= data.len() {
            let magic = u32::from_le_bytes(data[off..off + 4].try_into().ok()?);
            if magic == PCLNTAB_MAGIC
                && data[off + 4] == 0
                && data[off + 5] == 0
                && data[off + 6] == 1
                && data[off + 7] == 8
            {
                return Some(seg.vaddr + off as u64 + bias);
            }
            off += 8;
        }
    }
    None
}

/// Finds `runtime.firstmoduledata`: the `.go.module` section (go1.26+), or
/// the word in a writable segment that points at the pclntab header and is
/// followed by the funcnametab slice the header describes.
pub fn find_moduledata(exe: &Executable, bias: u64, mem: &dyn Memory) -> Result<u64> {
    let pc_header = find_pc_header(exe, bias)
        .ok_or_else(|| Error::NotGo(format!("{}: no Go pclntab found", exe.path().display())))?;
    let funcname_off = mem.read_u64(pc_header + 32)?;
    let valid = |md: u64| -> bool {
        mem.read_u64(md).ok() == Some(pc_header)
            && mem.read_u64(md + 8).ok() == Some(pc_header + funcname_off)
    };
    if let Some(s) = exe.section(".go.module") {
        if valid(s.addr + bias) {
            return Ok(s.addr + bias);
        }
    }
    for seg in exe.segments.iter().filter(|s| s.flags & 2 != 0) {
        let start = seg.vaddr + bias;
        let mut buf = vec![0u8; seg.memsz.min(64 << 20) as usize];
        let n = mem.read_partial(start, &mut buf)?;
        for (i, w) in buf[..n].chunks_exact(8).enumerate() {
            if u64::from_le_bytes(w.try_into().unwrap_or([0; 8])) == pc_header {
                let md = start + i as u64 * 8;
                if valid(md) {
                    return Ok(md);
                }
            }
        }
    }
    Err(Error::NotGo(format!(
        "{}: runtime.firstmoduledata not found (no symbol table, and no word points at the pclntab {pc_header:#x})",
        exe.path().display()
    )))
}

/// Whether the g image looks like a real goroutine.
fn plausible_g(buf: &[u8], gl: &GLayout) -> Option<u64> {
    let status = get_uint(buf, gl.atomicstatus) as u32 & !0x1000;
    let lo = get_uint(buf, gl.stack_lo);
    let hi = get_uint(buf, gl.stack_hi);
    let goid = get_uint(buf, gl.goid);
    if status > 11 {
        return None;
    }
    let dead = status == 6;
    if !(dead && lo == 0 && hi == 0) {
        let size = hi.checked_sub(lo)?;
        if !(2048..=(1u64 << 31)).contains(&size) || !lo.is_multiple_of(8) {
            return None;
        }
    }
    Some(goid)
}

/// Finds the `allgs` slice header in the module's bss: a {ptr, len, cap}
/// whose elements decode as goroutines with distinct ids, including goid 1
/// unless the main goroutine is gone. Returns the header's address.
pub fn find_allgs(
    mem: &dyn Memory,
    layouts: &Layouts,
    gl: &GLayout,
    ranges: &[(u64, u64)],
) -> Result<u64> {
    let gsize = layouts.size("runtime.g")? as usize;
    let mut best: Option<(u64, u64)> = None;
    for &(start, end) in ranges {
        if end <= start || end - start > 256 << 20 {
            continue;
        }
        let mut buf = vec![0u8; (end - start) as usize];
        let n = mem.read_partial(start, &mut buf)?;
        let words: Vec<u64> = buf[..n]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        for i in 0..words.len().saturating_sub(2) {
            let (ptr, len, cap) = (words[i], words[i + 1], words[i + 2]);
            if ptr == 0 || !ptr.is_multiple_of(8) || len == 0 || len > cap || cap > MAX_ALLGS {
                continue;
            }
            if best.is_some_and(|(_, l)| l >= len) {
                continue;
            }
            let sample = len.min(64);
            let mut ptrs = vec![0u8; sample as usize * 8];
            if mem.read_exact(ptr, &mut ptrs).is_err() {
                continue;
            }
            let mut ids = HashSet::new();
            let mut gbuf = vec![0u8; gsize];
            let ok = ptrs.chunks_exact(8).all(|c| {
                let g = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                g != 0
                    && g % 8 == 0
                    && mem.read_exact(g, &mut gbuf).is_ok()
                    && plausible_g(&gbuf, gl).is_some_and(|id| id == 0 || ids.insert(id))
            });
            if ok && ids.len() as u64 * 2 >= sample {
                best = Some((start + i as u64 * 8, len));
            }
        }
    }
    best.map(|(a, _)| a).ok_or_else(|| {
        Error::Layout(
            "runtime.allgs not found (no symbol table, and no slice in .bss holds goroutines)"
                .into(),
        )
    })
}

/// The M each thread runs, found through the thread's TLS slot for `g`
/// (at a small negative offset from fs_base; -8 for static binaries) and
/// confirmed by `m.procid == tid`. Returns M addresses.
pub fn ms_from_threads(
    mem: &dyn Memory,
    gl: &GLayout,
    ml: &MLayout,
    threads: &[OsThread],
) -> Vec<u64> {
    let mut out = Vec::new();
    for t in threads {
        let fs = t.regs.fs_base;
        if fs == 0 {
            continue;
        }
        for off in (8..=4096u64).step_by(8) {
            let Ok(g) = mem.read_u64(fs.wrapping_sub(off)) else {
                break;
            };
            if g == 0 || !g.is_multiple_of(8) {
                continue;
            }
            let Ok(m) = mem.read_u64(g + gl.m.offset) else {
                continue;
            };
            if m == 0 || !m.is_multiple_of(8) {
                continue;
            }
            if mem.read_u64(m + ml.procid.offset).ok() == Some(t.tid as u64) {
                if !out.contains(&m) {
                    out.push(m);
                }
                break;
            }
        }
    }
    out
}

/// Number of span classes (`numSpanClasses`, 68 size classes × scan/noscan
/// in every supported release).
const NUM_SPAN_CLASSES: u64 = 136;

/// Finds `runtime.mheap_` in the module's bss: the one place where 136
/// cache-line-padded `mcentral`s carry their own index as `spanclass`
/// (mheap_.central[i].mcentral.spanclass == i), and whose `allspans`
/// slice is plausible. Returns mheap_'s address.
pub fn find_mheap(mem: &dyn Memory, layouts: &Layouts, ranges: &[(u64, u64)]) -> Result<u64> {
    let central = layouts.field("runtime.mheap", "central")?;
    let allspans = layouts.field("runtime.mheap", "allspans")?.offset;
    let stride = central.size / NUM_SPAN_CLASSES;
    if stride == 0 || central.size % NUM_SPAN_CLASSES != 0 {
        return Err(Error::Layout(format!(
            "runtime.mheap.central is {} bytes, not {NUM_SPAN_CLASSES} padded mcentrals",
            central.size
        )));
    }
    // mcentral.spanclass is its first byte (after a zero-size NotInHeap).
    for &(start, end) in ranges {
        if end <= start || end - start > 256 << 20 {
            continue;
        }
        let mut buf = vec![0u8; (end - start) as usize];
        let n = mem.read_partial(start, &mut buf)?;
        let buf = &buf[..n];
        let span = central.offset + central.size;
        let mut base = 0u64;
        while base + span <= n as u64 {
            let at = |k: u64| buf[(base + central.offset + k * stride) as usize];
            if (0..NUM_SPAN_CLASSES).all(|k| at(k) == k as u8) {
                let o = (base + allspans) as usize;
                let word =
                    |i: usize| u64::from_le_bytes(buf[i..i + 8].try_into().unwrap_or([0; 8]));
                let (ptr, len, cap) = (word(o), word(o + 8), word(o + 16));
                if ptr != 0 && ptr.is_multiple_of(8) && len <= cap && cap < 1 << 28 {
                    return Ok(start + base);
                }
            }
            base += 8;
        }
    }
    Err(Error::Layout(
        "runtime.mheap_ not found (no symbol table, and no bss object holds the 136 mcentrals)"
            .into(),
    ))
}
