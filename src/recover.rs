//! Rebuilding the executable's image from a core when the file itself is
//! gone: gcore (and kernels with coredump_filter bit 2) keep the
//! file-backed text and rodata, and the ELF and program headers sit in the
//! first page of the text mapping. The image has no section headers,
//! symbols or DWARF, so it is read the way a stripped binary is.

use std::path::Path;
use std::sync::Arc;

use crate::binary::elf::Executable;
use crate::error::{Error, Result};
use crate::memory::core::CoreFile;

const PT_LOAD: u32 = 1;

fn u16_at(b: &[u8], o: usize) -> u16 {
    b.get(o..o + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}

/// Rebuilds the main executable from the core's own memory.
pub fn executable_from_core(core: &CoreFile, recorded: &Path) -> Result<Executable> {
    let missing = |what: String| {
        Error::Other(format!(
            "the executable {} is not readable here and {what}; pass --exe PATH",
            recorded.display()
        ))
    };
    let base = core
        .file_mappings()
        .iter()
        .filter(|f| f.path == recorded && f.file_offset == 0)
        .map(|f| f.start)
        .min()
        .ok_or_else(|| {
            missing("the core does not say where it was mapped (no NT_FILE entry)".into())
        })?;
    let ehdr = core.core_bytes(base, 64).ok_or_else(|| {
        missing(format!(
            "the core does not hold its ELF header (at {base:#x})"
        ))
    })?;
    if &ehdr[..4] != b"\x7fELF" {
        return Err(missing(format!(
            "the core holds no ELF header at {base:#x}"
        )));
    }
    let phoff = u64_at(ehdr, 32) as usize;
    let phentsize = u16_at(ehdr, 54) as usize;
    let phnum = u16_at(ehdr, 56) as usize;
    if phentsize < 56 || phnum == 0 || phnum > 256 {
        return Err(missing("its ELF header in the core is corrupt".into()));
    }
    let phdrs = core
        .core_bytes(base + phoff as u64, phentsize * phnum)
        .ok_or_else(|| missing("the core does not hold its program headers".into()))?
        .to_vec();
    let loads: Vec<(u64, u64, u64)> = (0..phnum)
        .map(|i| &phdrs[i * phentsize..(i + 1) * phentsize])
        .filter(|ph| u32_at(ph, 0) == PT_LOAD)
        .map(|ph| (u64_at(ph, 8), u64_at(ph, 16), u64_at(ph, 32))) // offset, vaddr, filesz
        .collect();
    let first_vaddr = loads.iter().map(|l| l.1).min().unwrap_or(0);
    // PIE images are linked at 0 (or the first load's vaddr) and loaded at `base`.
    let bias = base.wrapping_sub(first_vaddr & !0xfff);
    let size = loads
        .iter()
        .map(|&(off, _, filesz)| off + filesz)
        .max()
        .unwrap_or(0);
    if size > 4 << 30 {
        return Err(missing(
            "its program headers describe an image over 4 GiB".into(),
        ));
    }
    let mut image = vec![0u8; size as usize];
    for &(off, vaddr, filesz) in &loads {
        let at = vaddr.wrapping_add(bias);
        let src = core.core_bytes(at, filesz as usize).ok_or_else(|| {
            missing(format!(
                "the core does not hold its segment at {at:#x} ({filesz} bytes): cores leave unmodified file-backed mappings out unless /proc/PID/coredump_filter includes them (echo 0x3f > /proc/PID/coredump_filter before gcore or the crash)"
            ))
        })?;
        image[off as usize..(off + filesz) as usize].copy_from_slice(src);
    }
    // Section headers are not loaded: drop the header's reference to them.
    image[40..48].fill(0); // e_shoff
    image[60..64].fill(0); // e_shnum, e_shstrndx
    let label = recorded.with_file_name(format!(
        "{} (rebuilt from the core)",
        recorded
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    Executable::from_bytes(&label, Arc::new(image))
}
