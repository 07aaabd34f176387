//! The Go pclntab (Go 1.18+ format, magic 0xfffffff1 in 1.21–1.27): function
//! table, names, files, pc-value tables and inline trees. Parsed from the
//! executable's bytes; addresses are turned into target addresses with the
//! text start that `runtime.firstmoduledata` reports.

use std::sync::Arc;

use crate::binary::elf::Executable;
use crate::error::{Error, Result};

/// pcHeader magic for Go 1.20+.
pub const MAGIC_GO120: u32 = 0xffff_fff1;

/// PCDATA table indexes (internal/abi).
pub const PCDATA_INL_TREE_INDEX: u32 = 2;
/// FUNCDATA indexes (internal/abi).
pub const FUNCDATA_INL_TREE: u32 = 3;
/// Open-coded defer info.
pub const FUNCDATA_OPEN_CODED_DEFER_INFO: u32 = 4;

/// _func.flag bits.
pub const FUNC_FLAG_TOP_FRAME: u8 = 1;
/// The function writes SP in ways the unwinder cannot follow.
pub const FUNC_FLAG_SPWRITE: u8 = 2;
/// The function is written in assembly (it may tail-jump to another).
pub const FUNC_FLAG_ASM: u8 = 4;

/// Where the table's bytes (and funcdata such as inline trees) come from.
enum Backing {
    /// The executable on disk: the table is a slice of its file, funcdata is
    /// read from its loadable segments.
    Exe(Arc<Executable>),
    /// An in-memory table (tests, fuzzing) with optional read-only images
    /// standing in for the executable's data segments, as
    /// (file virtual address, bytes).
    Mem {
        table: Arc<[u8]>,
        rodata: Vec<(u64, Arc<[u8]>)>,
    },
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Exe(exe) => exe.bytes(),
            Backing::Mem { table, .. } => table,
        }
    }
}

/// The decoded pclntab of one module.
pub struct Pclntab {
    backing: Backing,
    /// File offset of the pcHeader.
    base: usize,
    len: usize,
    nfunc: usize,
    min_lc: u64,
    funcnametab: usize,
    cutab: usize,
    filetab: usize,
    pctab: usize,
    pclntable: usize,
    /// Target address of the module's text (moduledata.text).
    text: u64,
    /// Target address of moduledata.gofunc (funcdata base).
    gofunc: u64,
    /// Target address minus file virtual address (PIE load bias).
    bias: u64,
}

impl std::fmt::Debug for Pclntab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pclntab")
            .field("nfunc", &self.nfunc)
            .field("text", &format_args!("{:#x}", self.text))
            .finish()
    }
}

/// One function's `_func` record.
#[derive(Debug, Clone, Copy)]
pub struct Func {
    /// Offset of the record in pclntable.
    off: usize,
    /// Target address of the entry point.
    pub entry: u64,
    pub name_off: i32,
    pub args: i32,
    pub deferreturn: u32,
    pub pcsp: u32,
    pub pcfile: u32,
    pub pcln: u32,
    pub npcdata: u32,
    pub cu_offset: u32,
    pub start_line: i32,
    pub func_id: u8,
    pub flag: u8,
    pub nfuncdata: u8,
}

/// One inlined call record (runtime.inlinedCall).
#[derive(Debug, Clone, Copy)]
pub struct InlinedCall {
    pub func_id: u8,
    pub name_off: i32,
    pub parent_pc: i32,
    pub start_line: i32,
}

fn le_u32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le_u64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn read_uvarint(b: &[u8], pos: &mut usize) -> Option<u32> {
    let mut x = 0u32;
    let mut shift = 0u32;
    loop {
        let c = *b.get(*pos)?;
        *pos += 1;
        if shift >= 35 {
            return None;
        }
        x |= u32::from(c & 0x7f) << shift;
        if c & 0x80 == 0 {
            return Some(x);
        }
        shift += 7;
    }
}

impl Pclntab {
    /// Parses the pcHeader found at file offset `base` in `exe`.
    /// `text` and `gofunc` are the module's target addresses and `bias` the
    /// load bias (0 for non-PIE).
    pub fn new(
        exe: Arc<Executable>,
        base: usize,
        text: u64,
        gofunc: u64,
        bias: u64,
    ) -> Result<Self> {
        Self::parse(Backing::Exe(exe), base, text, gofunc, bias)
    }

    /// Parses a pclntab held in memory: `data` starts with the pcHeader.
    /// FUNCDATA (inline trees) is read from images added with
    /// [`Pclntab::with_rodata`]; without them those reads find nothing.
    /// For tests and fuzzing; the debugger itself uses [`Pclntab::new`].
    pub fn from_bytes(
        data: impl Into<Arc<[u8]>>,
        text: u64,
        gofunc: u64,
        bias: u64,
    ) -> Result<Self> {
        let backing = Backing::Mem {
            table: data.into(),
            rodata: Vec::new(),
        };
        Self::parse(backing, 0, text, gofunc, bias)
    }

    /// Adds a read-only image at file virtual address `vaddr` that
    /// [`Pclntab::target_bytes`] serves (in-memory tables only; ignored for
    /// tables read from an executable).
    pub fn with_rodata(mut self, vaddr: u64, bytes: impl Into<Arc<[u8]>>) -> Self {
        if let Backing::Mem { rodata, .. } = &mut self.backing {
            rodata.push((vaddr, bytes.into()));
        }
        self
    }

    fn parse(backing: Backing, base: usize, text: u64, gofunc: u64, bias: u64) -> Result<Self> {
        let bytes = backing.bytes();
        let corrupt = |what: &str| Error::NotGo(format!("pclntab: {what}"));
        let hdr = base
            .checked_add(72)
            .and_then(|end| bytes.get(base..end))
            .ok_or_else(|| corrupt("header out of file"))?;
        let magic = le_u32(hdr, 0).unwrap_or(0);
        if magic != MAGIC_GO120 {
            return Err(Error::UnsupportedGo {
                found: format!("pclntab magic {magic:#x} (Go 1.20+ uses {MAGIC_GO120:#x})"),
                supported: crate::goruntime::version::SUPPORTED.into(),
            });
        }
        let min_lc = u64::from(hdr[6]);
        let ptr_size = hdr[7];
        if ptr_size != 8 || min_lc == 0 {
            return Err(corrupt("unsupported pointer size or instruction quantum"));
        }
        let word = |i: usize| le_u64(hdr, 8 + 8 * i).unwrap_or(0) as usize;
        let len = bytes.len() - base;
        let (nfunc, funcnametab, cutab, filetab, pctab, pclntable) =
            (word(0), word(3), word(4), word(5), word(6), word(7));
        let tab = Pclntab {
            backing,
            base,
            len,
            nfunc,
            min_lc,
            funcnametab,
            cutab,
            filetab,
            pctab,
            pclntable,
            text,
            gofunc,
            bias,
        };
        for (what, off) in [
            ("funcnametab", tab.funcnametab),
            ("cutab", tab.cutab),
            ("filetab", tab.filetab),
            ("pctab", tab.pctab),
            ("pclntable", tab.pclntable),
        ] {
            if off >= len {
                return Err(corrupt(&format!(
                    "{what} offset {off:#x} outside the table"
                )));
            }
        }
        let ftab_end = tab
            .nfunc
            .checked_add(1)
            .and_then(|n| n.checked_mul(8))
            .and_then(|n| n.checked_add(tab.pclntable));
        if ftab_end.is_none_or(|end| end > len) {
            return Err(corrupt("function table runs past the end of the file"));
        }
        Ok(tab)
    }

    fn data(&self) -> &[u8] {
        &self.backing.bytes()[self.base..self.base + self.len]
    }

    /// Number of functions.
    pub fn nfunc(&self) -> usize {
        self.nfunc
    }

    /// The module's text start (target address).
    pub fn text(&self) -> u64 {
        self.text
    }

    fn ftab_entry(&self, i: usize) -> Option<(u32, u32)> {
        let d = self.data();
        let off = self.pclntable.checked_add(i.checked_mul(8)?)?;
        Some((le_u32(d, off)?, le_u32(d, off.checked_add(4)?)?))
    }

    /// End of the last function (target address).
    pub fn max_pc(&self) -> u64 {
        self.ftab_entry(self.nfunc)
            .map(|(e, _)| self.text.saturating_add(u64::from(e)))
            .unwrap_or(self.text)
    }

    /// The function containing target address `pc`.
    pub fn find_func(&self, pc: u64) -> Option<Func> {
        if pc < self.text || pc >= self.max_pc() || self.nfunc == 0 {
            return None;
        }
        let rel = (pc - self.text) as u32;
        // Largest i with entryoff(i) <= rel.
        let (mut lo, mut hi) = (0usize, self.nfunc);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.ftab_entry(mid)?.0 <= rel {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let (_, funcoff) = self.ftab_entry(lo)?;
        self.func_at(funcoff as usize)
    }

    /// End of the function starting at `entry` (the next function's entry).
    pub fn func_end(&self, f: &Func) -> u64 {
        let rel = f.entry.saturating_sub(self.text) as u32;
        let (mut lo, mut hi) = (0usize, self.nfunc);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            match self.ftab_entry(mid) {
                Some((e, _)) if e <= rel => lo = mid,
                _ => hi = mid,
            }
        }
        self.ftab_entry(lo + 1)
            .map(|(e, _)| self.text + u64::from(e))
            .unwrap_or(f.entry)
    }

    /// Iterates over all functions.
    pub fn funcs(&self) -> impl Iterator<Item = Func> + '_ {
        (0..self.nfunc).filter_map(|i| self.func_at(self.ftab_entry(i)?.1 as usize))
    }

    fn func_at(&self, funcoff: usize) -> Option<Func> {
        let d = self.data();
        let off = self.pclntable.checked_add(funcoff)?;
        let r = d.get(off..off.checked_add(44)?)?;
        let i32_at = |o: usize| le_u32(r, o).map(|v| v as i32);
        Some(Func {
            off,
            entry: self.text.checked_add(u64::from(le_u32(r, 0)?))?,
            name_off: i32_at(4)?,
            args: i32_at(8)?,
            deferreturn: le_u32(r, 12)?,
            pcsp: le_u32(r, 16)?,
            pcfile: le_u32(r, 20)?,
            pcln: le_u32(r, 24)?,
            npcdata: le_u32(r, 28)?,
            cu_offset: le_u32(r, 32)?,
            start_line: i32_at(36)?,
            func_id: r[40],
            flag: r[41],
            nfuncdata: r[43],
        })
    }

    /// A NUL-terminated name from funcnametab.
    pub fn name_at(&self, name_off: i32) -> &str {
        let d = self.data();
        let start = self.funcnametab.saturating_add(name_off.max(0) as usize);
        let Some(tail) = d.get(start..) else {
            return "?";
        };
        let end = tail.iter().position(|&b| b == 0).unwrap_or(0);
        std::str::from_utf8(&tail[..end]).unwrap_or("?")
    }

    /// The function's name as recorded.
    pub fn func_name(&self, f: &Func) -> &str {
        self.name_at(f.name_off)
    }

    /// Evaluates the pc-value table at `table_off` for `target` pc.
    pub fn pcvalue(&self, f: &Func, table_off: u32, target: u64) -> Option<i32> {
        if table_off == 0 {
            return None;
        }
        let d = self.data();
        let mut pos = self.pctab.checked_add(table_off as usize)?;
        let mut val: i32 = -1;
        let mut pc = f.entry;
        let mut first = true;
        // Tables are finite; bound the walk anyway against corrupt data.
        for _ in 0..1_000_000 {
            let uv = read_uvarint(d, &mut pos)?;
            if uv == 0 && !first {
                return None;
            }
            let delta = ((uv >> 1) as i32) ^ -((uv & 1) as i32);
            val = val.wrapping_add(delta);
            let pcdelta = u64::from(read_uvarint(d, &mut pos)?) * self.min_lc;
            pc = pc.saturating_add(pcdelta);
            first = false;
            if target < pc {
                return Some(val);
            }
        }
        None
    }

    /// SP delta of the frame at `pc` (bytes pushed since entry).
    pub fn sp_delta(&self, f: &Func, pc: u64) -> Option<i32> {
        self.pcvalue(f, f.pcsp, pc)
    }

    /// File and line at `pc`.
    pub fn file_line(&self, f: &Func, pc: u64) -> (String, i32) {
        let fileno = self.pcvalue(f, f.pcfile, pc);
        let line = self.pcvalue(f, f.pcln, pc).unwrap_or(0);
        let file = fileno
            .and_then(|n| self.file_name(f.cu_offset, n))
            .unwrap_or_else(|| "?".to_string());
        (file, line)
    }

    fn file_name(&self, cu_offset: u32, fileno: i32) -> Option<String> {
        if fileno < 0 {
            return None;
        }
        let d = self.data();
        let idx = (cu_offset as usize).checked_add(fileno as usize)?;
        let off = le_u32(d, self.cutab.checked_add(idx.checked_mul(4)?)?)?;
        if off == u32::MAX {
            return None;
        }
        let start = self.filetab.checked_add(off as usize)?;
        let tail = d.get(start..)?;
        let end = tail.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&tail[..end]).into_owned())
    }

    /// PCDATA table `i` evaluated at `pc`.
    pub fn pcdata(&self, f: &Func, i: u32, pc: u64) -> Option<i32> {
        if i >= f.npcdata {
            return None;
        }
        let off = le_u32(self.data(), f.off + 44 + 4 * i as usize)?;
        self.pcvalue(f, off, pc)
    }

    /// Target address of FUNCDATA `i`, if present.
    pub fn funcdata(&self, f: &Func, i: u32) -> Option<u64> {
        if i >= u32::from(f.nfuncdata) {
            return None;
        }
        let off = le_u32(
            self.data(),
            f.off + 44 + 4 * f.npcdata as usize + 4 * i as usize,
        )?;
        if off == u32::MAX {
            return None;
        }
        self.gofunc.checked_add(u64::from(off))
    }

    /// Bytes of the executable at a target address (for funcdata).
    pub fn target_bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let vaddr = addr.checked_sub(self.bias)?;
        match &self.backing {
            Backing::Exe(exe) => exe.bytes_at(vaddr, len),
            Backing::Mem { rodata, .. } => rodata.iter().find_map(|(start, img)| {
                let off = usize::try_from(vaddr.checked_sub(*start)?).ok()?;
                img.get(off..off.checked_add(len)?)
            }),
        }
    }

    /// Inline tree entry `idx` of `f`.
    pub fn inlined_call(&self, f: &Func, idx: i32) -> Option<InlinedCall> {
        let base = self.funcdata(f, FUNCDATA_INL_TREE)?;
        let idx = u64::try_from(idx).ok()?;
        let b = self.target_bytes(base.checked_add(16 * idx)?, 16)?;
        Some(InlinedCall {
            func_id: b[0],
            name_off: le_u32(b, 4)? as i32,
            parent_pc: le_u32(b, 8)? as i32,
            start_line: le_u32(b, 12)? as i32,
        })
    }

    /// Whether `pc` lies in this module's text.
    pub fn contains(&self, pc: u64) -> bool {
        pc >= self.text && pc < self.max_pc()
    }
}

/// Decodes a uvarint sequence (used by funcdata such as open-coded defer info).
pub fn uvarints(b: &[u8], n: usize) -> Option<Vec<u32>> {
    let mut pos = 0;
    (0..n).map(|_| read_uvarint(b, &mut pos)).collect()
}

#[cfg(test)]
mod tests;
