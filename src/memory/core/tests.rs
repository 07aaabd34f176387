//! Core-file decoding on hand-built ELF64 x86-64 ET_CORE images.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "goroscope-core-test-{}-{tag}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ET_EXEC: u16 = 2;
const ET_CORE: u16 = 4;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const AT_PHDR: u64 = 3;
const AT_PAGESZ: u64 = 6;
const AT_ENTRY: u64 = 9;

/// Segment A: fully present.
const SEG_A: u64 = 0x10000;
/// Segment B, adjacent to A: first page in the core, second page omitted
/// (file-backed, read from the NT_FILE-mapped file).
const SEG_B: u64 = 0x12000;
/// Unmapped gap [0x14000, 0x20000), then segment C.
const SEG_C: u64 = 0x20000;
const PAGE: u64 = 0x1000;
/// Entry point (AT_ENTRY), inside the file mapping of segment B.
const ENTRY: u64 = SEG_B + 0x80;

fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// A recognisable byte at `addr` in segment data ("what the core holds").
fn core_byte(addr: u64) -> u8 {
    (addr as u8) ^ ((addr >> 8) as u8)
}

/// A recognisable byte at offset `off` of the mapped file (differs from
/// `core_byte` so a test can tell which source served a read).
fn file_byte(off: u64) -> u8 {
    (off as u8).wrapping_mul(7) ^ 0x5a
}

fn pattern(start: u64, len: u64) -> Vec<u8> {
    (start..start + len).map(core_byte).collect()
}

struct Note {
    ty: u32,
    name: &'static [u8],
    desc: Vec<u8>,
}

struct Load {
    vaddr: u64,
    memsz: u64,
    data: Vec<u8>,
}

/// A minimal ELF64 core: header, program headers (notes first), the note
/// segment, then each load segment's bytes.
struct CoreImage {
    e_type: u16,
    machine: u16,
    notes: Vec<Note>,
    loads: Vec<Load>,
    /// Extra raw program headers (type, offset, vaddr, filesz, memsz).
    extra_phdrs: Vec<(u32, u64, u64, u64, u64)>,
}

/// Where `CoreImage::build` put things.
struct Built {
    bytes: Vec<u8>,
    /// File offset and size of the PT_NOTE segment.
    notes: (usize, usize),
    /// File offset of each load segment's data.
    load_offsets: Vec<usize>,
}

impl CoreImage {
    fn build(&self) -> Built {
        let nph = 1 + self.loads.len() + self.extra_phdrs.len();
        let mut out = vec![0u8; 64 + 56 * nph];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // ELFDATA2LSB
        out[6] = 1; // EV_CURRENT
        put_u16(&mut out, 16, self.e_type);
        put_u16(&mut out, 18, self.machine);
        put_u32(&mut out, 20, 1);
        put_u64(&mut out, 32, 64); // e_phoff
        put_u16(&mut out, 52, 64); // e_ehsize
        put_u16(&mut out, 54, 56); // e_phentsize
        put_u16(&mut out, 56, nph as u16);
        put_u16(&mut out, 58, 64); // e_shentsize

        let mut notes = Vec::new();
        for n in &self.notes {
            let mut h = [0u8; 12];
            put_u32(&mut h, 0, n.name.len() as u32);
            put_u32(&mut h, 4, n.desc.len() as u32);
            put_u32(&mut h, 8, n.ty);
            notes.extend_from_slice(&h);
            notes.extend_from_slice(n.name);
            notes.resize(notes.len().next_multiple_of(4), 0);
            notes.extend_from_slice(&n.desc);
            notes.resize(notes.len().next_multiple_of(4), 0);
        }
        let note_off = out.len();
        out.extend_from_slice(&notes);
        let mut phdrs = vec![(PT_NOTE, note_off as u64, 0, notes.len() as u64, 0)];
        let mut load_offsets = Vec::new();
        for l in &self.loads {
            out.resize(out.len().next_multiple_of(16), 0);
            let off = out.len();
            load_offsets.push(off);
            out.extend_from_slice(&l.data);
            phdrs.push((PT_LOAD, off as u64, l.vaddr, l.data.len() as u64, l.memsz));
        }
        phdrs.extend_from_slice(&self.extra_phdrs);
        for (i, &(ty, off, vaddr, filesz, memsz)) in phdrs.iter().enumerate() {
            let ph = 64 + 56 * i;
            put_u32(&mut out, ph, ty);
            put_u32(&mut out, ph + 4, 4); // PF_R
            put_u64(&mut out, ph + 8, off);
            put_u64(&mut out, ph + 16, vaddr);
            put_u64(&mut out, ph + 32, filesz);
            put_u64(&mut out, ph + 40, memsz);
            put_u64(&mut out, ph + 48, if ty == PT_LOAD { PAGE } else { 4 });
        }
        Built {
            bytes: out,
            notes: (note_off, notes.len()),
            load_offsets,
        }
    }
}

/// x86_64 `struct elf_prstatus`: 336 bytes; pr_cursig u16 at 12, pr_pid
/// at 32, pr_reg (user_regs_struct, 27 u64) at 112.
fn prstatus(tid: i32, cursig: u16, regs: &[u64; 27]) -> Vec<u8> {
    let mut d = vec![0u8; 336];
    put_u16(&mut d, 12, cursig);
    put_u32(&mut d, 32, tid as u32);
    put_u32(&mut d, 36, 1); // pr_ppid
    for (i, r) in regs.iter().enumerate() {
        put_u64(&mut d, 112 + 8 * i, *r);
    }
    d
}

/// user_regs_struct words for thread `k`: each register a distinct value.
fn regs_for(k: u64) -> [u64; 27] {
    std::array::from_fn(|i| (k << 32) | (0x100 + i as u64))
}

/// x86_64 `struct elf_prpsinfo`: 136 bytes; pr_pid at 24, pr_fname at 40.
fn prpsinfo(pid: i32, fname: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; 136];
    put_u32(&mut d, 24, pid as u32);
    d[40..40 + fname.len()].copy_from_slice(fname);
    d[56..60].copy_from_slice(b"prog");
    d
}

fn auxv(pairs: &[(u64, u64)]) -> Vec<u8> {
    let mut d = Vec::new();
    for &(k, v) in pairs.iter().chain(&[(0, 0)]) {
        d.extend_from_slice(&k.to_le_bytes());
        d.extend_from_slice(&v.to_le_bytes());
    }
    d
}

/// NT_FILE: count, page size, {start, end, file offset in pages}, names.
fn nt_file(entries: &[(u64, u64, u64, &str)]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    d.extend_from_slice(&PAGE.to_le_bytes());
    for &(start, end, pgoff, _) in entries {
        for v in [start, end, pgoff] {
            d.extend_from_slice(&v.to_le_bytes());
        }
    }
    for &(_, _, _, name) in entries {
        d.extend_from_slice(name.as_bytes());
        d.push(0);
    }
    d
}

fn siginfo(signo: i32) -> Vec<u8> {
    let mut d = vec![0u8; 128];
    put_u32(&mut d, 0, signo as u32);
    d
}

fn note(ty: u32, desc: Vec<u8>) -> Note {
    Note {
        ty,
        name: b"CORE\0",
        desc,
    }
}

/// Contents of the file that NT_FILE maps at SEG_B (two pages, offset 0).
fn mapped_file() -> Vec<u8> {
    (0..2 * PAGE).map(file_byte).collect()
}

/// The standard test core, with the mapped file's path in NT_FILE.
fn standard_image(exe_path: &Path, signo: i32) -> CoreImage {
    let exe = exe_path.to_str().unwrap();
    CoreImage {
        e_type: ET_CORE,
        machine: EM_X86_64,
        notes: vec![
            note(NT_PRSTATUS, prstatus(4242, 6, &regs_for(1))),
            note(NT_PRPSINFO, prpsinfo(4242, b"crashy")),
            note(NT_PRSTATUS, prstatus(4243, 0, &regs_for(2))),
            note(
                NT_AUXV,
                auxv(&[
                    (AT_PHDR, SEG_B + 0x40),
                    (AT_PAGESZ, PAGE),
                    (AT_ENTRY, ENTRY),
                ]),
            ),
            note(NT_FILE, nt_file(&[(SEG_B, SEG_B + 2 * PAGE, 0, exe)])),
            note(NT_SIGINFO, siginfo(signo)),
            // Unknown notes (e.g. NT_FPREGSET, LINUX notes) are skipped.
            Note {
                ty: 2,
                name: b"CORE\0",
                desc: vec![0xcc; 512],
            },
            Note {
                ty: 0x202,
                name: b"LINUX\0",
                desc: vec![0xdd; 20],
            },
        ],
        loads: vec![
            Load {
                vaddr: SEG_A,
                memsz: 2 * PAGE,
                data: pattern(SEG_A, 2 * PAGE),
            },
            Load {
                vaddr: SEG_B,
                memsz: 2 * PAGE,
                data: pattern(SEG_B, PAGE),
            },
            Load {
                vaddr: SEG_C,
                memsz: PAGE,
                data: pattern(SEG_C, PAGE),
            },
        ],
        extra_phdrs: vec![],
    }
}

/// Writes the mapped file and the standard core; returns the open core.
fn standard_core(s: &Scratch) -> (CoreFile, PathBuf) {
    let exe = s.write("exe", &mapped_file());
    let core = s.write("core", &standard_image(&exe, 6).build().bytes);
    (CoreFile::open(&core).unwrap(), exe)
}

fn open_bytes(s: &Scratch, name: &str, bytes: &[u8]) -> Result<CoreFile> {
    CoreFile::open(&s.write(name, bytes))
}

fn read(core: &CoreFile, addr: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    core.read_exact(addr, &mut buf)?;
    Ok(buf)
}

#[test]
fn threads_registers_pid_signal() {
    let s = Scratch::new("threads");
    let (core, exe) = standard_core(&s);
    let threads = core.threads().unwrap();
    assert_eq!(threads.len(), 2);
    assert_eq!(threads[0].tid, 4242);
    assert_eq!(threads[1].tid, 4243);
    assert_eq!(threads[0].signal, 6);
    assert_eq!(threads[1].signal, 0);
    // user_regs_struct order: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax
    // rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds es
    // fs gs.
    for (k, t) in [(1u64, &threads[0]), (2, &threads[1])] {
        let w = regs_for(k);
        let want = Regs {
            r15: w[0],
            r14: w[1],
            r13: w[2],
            r12: w[3],
            rbp: w[4],
            rbx: w[5],
            r11: w[6],
            r10: w[7],
            r9: w[8],
            r8: w[9],
            rax: w[10],
            rcx: w[11],
            rdx: w[12],
            rsi: w[13],
            rdi: w[14],
            rip: w[16],
            eflags: w[18],
            rsp: w[19],
            fs_base: w[21],
            gs_base: w[22],
            orig_rax: w[15],
        };
        assert_eq!(t.regs, want, "thread {k}");
    }
    assert_ne!(threads[0].regs, threads[1].regs);
    assert_eq!(core.pid(), 4242);
    assert_eq!(core.command_name(), "crashy");
    assert_eq!(core.crash_signal(), 6);
    assert_eq!(
        core.auxv(),
        &[
            (AT_PHDR, SEG_B + 0x40),
            (AT_PAGESZ, PAGE),
            (AT_ENTRY, ENTRY)
        ]
    );
    assert_eq!(Target::auxv(&core).unwrap().len(), 3);
    let maps = core.file_mappings();
    assert_eq!(maps.len(), 1);
    assert_eq!(
        (maps[0].start, maps[0].end, maps[0].file_offset),
        (SEG_B, SEG_B + 2 * PAGE, 0)
    );
    assert_eq!(maps[0].path, exe);
    assert_eq!(core.executable_path(), Some(exe));
    assert!(core.describe().starts_with("core file "));
    assert!(core.as_core().is_some());
    assert!(format!("{core:?}").contains("CoreFile"));
}

#[test]
fn siginfo_signal_wins_over_cursig() {
    let s = Scratch::new("siginfo");
    let exe = s.write("exe", &mapped_file());
    let core = open_bytes(&s, "core11", &standard_image(&exe, 11).build().bytes).unwrap();
    assert_eq!(core.crash_signal(), 11);
    assert_eq!(core.threads().unwrap()[0].signal, 6);
    let core = open_bytes(&s, "core0", &standard_image(&exe, 0).build().bytes).unwrap();
    assert_eq!(core.crash_signal(), 6, "si_signo 0 keeps the first cursig");
}

#[test]
fn reads_inside_and_across_segments() {
    let s = Scratch::new("reads");
    let (core, _) = standard_core(&s);
    assert_eq!(read(&core, SEG_A, 16).unwrap(), pattern(SEG_A, 16));
    assert_eq!(
        read(&core, SEG_A + 0x123, 0x456).unwrap(),
        pattern(SEG_A + 0x123, 0x456)
    );
    assert_eq!(core.read_u8(SEG_C + 5).unwrap(), core_byte(SEG_C + 5));
    let want = u64::from_le_bytes(pattern(SEG_C + 8, 8).try_into().unwrap());
    assert_eq!(core.read_u64(SEG_C + 8).unwrap(), want);
    // The last byte of a segment, and a read ending exactly there.
    assert_eq!(
        read(&core, SEG_C + PAGE - 4, 4).unwrap(),
        pattern(SEG_C + PAGE - 4, 4)
    );
    // Across A's end into B (adjacent PT_LOADs).
    assert_eq!(
        read(&core, SEG_B - 0x20, 0x40).unwrap(),
        pattern(SEG_B - 0x20, 0x40)
    );
    // core_bytes serves only what the core holds.
    assert_eq!(core.core_bytes(SEG_A, 8), Some(&pattern(SEG_A, 8)[..]));
    assert_eq!(core.core_bytes(SEG_B - 4, 8), None, "spans two segments");
    assert_eq!(core.core_bytes(SEG_B + PAGE, 8), None, "omitted page");
    assert_eq!(core.core_bytes(0x15000, 1), None);
}

#[test]
fn file_backed_tail() {
    let s = Scratch::new("tail");
    let (core, _) = standard_core(&s);
    let file = mapped_file();
    // Entirely in the omitted page: served from the file at the same
    // offset into the mapping.
    let got = read(&core, SEG_B + PAGE + 0x10, 0x20).unwrap();
    assert_eq!(got, file[(PAGE + 0x10) as usize..][..0x20]);
    // Straddling the present page and the omitted one.
    let got = read(&core, SEG_B + PAGE - 8, 16).unwrap();
    assert_eq!(got[..8], pattern(SEG_B + PAGE - 8, 8)[..]);
    assert_eq!(got[8..], file[PAGE as usize..][..8]);
    // From A, through all of B (present + file-backed).
    let got = read(&core, SEG_A + 2 * PAGE - 4, (4 + 2 * PAGE) as usize).unwrap();
    assert_eq!(got[..4], pattern(SEG_B - 4, 4)[..]);
    assert_eq!(got[4..4 + PAGE as usize], pattern(SEG_B, PAGE)[..]);
    assert_eq!(got[4 + PAGE as usize..], file[PAGE as usize..]);
}

#[test]
fn read_partial_stops_at_gap() {
    let s = Scratch::new("partial");
    let (core, _) = standard_core(&s);
    let end_b = SEG_B + 2 * PAGE;
    let mut buf = vec![0u8; 0x40];
    assert_eq!(core.read_partial(end_b - 0x10, &mut buf).unwrap(), 0x10);
    assert_eq!(buf[..0x10], mapped_file()[(2 * PAGE - 0x10) as usize..]);
    assert_eq!(core.read_partial(end_b, &mut buf).unwrap(), 0);
    assert_eq!(core.read_partial(SEG_C + PAGE - 3, &mut buf).unwrap(), 3);
    let mut big = vec![0u8; 3 * PAGE as usize];
    assert_eq!(
        core.read_partial(SEG_A, &mut big).unwrap(),
        3 * PAGE as usize,
        "A, B's present page and B's tail from the file"
    );
    assert_eq!(core.read_partial(SEG_A, &mut []).unwrap(), 0);
}

#[test]
fn unmapped_addresses_are_unreadable() {
    let s = Scratch::new("unmapped");
    let (core, _) = standard_core(&s);
    for (addr, len) in [
        (0u64, 8usize),
        (SEG_A - 1, 1),
        (SEG_A - 4, 8),
        (0x15000, 8),
        (SEG_B + 2 * PAGE - 4, 8),
        (SEG_C + PAGE, 1),
        (u64::MAX - 3, 8),
        (u64::MAX, 1),
    ] {
        let err = read(&core, addr, len).unwrap_err();
        match err {
            Error::Unreadable {
                addr: a, len: l, ..
            } => {
                assert_eq!((a, l), (addr, len));
            }
            other => panic!("{addr:#x}: unexpected error {other}"),
        }
    }
    assert!(core.read_go_string(0x15000, 16).is_err());
    // A read of nothing succeeds anywhere.
    assert!(core.read_exact(0x15000, &mut []).is_ok());
}

#[test]
fn missing_mapped_file_leaves_tail_unreadable() {
    let s = Scratch::new("nofile");
    let exe = s.0.join("gone");
    let core = open_bytes(&s, "core", &standard_image(&exe, 6).build().bytes).unwrap();
    assert!(read(&core, SEG_B, 8).is_ok());
    assert!(read(&core, SEG_B + PAGE, 8).is_err());
    let mut buf = [0u8; 16];
    assert_eq!(core.read_partial(SEG_B + PAGE - 8, &mut buf).unwrap(), 8);
}

#[test]
fn executable_override_serves_tail() {
    let s = Scratch::new("override");
    let (core, exe) = standard_core(&s);
    let other: Vec<u8> = (0..2 * PAGE).map(|i| !file_byte(i)).collect();
    let other_path = s.write("other-exe", &other);
    let f = std::fs::File::open(&other_path).unwrap();
    // SAFETY: read-only mapping of a file this test owns and leaves alone.
    let map = Arc::new(unsafe { Mmap::map(&f) }.unwrap());
    core.set_executable(&other_path, map);
    let got = read(&core, SEG_B + PAGE, 4).unwrap();
    assert_eq!(got, other[PAGE as usize..][..4]);
    // The core's own bytes still win where it has them.
    assert_eq!(read(&core, SEG_B, 4).unwrap(), pattern(SEG_B, 4));
    assert_eq!(core.executable_path(), Some(exe));
    core.release_pages();
    assert_eq!(read(&core, SEG_A, 4).unwrap(), pattern(SEG_A, 4));
}

#[test]
fn truncated_core_is_reported() {
    let s = Scratch::new("trunc");
    let exe = s.write("exe", &mapped_file());
    let built = standard_image(&exe, 6).build();
    // Cut inside segment C's data.
    let cut = built.load_offsets[2] + 0x100;
    let err = open_bytes(&s, "core", &built.bytes[..cut]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("truncated"), "{msg}");
    assert!(msg.contains("0x20000"), "names the segment: {msg}");
    // Cut inside the program headers, and inside the notes.
    let err = open_bytes(&s, "core2", &built.bytes[..100]).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = open_bytes(&s, "core3", &built.bytes[..built.notes.0 + 40]).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    // Every shorter length fails cleanly.
    for cut in (0..built.bytes.len()).step_by(97) {
        assert!(
            open_bytes(&s, "core4", &built.bytes[..cut]).is_err(),
            "{cut}"
        );
    }
}

#[test]
fn non_cores_are_rejected() {
    let s = Scratch::new("nonelf");
    let err = open_bytes(&s, "text", b"#!/bin/sh\necho not an ELF file at all\n").unwrap_err();
    assert!(err.to_string().contains("not an ELF core"), "{err}");
    let err = open_bytes(&s, "empty", b"").unwrap_err();
    assert!(err.to_string().contains("not an ELF core"), "{err}");
    let err = CoreFile::open(&s.0.join("does-not-exist")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");

    let exe = s.write("exe", &mapped_file());
    let mut img = standard_image(&exe, 6);
    img.e_type = ET_EXEC;
    let err = open_bytes(&s, "exec", &img.build().bytes).unwrap_err();
    assert!(err.to_string().contains("not a core dump"), "{err}");

    let mut img = standard_image(&exe, 6);
    img.machine = 183; // EM_AARCH64
    let err = open_bytes(&s, "arm", &img.build().bytes).unwrap_err();
    assert!(err.to_string().contains("only x86-64"), "{err}");

    // A core without NT_PRSTATUS.
    let mut img = standard_image(&exe, 6);
    img.notes.retain(|n| n.ty != NT_PRSTATUS);
    let err = open_bytes(&s, "nothreads", &img.build().bytes).unwrap_err();
    assert!(err.to_string().contains("no thread"), "{err}");

    // Program header entries too small to be ELF64's.
    let mut bytes = standard_image(&exe, 6).build().bytes;
    put_u16(&mut bytes, 54, 32);
    assert!(open_bytes(&s, "phentsize", &bytes).is_err());
}

#[test]
fn oversized_note_is_an_error() {
    let s = Scratch::new("note");
    let exe = s.write("exe", &mapped_file());
    let built = standard_image(&exe, 6).build();
    // The first note's descsz runs past the note segment.
    for descsz in [built.notes.1 as u32, 0x7fff_ffff, u32::MAX - 3, u32::MAX] {
        let mut bytes = built.bytes.clone();
        put_u32(&mut bytes, built.notes.0 + 4, descsz);
        let err = open_bytes(&s, "core", &bytes).unwrap_err();
        assert!(
            err.to_string().contains("note runs past"),
            "{descsz}: {err}"
        );
    }
    // Likewise namesz.
    let mut bytes = built.bytes.clone();
    put_u32(&mut bytes, built.notes.0, u32::MAX);
    assert!(open_bytes(&s, "core", &bytes).is_err());
}

#[test]
fn short_notes_are_skipped() {
    let s = Scratch::new("short");
    let img = CoreImage {
        e_type: ET_CORE,
        machine: EM_X86_64,
        notes: vec![
            note(NT_PRSTATUS, prstatus(7, 11, &regs_for(3))),
            // Too short to decode: ignored, not misread.
            note(NT_PRSTATUS, vec![1; 100]),
            note(NT_PRPSINFO, vec![1; 100]),
            note(NT_SIGINFO, vec![1; 3]),
            note(NT_AUXV, vec![1; 7]),
            note(NT_FILE, vec![1; 5]),
        ],
        loads: vec![],
        extra_phdrs: vec![],
    };
    let core = open_bytes(&s, "core", &img.build().bytes).unwrap();
    assert_eq!(core.threads().unwrap().len(), 1);
    assert_eq!(core.pid(), 0);
    assert_eq!(core.crash_signal(), 11);
    assert!(core.auxv().is_empty());
    assert!(core.file_mappings().is_empty());
    assert_eq!(core.executable_path(), None);
    assert!(read(&core, 0x1000, 1).is_err());
}

#[test]
fn nt_file_count_larger_than_data() {
    let s = Scratch::new("ntfile");
    let exe = s.write("exe", &mapped_file());
    for count in [2u64, 1000, 1 << 40, u64::MAX / 24, u64::MAX] {
        let mut img = standard_image(&exe, 6);
        let mut desc = nt_file(&[(SEG_B, SEG_B + 2 * PAGE, 0, exe.to_str().unwrap())]);
        put_u64(&mut desc, 0, count);
        for n in &mut img.notes {
            if n.ty == NT_FILE {
                n.desc = desc.clone();
            }
        }
        let core = open_bytes(&s, "core", &img.build().bytes).unwrap();
        // Never more entries than the note has room for (the second
        // "record" of count 2 overlaps the name bytes).
        assert!(core.file_mappings().len() <= 2, "{count}");
        let _ = read(&core, SEG_B + PAGE, 8);
    }
    // Direct decoding: fewer names than entries, odd page sizes.
    let mut desc = nt_file(&[(1, 2, 3, "a"), (4, 5, 6, "b")]);
    let n = desc.len();
    desc.truncate(n - 3); // drop "\0b\0": one name for two records
    let maps = parse_nt_file(&desc);
    assert_eq!(maps.len(), 1);
    assert_eq!(maps[0].file_offset, 3 * PAGE);
    let mut desc = nt_file(&[(1, 2, u64::MAX, "a")]);
    put_u64(&mut desc, 8, u64::MAX);
    assert_eq!(parse_nt_file(&desc)[0].file_offset, u64::MAX);
    assert!(parse_nt_file(&[]).is_empty());
}

#[test]
fn hostile_mappings_do_not_panic() {
    let s = Scratch::new("hostile");
    let exe = s.write("exe", &mapped_file());
    let path = exe.to_str().unwrap();
    let mut img = standard_image(&exe, 6);
    for n in &mut img.notes {
        if n.ty == NT_FILE {
            n.desc = nt_file(&[
                // File offset far past the file, and one that overflows.
                (0x30000, 0x31000, 1 << 40, path),
                (0x40000, u64::MAX, u64::MAX, path),
                // A mapping whose start is past its end.
                (0x38000, 0x37000, 0, path),
            ]);
        }
    }
    // A segment reaching the top of the address space, one whose memsz
    // would overflow, and a zero-sized note segment with a wild offset.
    img.loads.push(Load {
        vaddr: u64::MAX - 0xff,
        memsz: u64::MAX,
        data: vec![0xab; 0x80],
    });
    img.extra_phdrs.push((PT_NOTE, u64::MAX - 1, 0, 0, 0));
    img.extra_phdrs.push((PT_LOAD, 0, 0x50000, 0, u64::MAX));
    let core = open_bytes(&s, "core", &img.build().bytes).unwrap();
    for addr in [
        0x30000,
        0x30ff8,
        0x40000,
        u64::MAX - 8,
        0x50000,
        0x37800,
        u64::MAX - 0xff,
        u64::MAX - 0x80,
        u64::MAX - 0x7f,
        u64::MAX,
    ] {
        let _ = read(&core, addr, 8);
        let mut buf = [0u8; 0x100];
        let _ = core.read_partial(addr, &mut buf);
        let _ = core.core_bytes(addr, 0x100);
        let _ = core.core_bytes(addr, usize::MAX);
    }
    assert_eq!(
        read(&core, u64::MAX - 0xff, 0x80).unwrap(),
        vec![0xab; 0x80]
    );
    // A PT_LOAD with filesz past the end of the file is "truncated".
    let mut img = standard_image(&exe, 6);
    img.extra_phdrs
        .push((PT_LOAD, 0x10, 0x60000, u64::MAX, u64::MAX));
    let err = open_bytes(&s, "core2", &img.build().bytes).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    // A non-empty PT_NOTE outside the file.
    let mut img = standard_image(&exe, 6);
    img.extra_phdrs.push((PT_NOTE, u64::MAX - 1, 0, 8, 0));
    assert!(open_bytes(&s, "core3", &img.build().bytes).is_err());
}

/// A deterministic stand-in for the cargo-fuzz target (see fuzz/), so CI
/// keeps exercising random corruption of the note segment and headers.
#[test]
fn pseudo_random_mutations_never_panic() {
    let s = Scratch::new("mutate");
    // No NT_FILE path to a real file: mutations must not make reads open
    // arbitrary host files.
    let exe = s.0.join("absent");
    let built = standard_image(&exe, 6).build();
    let (note_off, note_len) = built.notes;
    // Mutate the ELF header, program headers and notes (the parsed parts).
    let hot = note_off + note_len;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut opened = 0;
    for round in 0..600 {
        let mut bytes = built.bytes.clone();
        for _ in 0..1 + next() % 4 {
            let r = next();
            let i = (r >> 8) as usize % hot.min(bytes.len());
            match r % 4 {
                0 => bytes[i] ^= 1 << ((r >> 40) % 8),
                1 => bytes[i] = (r >> 32) as u8,
                2 => {
                    let w = next().to_le_bytes();
                    let end = (i + 8).min(bytes.len());
                    bytes[i..end].copy_from_slice(&w[..end - i]);
                }
                _ => bytes.truncate(i.max(1) + note_len / 2),
            }
        }
        let Ok(core) = open_bytes(&s, &format!("m{}", round % 8), &bytes) else {
            continue;
        };
        opened += 1;
        let _ = core.threads();
        let _ = core.file_mappings();
        let _ = core.executable_path();
        for addr in [SEG_A, SEG_B - 4, SEG_B + PAGE, SEG_C, 0, u64::MAX - 4] {
            let mut buf = [0u8; 64];
            let _ = core.read_partial(addr, &mut buf);
            let _ = core.read_exact(addr, &mut buf);
        }
    }
    assert!(opened > 50, "most mutations should still open: {opened}");
}
