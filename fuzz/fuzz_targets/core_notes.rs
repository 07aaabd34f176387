//! Fuzzes core-file parsing and reads: `CoreFile::open` on the input, then
//! threads, file mappings and reads at addresses the core itself names.
//!
//! Inputs starting with `\x7fELF` are used as the whole core file (header
//! and program-header parsing); anything else becomes the PT_NOTE segment
//! of a fixed, valid ELF64 x86-64 core skeleton, so the fuzzer spends its
//! time inside the notes (NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE,
//! NT_SIGINFO) instead of rediscovering the ELF header.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use goroscope::memory::core::CoreFile;
use goroscope::memory::{Memory, Target};
use libfuzzer_sys::fuzz_target;

/// Segments of the skeleton: one fully present, one whose second half is
/// omitted (served from NT_FILE mappings, if any), with a gap between.
const SKELETON_LOADS: [(u64, u64, u64); 2] = [(0x10000, 0x2000, 0x2000), (0x20000, 0x2000, 0x1000)];

fn skeleton(notes: &[u8]) -> Vec<u8> {
    let nph = 1 + SKELETON_LOADS.len();
    let mut out = vec![0u8; 64 + 56 * nph];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2;
    out[5] = 1;
    out[6] = 1;
    out[16..18].copy_from_slice(&4u16.to_le_bytes()); // ET_CORE
    out[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[32..40].copy_from_slice(&64u64.to_le_bytes());
    out[52..54].copy_from_slice(&64u16.to_le_bytes());
    out[54..56].copy_from_slice(&56u16.to_le_bytes());
    out[56..58].copy_from_slice(&(nph as u16).to_le_bytes());
    let mut phdr = |i: usize, ty: u32, off: usize, vaddr: u64, filesz: u64, memsz: u64| {
        let p = 64 + 56 * i;
        out[p..p + 4].copy_from_slice(&ty.to_le_bytes());
        out[p + 8..p + 16].copy_from_slice(&(off as u64).to_le_bytes());
        out[p + 16..p + 24].copy_from_slice(&vaddr.to_le_bytes());
        out[p + 32..p + 40].copy_from_slice(&filesz.to_le_bytes());
        out[p + 40..p + 48].copy_from_slice(&memsz.to_le_bytes());
    };
    let note_off = 64 + 56 * nph;
    phdr(0, 4, note_off, 0, notes.len() as u64, 0);
    let mut off = note_off + notes.len();
    for (i, &(vaddr, memsz, filesz)) in SKELETON_LOADS.iter().enumerate() {
        phdr(1 + i, 1, off, vaddr, filesz, memsz);
        off += filesz as usize;
    }
    out.extend_from_slice(notes);
    out.resize(off, 0xa5);
    out
}

/// One scratch file per fuzzing process.
fn scratch() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        std::env::temp_dir().join(format!("goroscope-fuzz-core-{}", std::process::id()))
    })
}

/// NT_FILE paths come from the input and reads open them. Regular files
/// and missing paths are fine; skip reads when a mapping names anything
/// else (a FIFO would block the open, a device could be anything).
fn mappings_are_safe(core: &CoreFile) -> bool {
    core.file_mappings()
        .iter()
        .all(|m| match std::fs::metadata(&m.path) {
            Ok(md) => md.is_file(),
            Err(_) => true,
        })
}

fuzz_target!(|data: &[u8]| {
    let bytes = if data.starts_with(b"\x7fELF") {
        data.to_vec()
    } else {
        skeleton(data)
    };
    let path = scratch();
    if std::fs::write(path, &bytes).is_err() {
        return;
    }
    // The mapping must be dropped before the next input rewrites the file.
    let Ok(core) = CoreFile::open(path) else {
        return;
    };
    let threads = core.threads().unwrap_or_default();
    let _ = core.file_mappings();
    let _ = core.executable_path();
    let _ = core.command_name();
    let _ = (core.pid(), core.crash_signal(), core.describe());
    if !mappings_are_safe(&core) {
        return;
    }
    let mut addrs = vec![
        0u64,
        0x10000,
        0x11ff8,
        0x20ff8,
        0x21000,
        0x22000,
        u64::MAX - 7,
    ];
    addrs.extend(
        threads
            .iter()
            .take(4)
            .flat_map(|t| [t.regs.rsp, t.regs.rip]),
    );
    addrs.extend(core.auxv().iter().take(8).map(|&(_, v)| v));
    addrs.extend(
        core.file_mappings()
            .iter()
            .take(8)
            .flat_map(|m| [m.start, m.end.wrapping_sub(4)]),
    );
    let mut buf = [0u8; 64];
    for a in addrs {
        let _ = core.read_exact(a, &mut buf);
        let _ = core.read_partial(a, &mut buf);
        let _ = core.read_u64(a);
        let _ = core.core_bytes(a, buf.len());
    }
});
