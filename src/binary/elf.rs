//! ELF executables, memory-mapped and summarised into owned tables so the
//! rest of the crate never holds goblin's borrowed structures.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use goblin::elf::{header, program_header, section_header, Elf};
use memmap2::Mmap;

use crate::error::{Error, Result};

/// A section of the executable.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub flags: u64,
    pub kind: u32,
}

/// A loadable segment (file vaddr, not relocated).
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub flags: u32,
}

/// A symbol's file address and size.
#[derive(Debug, Clone, Copy)]
pub struct Symbol {
    pub addr: u64,
    pub size: u64,
}

/// File contents shared between readers: a memory map, or an image
/// rebuilt in memory (an executable recovered from a core).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// An ELF executable opened for reading.
pub struct Executable {
    path: PathBuf,
    map: SharedBytes,
    pub sections: Vec<Section>,
    pub segments: Vec<Segment>,
    symbols: HashMap<String, Symbol>,
    pub entry: u64,
    /// `ET_DYN` (PIE) rather than `ET_EXEC`.
    pub is_pie: bool,
    pub machine: u16,
    /// The Go build id from `.note.go.buildid`, if present.
    pub go_build_id: Option<String>,
    /// The GNU build id from `.note.gnu.build-id`, if present.
    pub gnu_build_id: Option<Vec<u8>>,
}

impl std::fmt::Debug for Executable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executable")
            .field("path", &self.path)
            .finish()
    }
}

impl Executable {
    /// Maps and parses the ELF file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the file is opened read-only; a concurrent truncation could
        // fault, which is the accepted risk of reading binaries by mmap.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, Arc::new(map))
    }

    /// Parses an ELF image already in memory; `path` names it in messages.
    pub fn from_bytes(path: &Path, map: SharedBytes) -> Result<Self> {
        let elf = Elf::parse((*map).as_ref())
            .map_err(|e| Error::bad_file(path, format!("not a readable ELF file: {e}")))?;
        if elf.header.e_type == header::ET_CORE {
            return Err(Error::bad_file(
                path,
                "is a core file, not an executable (pass it with --core)",
            ));
        }
        if !elf.is_64 || !elf.little_endian {
            return Err(Error::bad_file(
                path,
                "only 64-bit little-endian executables are supported",
            ));
        }
        let mut sections = Vec::new();
        for sh in &elf.section_headers {
            let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("").to_string();
            sections.push(Section {
                name,
                addr: sh.sh_addr,
                offset: sh.sh_offset,
                size: sh.sh_size,
                flags: sh.sh_flags,
                kind: sh.sh_type,
            });
        }
        let segments = elf
            .program_headers
            .iter()
            .filter(|ph| ph.p_type == program_header::PT_LOAD)
            .map(|ph| Segment {
                vaddr: ph.p_vaddr,
                memsz: ph.p_memsz,
                offset: ph.p_offset,
                filesz: ph.p_filesz,
                flags: ph.p_flags,
            })
            .collect();
        let mut symbols = HashMap::with_capacity(elf.syms.len());
        for sym in elf.syms.iter() {
            if sym.st_value == 0 {
                continue;
            }
            if let Some(name) = elf.strtab.get_at(sym.st_name) {
                symbols.insert(
                    name.to_string(),
                    Symbol {
                        addr: sym.st_value,
                        size: sym.st_size,
                    },
                );
            }
        }
        let mut exe = Executable {
            path: path.to_path_buf(),
            map: map.clone(),
            sections,
            segments,
            symbols,
            entry: elf.header.e_entry,
            is_pie: elf.header.e_type == header::ET_DYN,
            machine: elf.header.e_machine,
            go_build_id: None,
            gnu_build_id: None,
        };
        exe.go_build_id = exe.note_desc(".note.go.buildid", 4).map(|d| {
            String::from_utf8_lossy(d)
                .trim_end_matches('\0')
                .to_string()
        });
        exe.gnu_build_id = exe.note_desc(".note.gnu.build-id", 3).map(|d| d.to_vec());
        Ok(exe)
    }

    /// The path this executable was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        (*self.map).as_ref()
    }

    /// Shared handle to the mapping, for readers that outlive a borrow.
    pub fn mapping(&self) -> SharedBytes {
        self.map.clone()
    }

    /// Finds a section by name.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The raw (possibly compressed) file bytes of a section.
    pub fn section_data(&self, name: &str) -> Option<&[u8]> {
        let s = self.section(name)?;
        if s.kind == section_header::SHT_NOBITS {
            return None;
        }
        self.bytes()
            .get(s.offset as usize..(s.offset.checked_add(s.size)?) as usize)
    }

    /// A symbol by exact name.
    pub fn symbol(&self, name: &str) -> Option<Symbol> {
        self.symbols.get(name).copied()
    }

    /// Symbols with a size that lie in writable segments (package-level
    /// variables): name, file address, size.
    pub fn data_symbols(&self) -> Vec<(String, u64, u64)> {
        let writable: Vec<&Segment> = self.segments.iter().filter(|s| s.flags & 2 != 0).collect();
        self.symbols
            .iter()
            .filter(|(_, s)| {
                s.size > 0
                    && writable
                        .iter()
                        .any(|w| s.addr >= w.vaddr && s.addr < w.vaddr + w.memsz)
            })
            .map(|(n, s)| (n.clone(), s.addr, s.size))
            .collect()
    }

    /// Whether the static symbol table was kept (not built with -s).
    pub fn has_symbols(&self) -> bool {
        !self.symbols.is_empty()
    }

    /// File bytes backing the file virtual address range, if the range lies
    /// within one segment's file image.
    pub fn bytes_at(&self, vaddr: u64, len: usize) -> Option<&[u8]> {
        let seg = self
            .segments
            .iter()
            .find(|s| vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz)?;
        let end = vaddr.checked_add(len as u64)?;
        if end > seg.vaddr + seg.filesz {
            return None;
        }
        let off = (seg.offset + (vaddr - seg.vaddr)) as usize;
        self.bytes().get(off..off + len)
    }

    /// Whether `vaddr` lies inside a loadable segment (file or bss part).
    pub fn contains_vaddr(&self, vaddr: u64) -> bool {
        self.segments
            .iter()
            .any(|s| vaddr >= s.vaddr && vaddr < s.vaddr + s.memsz)
    }

    /// Lowest loadable virtual address (the link-time base).
    pub fn base_vaddr(&self) -> u64 {
        self.segments.iter().map(|s| s.vaddr).min().unwrap_or(0)
    }

    /// The descriptor of the note in section `name` with the given type.
    fn note_desc(&self, name: &str, note_type: u32) -> Option<&[u8]> {
        let data = self.section_data(name)?;
        let mut off = 0usize;
        while off + 12 <= data.len() {
            let namesz = u32::from_le_bytes(data[off..off + 4].try_into().ok()?) as usize;
            let descsz = u32::from_le_bytes(data[off + 4..off + 8].try_into().ok()?) as usize;
            let ty = u32::from_le_bytes(data[off + 8..off + 12].try_into().ok()?);
            let name_start = off + 12;
            let desc_start = name_start + namesz.div_ceil(4) * 4;
            let desc_end = desc_start.checked_add(descsz)?;
            if desc_end > data.len() {
                return None;
            }
            if ty == note_type {
                return Some(&data[desc_start..desc_end]);
            }
            off = desc_start + descsz.div_ceil(4) * 4;
        }
        None
    }

    /// Decompressed contents of a section (handles SHF_COMPRESSED zlib, as
    /// Go's linker writes DWARF by default).
    pub fn section_decompressed(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some(sec) = self.section(name).cloned() else {
            return Ok(None);
        };
        let Some(raw) = self.section_data(name) else {
            return Ok(None);
        };
        if sec.flags & u64::from(section_header::SHF_COMPRESSED) == 0 {
            return Ok(Some(raw.to_vec()));
        }
        if raw.len() < 24 {
            return Err(Error::bad_file(
                &self.path,
                format!("{name}: short compression header"),
            ));
        }
        let ch_type = u32::from_le_bytes(raw[0..4].try_into().unwrap_or_default());
        let ch_size = u64::from_le_bytes(raw[8..16].try_into().unwrap_or_default());
        if ch_type != 1 {
            return Err(Error::bad_file(
                &self.path,
                format!("{name}: unsupported compression type {ch_type}"),
            ));
        }
        use std::io::Read;
        let mut out = Vec::with_capacity(ch_size.min(1 << 30) as usize);
        flate2::read::ZlibDecoder::new(&raw[24..])
            .read_to_end(&mut out)
            .map_err(|e| Error::bad_file(&self.path, format!("{name}: bad zlib data: {e}")))?;
        Ok(Some(out))
    }
}
