//! ELF core files, memory-mapped and never read whole: PT_LOAD segments for
//! the memory the kernel or gcore wrote, NT_PRSTATUS for threads, NT_AUXV,
//! and NT_FILE so that file-backed pages the core omitted (the executable's
//! text and rodata) are read from the files themselves.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use goblin::elf::{header, program_header, Elf};
use memmap2::Mmap;

use crate::binary::elf::SharedBytes;
use crate::error::{Error, Result};
use crate::memory::{Memory, OsThread, Regs, Target};

const NT_PRSTATUS: u32 = 1;
const NT_PRPSINFO: u32 = 3;
const NT_AUXV: u32 = 6;
const NT_SIGINFO: u32 = 0x5349_4749;
const NT_FILE: u32 = 0x4649_4c45;

/// One PT_LOAD segment of the core.
#[derive(Debug, Clone, Copy)]
struct CoreSegment {
    vaddr: u64,
    memsz: u64,
    offset: u64,
    filesz: u64,
}

impl CoreSegment {
    /// End of the segment in memory (exclusive), clamped to the address space.
    fn mem_end(&self) -> u64 {
        self.vaddr.saturating_add(self.memsz)
    }

    /// End of the part the core file holds (exclusive), clamped likewise.
    fn file_end(&self) -> u64 {
        self.vaddr.saturating_add(self.filesz)
    }
}

/// One NT_FILE entry: a file mapped into the process.
#[derive(Debug, Clone)]
pub struct FileMapping {
    pub start: u64,
    pub end: u64,
    /// Offset into the file in bytes.
    pub file_offset: u64,
    pub path: PathBuf,
}

/// An ELF core file.
pub struct CoreFile {
    path: PathBuf,
    map: Mmap,
    segments: Vec<CoreSegment>,
    threads: Vec<OsThread>,
    files: Vec<FileMapping>,
    auxv: Vec<(u64, u64)>,
    pid: i32,
    signal: i32,
    fname: String,
    /// Files backing NT_FILE mappings, opened on first use (None: unreadable).
    backing: Mutex<HashMap<PathBuf, Option<SharedBytes>>>,
    /// Replacement for the executable's path (from --exe).
    exe_override: Mutex<Option<(PathBuf, SharedBytes)>>,
}

impl std::fmt::Debug for CoreFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreFile")
            .field("path", &self.path)
            .finish()
    }
}

fn le_u64(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}

fn le_u32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

/// Decodes x86_64 `struct user_regs_struct` (27 words).
fn regs_from_user_regs(b: &[u8]) -> Regs {
    let w = |i: usize| le_u64(b, i * 8);
    Regs {
        r15: w(0),
        r14: w(1),
        r13: w(2),
        r12: w(3),
        rbp: w(4),
        rbx: w(5),
        r11: w(6),
        r10: w(7),
        r9: w(8),
        r8: w(9),
        rax: w(10),
        rcx: w(11),
        rdx: w(12),
        rsi: w(13),
        rdi: w(14),
        rip: w(16),
        eflags: w(18),
        rsp: w(19),
        fs_base: w(21),
        gs_base: w(22),
        orig_rax: w(15),
    }
}

impl CoreFile {
    /// The core file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Maps and indexes a core file. Fails clearly on non-cores and on
    /// truncated files.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: read-only mapping of a file we do not modify.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        if map.len() < 64 || &map[..4] != b"\x7fELF" {
            return Err(Error::bad_file(path, "not an ELF core file"));
        }
        let hdr = Elf::parse_header(&map[..])
            .map_err(|e| Error::bad_file(path, format!("bad ELF header: {e}")))?;
        if hdr.e_type != header::ET_CORE {
            return Err(Error::bad_file(
                path,
                "is an ELF file but not a core dump (pass executables with --exe)",
            ));
        }
        if hdr.e_machine != header::EM_X86_64 {
            return Err(Error::bad_file(
                path,
                format!(
                    "core for machine {} (only x86-64 is supported)",
                    hdr.e_machine
                ),
            ));
        }
        let phoff = hdr.e_phoff as usize;
        let phnum = hdr.e_phnum as usize;
        let phentsize = hdr.e_phentsize as usize;
        if phentsize < 56 || phoff.saturating_add(phnum * phentsize) > map.len() {
            return Err(Error::bad_file(
                path,
                "core truncated: program headers missing",
            ));
        }
        let mut segments = Vec::new();
        let mut notes = Vec::new();
        for i in 0..phnum {
            let ph = &map[phoff + i * phentsize..phoff + (i + 1) * phentsize];
            let p_type = le_u32(ph, 0);
            let offset = le_u64(ph, 8);
            let vaddr = le_u64(ph, 16);
            let filesz = le_u64(ph, 32);
            let memsz = le_u64(ph, 40);
            let end = offset.saturating_add(filesz);
            if filesz > 0 && end > map.len() as u64 {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "core truncated: segment at {vaddr:#x} needs file bytes up to {end:#x} but the file has {:#x}",
                        map.len()
                    ),
                ));
            }
            match p_type {
                program_header::PT_LOAD => segments.push(CoreSegment {
                    vaddr,
                    memsz,
                    offset,
                    filesz,
                }),
                program_header::PT_NOTE => notes.push((offset as usize, filesz as usize)),
                _ => {}
            }
        }
        segments.sort_by_key(|s| s.vaddr);
        let mut core = CoreFile {
            path: path.to_path_buf(),
            map,
            segments,
            threads: Vec::new(),
            files: Vec::new(),
            auxv: Vec::new(),
            pid: 0,
            signal: 0,
            fname: String::new(),
            backing: Mutex::new(HashMap::new()),
            exe_override: Mutex::new(None),
        };
        for (off, len) in notes {
            core.parse_notes(off, len)?;
        }
        if core.threads.is_empty() {
            return Err(Error::bad_file(
                path,
                "core has no thread (NT_PRSTATUS) notes",
            ));
        }
        Ok(core)
    }

    fn parse_notes(&mut self, off: usize, len: usize) -> Result<()> {
        // A PT_NOTE with filesz 0 is not range-checked by `open`: its offset
        // may lie anywhere. Such a note segment is empty.
        let data = match off.checked_add(len).and_then(|end| self.map.get(off..end)) {
            Some(d) => d,
            None if len == 0 => return Ok(()),
            None => {
                return Err(Error::bad_file(
                    &self.path,
                    "core truncated: note segment outside the file",
                ))
            }
        };
        let mut pos = 0usize;
        let mut first_prstatus = true;
        while pos + 12 <= data.len() {
            let namesz = le_u32(data, pos) as usize;
            let descsz = le_u32(data, pos + 4) as usize;
            let ty = le_u32(data, pos + 8);
            let desc_start = pos + 12 + namesz.div_ceil(4) * 4;
            let Some(desc_end) = desc_start.checked_add(descsz) else {
                break;
            };
            if desc_end > data.len() {
                return Err(Error::bad_file(
                    &self.path,
                    "core truncated: note runs past its segment",
                ));
            }
            let desc = &data[desc_start..desc_end];
            match ty {
                NT_PRSTATUS if desc.len() >= 112 + 216 => {
                    let cursig = u16::from_le_bytes([desc[12], desc[13]]) as i32;
                    let tid = le_u32(desc, 32) as i32;
                    if first_prstatus {
                        self.signal = cursig;
                        first_prstatus = false;
                    }
                    self.threads.push(OsThread {
                        tid,
                        regs: regs_from_user_regs(&desc[112..112 + 216]),
                        signal: cursig,
                    });
                }
                NT_PRPSINFO if desc.len() >= 136 => {
                    self.pid = le_u32(desc, 24) as i32;
                    let fname = &desc[40..56];
                    let end = fname.iter().position(|&b| b == 0).unwrap_or(16);
                    self.fname = String::from_utf8_lossy(&fname[..end]).into_owned();
                }
                NT_SIGINFO if desc.len() >= 4 => {
                    let signo = le_u32(desc, 0) as i32;
                    if signo != 0 {
                        self.signal = signo;
                    }
                }
                NT_AUXV => {
                    self.auxv = super::procmem::parse_auxv(desc);
                }
                NT_FILE => self.files = parse_nt_file(desc),
                _ => {}
            }
            pos = desc_start + descsz.div_ceil(4) * 4;
        }
        Ok(())
    }

    /// NT_FILE mappings.
    pub fn file_mappings(&self) -> &[FileMapping] {
        &self.files
    }

    /// The auxiliary vector.
    pub fn auxv(&self) -> &[(u64, u64)] {
        &self.auxv
    }

    /// The command name recorded in NT_PRPSINFO.
    pub fn command_name(&self) -> &str {
        &self.fname
    }

    /// Uses `exe` for pages the core maps from the executable's path (the
    /// mapping that contains the entry point), e.g. when --exe is given.
    pub fn set_executable(&self, path: &Path, map: SharedBytes) {
        if let Ok(mut o) = self.exe_override.lock() {
            *o = Some((path.to_path_buf(), map));
        }
    }

    /// Bytes the core file itself holds for `[addr, addr+len)`, without
    /// falling back to mapped files (for matching a core to a binary).
    pub fn core_bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let seg = self.segment_for(addr)?;
        let end = addr.checked_add(len as u64)?;
        if end > seg.file_end() {
            return None;
        }
        let off = (seg.offset + (addr - seg.vaddr)) as usize;
        self.map.get(off..off.checked_add(len)?)
    }

    fn segment_for(&self, addr: u64) -> Option<&CoreSegment> {
        let i = self.segments.partition_point(|s| s.vaddr <= addr);
        let seg = self.segments.get(i.checked_sub(1)?)?;
        (addr < seg.mem_end()).then_some(seg)
    }

    /// The main executable's path as the core records it.
    fn main_exe_mapping_path(&self) -> Option<PathBuf> {
        let entry = self
            .auxv
            .iter()
            .find(|&&(k, _)| k == libc::AT_ENTRY)
            .map(|&(_, v)| v)?;
        self.files
            .iter()
            .find(|f| entry >= f.start && entry < f.end)
            .map(|f| f.path.clone())
    }

    fn backing_file(&self, path: &Path) -> Option<SharedBytes> {
        if let Ok(o) = self.exe_override.lock() {
            if let Some((_, map)) = o.as_ref() {
                if Some(path) == self.main_exe_mapping_path().as_deref() {
                    return Some(map.clone());
                }
            }
        }
        let mut cache = self.backing.lock().ok()?;
        cache
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                let f = File::open(path).ok()?;
                // SAFETY: read-only mapping of a file we do not modify.
                unsafe { Mmap::map(&f) }
                    .ok()
                    .map(|m| Arc::new(m) as SharedBytes)
            })
            .clone()
    }

    /// Reads from a file-backed mapping, for pages the core omitted.
    fn read_from_file(&self, addr: u64, buf: &mut [u8]) -> Option<usize> {
        let fm = self
            .files
            .iter()
            .find(|f| addr >= f.start && addr < f.end)?;
        let map = self.backing_file(&fm.path)?;
        let n = ((fm.end - addr) as usize).min(buf.len());
        let off = usize::try_from(fm.file_offset.checked_add(addr - fm.start)?).ok()?;
        let src = (*map).as_ref().get(off..off.checked_add(n)?)?;
        buf[..n].copy_from_slice(src);
        Some(n)
    }

    /// Reads the longest readable prefix.
    fn read_prefix(&self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0usize;
        while done < buf.len() {
            let a = addr + done as u64;
            let rest = &mut buf[done..];
            let n = match self.segment_for(a) {
                Some(seg) if a < seg.file_end() => {
                    let n = ((seg.file_end() - a) as usize).min(rest.len());
                    let off = (seg.offset + (a - seg.vaddr)) as usize;
                    rest[..n].copy_from_slice(&self.map[off..off + n]);
                    n
                }
                Some(seg) => {
                    // In a segment but past what the core wrote: the page was
                    // file-backed and omitted; read it from the file.
                    let limit = ((seg.mem_end() - a) as usize).min(rest.len());
                    match self.read_from_file(a, &mut rest[..limit]) {
                        Some(n) if n > 0 => n,
                        _ => break,
                    }
                }
                None => match self.read_from_file(a, rest) {
                    Some(n) if n > 0 => n,
                    _ => break,
                },
            };
            done += n;
        }
        done
    }
}

fn parse_nt_file(desc: &[u8]) -> Vec<FileMapping> {
    let count = le_u64(desc, 0) as usize;
    let page_size = le_u64(desc, 8);
    let names_start = 16usize.saturating_add(count.saturating_mul(24));
    if names_start > desc.len() {
        return Vec::new();
    }
    let mut names = desc[names_start..].split(|&b| b == 0);
    (0..count)
        .filter_map(|i| {
            let e = 16 + i * 24;
            let name = names.next()?;
            Some(FileMapping {
                start: le_u64(desc, e),
                end: le_u64(desc, e + 8),
                file_offset: le_u64(desc, e + 16).saturating_mul(page_size),
                path: PathBuf::from(String::from_utf8_lossy(name).into_owned()),
            })
        })
        .collect()
}

impl Memory for CoreFile {
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        let got = self.read_prefix(addr, buf);
        super::all_read(addr, buf.len(), got)
    }

    fn read_partial(&self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        Ok(self.read_prefix(addr, buf))
    }
}

impl Target for CoreFile {
    fn threads(&self) -> Result<Vec<OsThread>> {
        Ok(self.threads.clone())
    }
    fn executable_path(&self) -> Option<PathBuf> {
        self.main_exe_mapping_path()
    }
    fn crash_signal(&self) -> i32 {
        self.signal
    }
    fn pid(&self) -> i32 {
        self.pid
    }
    fn describe(&self) -> String {
        format!("core file {}", self.path.display())
    }
    fn auxv(&self) -> Option<Vec<(u64, u64)>> {
        Some(self.auxv.clone())
    }
    fn release_pages(&self) {
        // SAFETY: the mapping is private and read-only; MADV_DONTNEED only
        // drops our page-table entries and later reads fault the file's
        // pages back in. No reference into the mapping outlives a read.
        let _ = unsafe {
            self.map
                .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        };
    }
    fn as_core(&self) -> Option<&CoreFile> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
