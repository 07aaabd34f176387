//! Pclntab decoding on hand-built Go 1.20+ tables (no Go toolchain needed).

use std::sync::Arc;

use super::*;

/// Target address of the module's text.
const TEXT: u64 = 0x40_1000;
/// Target address of moduledata.gofunc.
const GOFUNC: u64 = 0x50_0000;
/// Offset of main.helper's inline tree from gofunc.
const INL_OFF: u32 = 0x40;

/// ZigZag-encodes a pc-value delta.
fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn push_uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A pc-value table: `(value, length in bytes)` runs from the entry point.
fn pcvalue_table(runs: &[(i32, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = -1i32;
    for &(value, len) in runs {
        push_uvarint(&mut out, zigzag(value - prev));
        push_uvarint(&mut out, len);
        prev = value;
    }
    out.push(0);
    out
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// One function of the hand-built table.
struct FuncSpec {
    entry: u32,
    name: &'static str,
    cu: u32,
    start_line: i32,
    func_id: u8,
    flag: u8,
    pcsp: Vec<(i32, u32)>,
    pcfile: Vec<(i32, u32)>,
    pcln: Vec<(i32, u32)>,
    pcdata: Vec<Option<Vec<(i32, u32)>>>,
    funcdata: Vec<u32>,
}

/// Offsets of the pcHeader fields and sub-tables in a built image.
struct Layout {
    funcnametab: usize,
    pclntable: usize,
    /// Offsets (in pclntable) of each `_func`.
    funcoffs: Vec<usize>,
}

fn specs() -> Vec<FuncSpec> {
    vec![
        FuncSpec {
            entry: 0x00,
            name: "main.main",
            cu: 0,
            start_line: 9,
            func_id: 0,
            flag: 0,
            pcsp: vec![(0, 0x04), (8, 0x3c)],
            pcfile: vec![(0, 0x40)],
            pcln: vec![(10, 0x10), (11, 0x30)],
            pcdata: vec![],
            funcdata: vec![],
        },
        FuncSpec {
            entry: 0x40,
            name: "main.helper",
            cu: 0,
            start_line: 20,
            func_id: 0,
            flag: FUNC_FLAG_SPWRITE,
            pcsp: vec![(0, 0x08), (0x18, 0x50), (0, 0x08)],
            pcfile: vec![(1, 0x10), (0, 0x50)],
            pcln: vec![(21, 0x10), (30, 0x10), (31, 0x10), (22, 0x30)],
            // PCDATA 0 and 1 absent (offset 0); 2 is the inline tree index.
            pcdata: vec![
                None,
                None,
                Some(vec![(-1, 0x10), (0, 0x10), (1, 0x10), (-1, 0x30)]),
            ],
            // FUNCDATA 0..2 absent (u32::MAX); 3 is the inline tree.
            funcdata: vec![u32::MAX, u32::MAX, u32::MAX, INL_OFF],
        },
        FuncSpec {
            entry: 0xa0,
            name: "runtime.goexit",
            cu: 1,
            start_line: 300,
            func_id: 7,
            flag: FUNC_FLAG_TOP_FRAME,
            // A pc delta past 127 exercises multi-byte uvarints.
            pcsp: vec![(0, 0x01), (0x100, 0x1f)],
            pcfile: vec![(0, 0x20)],
            pcln: vec![(301, 0x20)],
            pcdata: vec![],
            funcdata: vec![],
        },
    ]
}

/// End of the last function, relative to text.
const TEXT_END: u32 = 0xc0;

/// Builds a Go 1.20+ pclntab image (pcHeader first).
fn build_with(specs: &[FuncSpec]) -> (Vec<u8>, Layout) {
    // funcnametab
    let mut funcnametab = Vec::new();
    let mut name_offs = Vec::new();
    for s in specs {
        name_offs.push(funcnametab.len() as i32);
        funcnametab.extend_from_slice(s.name.as_bytes());
        funcnametab.push(0);
    }
    // filetab and cutab: cu 0 has files ["/src/main.go", "/src/helper.go"],
    // cu 1 has ["/goroot/asm.s", missing].
    let files = ["/src/main.go", "/src/helper.go", "/goroot/asm.s"];
    let mut filetab = Vec::new();
    let mut file_offs = Vec::new();
    for f in files {
        file_offs.push(filetab.len() as u32);
        filetab.extend_from_slice(f.as_bytes());
        filetab.push(0);
    }
    let cu_files = [file_offs[0], file_offs[1], file_offs[2], u32::MAX];
    let mut cutab = Vec::new();
    for off in cu_files {
        cutab.extend_from_slice(&off.to_le_bytes());
    }
    // pctab: offset 0 means "no table", so start with a pad byte.
    let mut pctab = vec![0u8];
    let mut add_table = |runs: &[(i32, u32)]| -> u32 {
        let off = pctab.len() as u32;
        pctab.extend_from_slice(&pcvalue_table(runs));
        off
    };
    struct Offs {
        pcsp: u32,
        pcfile: u32,
        pcln: u32,
        pcdata: Vec<u32>,
    }
    let offs: Vec<Offs> = specs
        .iter()
        .map(|s| Offs {
            pcsp: add_table(&s.pcsp),
            pcfile: add_table(&s.pcfile),
            pcln: add_table(&s.pcln),
            pcdata: s
                .pcdata
                .iter()
                .map(|t| t.as_ref().map_or(0, |t| add_table(t)))
                .collect(),
        })
        .collect();
    // pclntable: ftab then the _func records.
    let nfunc = specs.len();
    let mut pclntable = vec![0u8; (nfunc + 1) * 8];
    let mut funcoffs = Vec::new();
    for (i, (s, o)) in specs.iter().zip(&offs).enumerate() {
        let funcoff = pclntable.len();
        funcoffs.push(funcoff);
        put_u32(&mut pclntable, i * 8, s.entry);
        put_u32(&mut pclntable, i * 8 + 4, funcoff as u32);
        let mut rec = vec![0u8; 44];
        put_u32(&mut rec, 0, s.entry);
        put_u32(&mut rec, 4, name_offs[i] as u32);
        put_u32(&mut rec, 8, 16); // args
        put_u32(&mut rec, 12, 0); // deferreturn
        put_u32(&mut rec, 16, o.pcsp);
        put_u32(&mut rec, 20, o.pcfile);
        put_u32(&mut rec, 24, o.pcln);
        put_u32(&mut rec, 28, o.pcdata.len() as u32);
        put_u32(&mut rec, 32, s.cu * 2);
        put_u32(&mut rec, 36, s.start_line as u32);
        rec[40] = s.func_id;
        rec[41] = s.flag;
        rec[43] = s.funcdata.len() as u8;
        for &p in &o.pcdata {
            rec.extend_from_slice(&p.to_le_bytes());
        }
        for &fd in &s.funcdata {
            rec.extend_from_slice(&fd.to_le_bytes());
        }
        pclntable.extend_from_slice(&rec);
    }
    put_u32(&mut pclntable, nfunc * 8, TEXT_END);
    put_u32(&mut pclntable, nfunc * 8 + 4, 0);

    let mut img = vec![0u8; 72];
    put_u32(&mut img, 0, MAGIC_GO120);
    img[6] = 1; // minLC
    img[7] = 8; // ptrSize
    put_u64(&mut img, 8, nfunc as u64);
    put_u64(&mut img, 16, files.len() as u64);
    put_u64(&mut img, 24, 0); // textStart (unused since 1.18's moduledata.text)
    let section = |img: &mut Vec<u8>, field: usize, data: &[u8]| -> usize {
        let off = img.len();
        put_u64(img, 32 + 8 * field, off as u64);
        img.extend_from_slice(data);
        off
    };
    let funcnametab_off = section(&mut img, 0, &funcnametab);
    section(&mut img, 1, &cutab);
    section(&mut img, 2, &filetab);
    section(&mut img, 3, &pctab);
    let pclntable_off = section(&mut img, 4, &pclntable);
    (
        img,
        Layout {
            funcnametab: funcnametab_off,
            pclntable: pclntable_off,
            funcoffs,
        },
    )
}

fn build() -> (Vec<u8>, Layout) {
    build_with(&specs())
}

/// The inline tree of main.helper: two inlinedCall records (the second
/// inlined into the first), as the image at `GOFUNC + INL_OFF`.
fn inline_tree(name_off_a: i32, name_off_b: i32) -> Vec<u8> {
    let mut out = Vec::new();
    for (func_id, name_off, parent_pc, start_line) in [
        (0u8, name_off_a, 0x0ci32, 100i32),
        (3u8, name_off_b, 0x14, 200),
    ] {
        out.push(func_id);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&name_off.to_le_bytes());
        out.extend_from_slice(&parent_pc.to_le_bytes());
        out.extend_from_slice(&start_line.to_le_bytes());
    }
    out
}

/// A table with main.helper's inline tree served from a rodata image.
fn table_with_rodata(bias: u64) -> Pclntab {
    let (img, _) = build();
    // The inline tree names main.main and runtime.goexit.
    let tree = inline_tree(0, ("main.main\0main.helper\0".len()) as i32);
    let mut rodata = vec![0xeeu8; INL_OFF as usize];
    rodata.extend_from_slice(&tree);
    Pclntab::from_bytes(img, TEXT, GOFUNC, bias)
        .unwrap()
        .with_rodata(GOFUNC - bias, rodata)
}

fn func(tab: &Pclntab, rel: u64) -> Func {
    tab.find_func(TEXT + rel)
        .unwrap_or_else(|| panic!("no function at text+{rel:#x}"))
}

#[test]
fn header_fields() {
    let (img, _) = build();
    let tab = Pclntab::from_bytes(img, TEXT, GOFUNC, 0).unwrap();
    assert_eq!(tab.nfunc(), 3);
    assert_eq!(tab.text(), TEXT);
    assert_eq!(tab.max_pc(), TEXT + u64::from(TEXT_END));
    assert_eq!(tab.funcs().count(), 3);
    let entries: Vec<u64> = tab.funcs().map(|f| f.entry - TEXT).collect();
    assert_eq!(entries, [0x00, 0x40, 0xa0]);
    assert!(format!("{tab:?}").contains("nfunc: 3"));
}

#[test]
fn find_func_boundaries() {
    let (img, _) = build();
    let tab = Pclntab::from_bytes(img, TEXT, GOFUNC, 0).unwrap();
    let name_at = |rel: u64| {
        tab.find_func(TEXT + rel)
            .map(|f| tab.func_name(&f).to_string())
    };
    assert_eq!(tab.find_func(TEXT - 1).map(|f| f.entry), None);
    assert_eq!(tab.find_func(0).map(|f| f.entry), None);
    assert_eq!(name_at(0x00).as_deref(), Some("main.main"));
    assert_eq!(name_at(0x3f).as_deref(), Some("main.main"));
    assert_eq!(name_at(0x40).as_deref(), Some("main.helper"));
    assert_eq!(name_at(0x41).as_deref(), Some("main.helper"));
    assert_eq!(name_at(0x9f).as_deref(), Some("main.helper"));
    assert_eq!(name_at(0xa0).as_deref(), Some("runtime.goexit"));
    assert_eq!(name_at(0xbf).as_deref(), Some("runtime.goexit"));
    assert_eq!(name_at(u64::from(TEXT_END)), None);
    assert_eq!(tab.find_func(u64::MAX).map(|f| f.entry), None);
    assert!(tab.contains(TEXT));
    assert!(tab.contains(TEXT + 0xbf));
    assert!(!tab.contains(TEXT + 0xc0));
    assert!(!tab.contains(TEXT - 1));
}

#[test]
fn func_records() {
    let (img, _) = build();
    let tab = Pclntab::from_bytes(img, TEXT, GOFUNC, 0).unwrap();
    let f = func(&tab, 0x50);
    assert_eq!(f.entry, TEXT + 0x40);
    assert_eq!(f.args, 16);
    assert_eq!(f.start_line, 20);
    assert_eq!(f.flag, FUNC_FLAG_SPWRITE);
    assert_eq!(f.npcdata, 3);
    assert_eq!(f.nfuncdata, 4);
    let g = func(&tab, 0xa0);
    assert_eq!(g.func_id, 7);
    assert_eq!(g.flag, FUNC_FLAG_TOP_FRAME);
    assert_eq!(g.cu_offset, 2);
    assert_eq!(tab.name_at(g.name_off), "runtime.goexit");
}

#[test]
fn names() {
    let (img, _) = build();
    let tab = Pclntab::from_bytes(img, TEXT, GOFUNC, 0).unwrap();
    assert_eq!(tab.name_at(0), "main.main");
    assert_eq!(tab.name_at("main.main\0".len() as i32), "main.helper");
    // Negative offsets clamp to the start of funcnametab.
    assert_eq!(tab.name_at(-5), "main.main");
    // Offsets past the table do not panic.
    assert_eq!(tab.name_at(i32::MAX), "?");
    // An offset into the middle of a name yields its tail.
    assert_eq!(tab.name_at(5), "main");
}

#[test]
fn file_and_line() {
    let (img, _) = build();
    let tab = Pclntab::from_bytes(img, TEXT, GOFUNC, 0).unwrap();
    let f = func(&tab, 0);
    assert_eq!(tab.file_line(&f, TEXT), ("/src/main.go".into(), 10));
    assert_eq!(tab.file_line(&f, TEXT + 0x0f), ("/src/main.go".into(), 10));
    assert_eq!(tab.file_line(&f, TEXT + 0x10), ("/src/main.go".into(), 11));
    assert_eq!(tab.file_line(&f, TEXT + 0x3f), ("/src/main.go".into(), 11));
    // Past the function: both tables end, so neither file nor line is known.
    assert_eq!(tab.file_line(&f, TEXT + 0x40), ("?".into(), 0));

    let h = func(&tab, 0x40);
    assert_eq!(
        tab.file_line(&h, TEXT + 0x40),
        ("/src/helper.go".into(), 21)
    );
    assert_eq!(tab.file_line(&h, TEXT + 0x55), ("/src/main.go".into(), 30));
    assert_eq!(tab.file_line(&h, TEXT + 0x65), ("/src/main.go".into(), 31));
    assert_eq!(tab.file_line(&h, TEXT + 0x9f), ("/src/main.go".into(), 22));

    let g = func(&tab, 0xa0);
    assert_eq!(
        tab.file_line(&g, TEXT + 0xb0),
        ("/goroot/asm.s".into(), 301)
    );
}

#[test]
fn missing_file_entries() {
    let (img, _) = build();
    let tab = Pclntab::from_bytes(img, TEXT, GOFUNC, 0).unwrap();
    let mut g = func(&tab, 0xa0);
    // cu 1's second file is u32::MAX (absent).
    let pcfile_one = {
        let mut s = specs();
        s[2].pcfile = vec![(1, 0x20)];
        build_with(&s).0
    };
    let tab1 = Pclntab::from_bytes(pcfile_one, TEXT, GOFUNC, 0).unwrap();
    let g1 = func(&tab1, 0xa0);
    assert_eq!(tab1.file_line(&g1, TEXT + 0xa0), ("?".into(), 301));
    // A cu offset far past cutab.
    g.cu_offset = u32::MAX;
    assert_eq!(tab.file_line(&g, TEXT + 0xa0).0, "?");
    // A table offset past pctab.
    g.pcfile = u32::MAX;
    g.pcln = u32::MAX - 1;
    assert_eq!(tab.file_line(&g, TEXT + 0xa0), ("?".into(), 0));
}

#[test]
fn sp_delta_runs() {
    let (img, _) = build();
    let tab = Pclntab::from_bytes(img, TEXT, GOFUNC, 0).unwrap();
    let f = func(&tab, 0);
    assert_eq!(tab.sp_delta(&f, TEXT), Some(0));
    assert_eq!(tab.sp_delta(&f, TEXT + 3), Some(0));
    assert_eq!(tab.sp_delta(&f, TEXT + 4), Some(8));
    assert_eq!(tab.sp_delta(&f, TEXT + 0x3f), Some(8));
    assert_eq!(tab.sp_delta(&f, TEXT + 0x40), None);

    let h = func(&tab, 0x40);
    assert_eq!(tab.sp_delta(&h, TEXT + 0x47), Some(0));
    assert_eq!(tab.sp_delta(&h, TEXT + 0x48), Some(0x18));
    assert_eq!(tab.sp_delta(&h, TEXT + 0x97), Some(0x18));
    assert_eq!(tab.sp_delta(&h, TEXT + 0x98), Some(0));

    let g = func(&tab, 0xa0);
    assert_eq!(tab.sp_delta(&g, TEXT + 0xa0), Some(0));
    assert_eq!(tab.sp_delta(&g, TEXT + 0xa1), Some(0x100));
    assert_eq!(tab.sp_delta(&g, TEXT + 0xbf), Some(0x100));
    // A table offset of 0 means "no table".
    let mut none = g;
    none.pcsp = 0;
    assert_eq!(tab.sp_delta(&none, TEXT + 0xa0), None);
}

#[test]
fn pcdata_tables() {
    let (img, _) = build();
    let tab = Pclntab::from_bytes(img, TEXT, GOFUNC, 0).unwrap();
    let h = func(&tab, 0x40);
    let inl = |pc: u64| tab.pcdata(&h, PCDATA_INL_TREE_INDEX, TEXT + pc);
    assert_eq!(inl(0x40), Some(-1));
    assert_eq!(inl(0x4f), Some(-1));
    assert_eq!(inl(0x50), Some(0));
    assert_eq!(inl(0x5f), Some(0));
    assert_eq!(inl(0x60), Some(1));
    assert_eq!(inl(0x70), Some(-1));
    assert_eq!(inl(0x9f), Some(-1));
    assert_eq!(inl(0xa0), None);
    // Absent tables (offset 0) and indexes past npcdata.
    assert_eq!(tab.pcdata(&h, 0, TEXT + 0x50), None);
    assert_eq!(tab.pcdata(&h, 3, TEXT + 0x50), None);
    assert_eq!(tab.pcdata(&h, u32::MAX, TEXT + 0x50), None);
    let f = func(&tab, 0);
    assert_eq!(tab.pcdata(&f, PCDATA_INL_TREE_INDEX, TEXT), None);
}

#[test]
fn funcdata_entries() {
    let (img, _) = build();
    let tab = Pclntab::from_bytes(img, TEXT, GOFUNC, 0).unwrap();
    let h = func(&tab, 0x40);
    assert_eq!(
        tab.funcdata(&h, FUNCDATA_INL_TREE),
        Some(GOFUNC + u64::from(INL_OFF))
    );
    assert_eq!(tab.funcdata(&h, 0), None);
    assert_eq!(tab.funcdata(&h, FUNCDATA_OPEN_CODED_DEFER_INFO), None);
    let f = func(&tab, 0);
    assert_eq!(tab.funcdata(&f, FUNCDATA_INL_TREE), None);
}

#[test]
fn inline_tree_from_rodata() {
    for bias in [0, 0x1000] {
        let tab = table_with_rodata(bias);
        let h = func(&tab, 0x40);
        let a = tab.inlined_call(&h, 0).unwrap();
        assert_eq!(a.func_id, 0);
        assert_eq!(tab.name_at(a.name_off), "main.main");
        assert_eq!(a.parent_pc, 0x0c);
        assert_eq!(a.start_line, 100);
        let b = tab.inlined_call(&h, 1).unwrap();
        assert_eq!(b.func_id, 3);
        assert_eq!(tab.name_at(b.name_off), "runtime.goexit");
        assert_eq!(b.parent_pc, 0x14);
        assert_eq!(b.start_line, 200);
        // Past the image, negative, and for a function without a tree.
        assert!(tab.inlined_call(&h, 2).is_none());
        assert!(tab.inlined_call(&h, -1).is_none());
        assert!(tab.inlined_call(&h, i32::MIN).is_none());
        assert!(tab.inlined_call(&h, i32::MAX).is_none());
        assert!(tab.inlined_call(&func(&tab, 0), 0).is_none());
        // The tree walk an unwinder does: pcdata index, then parent pcs.
        let idx = tab.pcdata(&h, PCDATA_INL_TREE_INDEX, TEXT + 0x65).unwrap();
        let ic = tab.inlined_call(&h, idx).unwrap();
        let parent = h.entry.wrapping_add(ic.parent_pc as i64 as u64);
        assert_eq!(
            tab.pcdata(&h, PCDATA_INL_TREE_INDEX, parent),
            Some(0),
            "parent of inlined call 1 lies in inlined call 0"
        );
    }
    // Without a rodata image there is nothing to read.
    let (img, _) = build();
    let tab = Pclntab::from_bytes(img, TEXT, GOFUNC, 0).unwrap();
    assert!(tab.inlined_call(&func(&tab, 0x40), 0).is_none());
    assert!(tab.target_bytes(GOFUNC, 1).is_none());
    // An address below the bias.
    let tab = table_with_rodata(0x1000);
    assert!(tab.target_bytes(0x10, 1).is_none());
}

#[test]
fn target_bytes_bounds() {
    let tab = table_with_rodata(0);
    let len = INL_OFF as usize + 32;
    assert_eq!(tab.target_bytes(GOFUNC, len).map(<[u8]>::len), Some(len));
    assert!(tab.target_bytes(GOFUNC, len + 1).is_none());
    assert!(tab.target_bytes(GOFUNC - 1, 1).is_none());
    assert!(tab.target_bytes(GOFUNC + len as u64, 0).is_some());
    assert!(tab.target_bytes(u64::MAX, usize::MAX).is_none());
    assert!(tab.target_bytes(GOFUNC, usize::MAX).is_none());
}

#[test]
fn uvarint_sequences() {
    let mut b = Vec::new();
    for v in [0u32, 1, 127, 128, 300, 0xffff_ffff] {
        push_uvarint(&mut b, v);
    }
    assert_eq!(
        uvarints(&b, 6),
        Some(vec![0, 1, 127, 128, 300, 0xffff_ffff])
    );
    assert_eq!(uvarints(&b, 7), None);
    assert_eq!(uvarints(&[0x80, 0x80], 1), None);
    // More than five continuation bytes is not a u32.
    assert_eq!(uvarints(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 1), None);
    assert_eq!(uvarints(&[], 0), Some(vec![]));
}

// ---- corrupt inputs: errors or None, never a panic ----

/// Calls everything the debugger calls on a table, over a range of pcs.
/// Returns how many functions were found (to keep the work observable).
fn exercise(tab: &Pclntab) -> usize {
    let mut found = 0;
    let _ = tab.max_pc();
    let _ = tab.funcs().take(64).count();
    for rel in (0..0x100u64).step_by(3).chain([u64::MAX - TEXT]) {
        let pc = TEXT.wrapping_add(rel);
        let _ = tab.contains(pc);
        let Some(f) = tab.find_func(pc) else {
            continue;
        };
        found += 1;
        let _ = tab.func_name(&f);
        let _ = tab.file_line(&f, pc);
        let _ = tab.sp_delta(&f, pc);
        for i in 0..4 {
            let _ = tab.funcdata(&f, i);
        }
        let idx = tab.pcdata(&f, PCDATA_INL_TREE_INDEX, pc).unwrap_or(-1);
        for i in [idx, 0, 1, -1] {
            if let Some(ic) = tab.inlined_call(&f, i) {
                let _ = tab.name_at(ic.name_off);
            }
        }
    }
    found
}

fn from(img: &[u8]) -> Result<Pclntab> {
    Pclntab::from_bytes(img.to_vec(), TEXT, GOFUNC, 0)
}

#[test]
fn rejects_bad_headers() {
    let (img, _) = build();
    // Bad magic: an unsupported-version error naming the magic.
    let mut bad = img.clone();
    put_u32(&mut bad, 0, 0xffff_fff0);
    let err = from(&bad).unwrap_err();
    assert!(matches!(err, Error::UnsupportedGo { .. }), "{err}");
    assert!(err.to_string().contains("0xfffffff0"), "{err}");
    // Wrong pointer size, zero instruction quantum.
    let mut bad = img.clone();
    bad[7] = 4;
    assert!(from(&bad).is_err());
    let mut bad = img.clone();
    bad[6] = 0;
    assert!(from(&bad).is_err());
    // Too short for a header at all.
    for n in [0, 4, 71] {
        let err = from(&img[..n]).unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
    }
    // Each sub-table offset past the end.
    for field in 0..5 {
        let mut bad = img.clone();
        put_u64(&mut bad, 32 + 8 * field, img.len() as u64);
        assert!(from(&bad).is_err(), "field {field}");
        put_u64(&mut bad, 32 + 8 * field, u64::MAX);
        assert!(from(&bad).is_err(), "field {field}");
    }
    // nfunc too large for the table, including values whose byte size
    // overflows.
    let (_, layout) = build();
    let just_too_many = ((img.len() - layout.pclntable) / 8) as u64;
    let mut ok = img.clone();
    put_u64(&mut ok, 8, just_too_many - 1);
    assert!(from(&ok).is_ok(), "ftab may run into the _func records");
    for nfunc in [
        just_too_many,
        1 << 20,
        1 << 61,
        (1 << 61) - 1,
        u64::MAX,
        u64::MAX - 1,
    ] {
        let mut bad = img.clone();
        put_u64(&mut bad, 8, nfunc);
        let err = from(&bad).unwrap_err();
        assert!(err.to_string().contains("function table"), "{nfunc}: {err}");
    }
}

#[test]
fn new_from_executable_matches_from_bytes() {
    // A minimal ET_EXEC file: ELF header, one PT_LOAD covering the file,
    // the pclntab at file offset 0x100 and the inline tree where gofunc
    // points.
    let (tab_img, _) = build();
    let vaddr = 0x40_0000u64;
    let bias = 0x10_0000u64;
    let pcln_off = 0x100usize;
    let rodata_off = (pcln_off + tab_img.len()).next_multiple_of(0x100);
    let gofunc = vaddr + rodata_off as u64 + bias;
    let tree = inline_tree(0, "main.main\0main.helper\0".len() as i32);
    let mut file = vec![0u8; rodata_off + INL_OFF as usize];
    file.extend_from_slice(&tree);
    file[pcln_off..pcln_off + tab_img.len()].copy_from_slice(&tab_img);
    file[..4].copy_from_slice(b"\x7fELF");
    file[4] = 2; // ELFCLASS64
    file[5] = 1; // little-endian
    file[6] = 1;
    file[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    file[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    file[20..24].copy_from_slice(&1u32.to_le_bytes());
    put_u64(&mut file, 24, vaddr); // e_entry
    put_u64(&mut file, 32, 64); // e_phoff
    file[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    file[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    file[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
    file[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    let ph = 64;
    put_u32(&mut file, ph, 1); // PT_LOAD
    put_u32(&mut file, ph + 4, 5);
    put_u64(&mut file, ph + 8, 0);
    put_u64(&mut file, ph + 16, vaddr);
    put_u64(&mut file, ph + 24, vaddr);
    let len = file.len() as u64;
    put_u64(&mut file, ph + 32, len);
    put_u64(&mut file, ph + 40, len);
    put_u64(&mut file, ph + 48, 0x1000);

    let path =
        std::env::temp_dir().join(format!("goroscope-pclntab-test-{}-exe", std::process::id()));
    std::fs::write(&path, &file).unwrap();
    let exe = crate::binary::elf::Executable::open(&path);
    let _ = std::fs::remove_file(&path);
    let exe = Arc::new(exe.unwrap());
    let text = TEXT + bias;
    let from_exe = Pclntab::new(exe.clone(), pcln_off, text, gofunc, bias).unwrap();
    let from_mem = Pclntab::from_bytes(tab_img, text, gofunc, bias);
    let from_mem = from_mem
        .unwrap()
        .with_rodata(vaddr + rodata_off as u64, file[rodata_off..].to_vec());
    assert_eq!(from_exe.nfunc(), from_mem.nfunc());
    assert_eq!(from_exe.max_pc(), from_mem.max_pc());
    for rel in 0..0xc4u64 {
        let pc = text + rel;
        let (a, b) = (from_exe.find_func(pc), from_mem.find_func(pc));
        assert_eq!(a.map(|f| f.entry), b.map(|f| f.entry), "pc {pc:#x}");
        let (Some(a), Some(b)) = (a, b) else { continue };
        assert_eq!(from_exe.func_name(&a), from_mem.func_name(&b));
        assert_eq!(from_exe.file_line(&a, pc), from_mem.file_line(&b, pc));
        assert_eq!(from_exe.sp_delta(&a, pc), from_mem.sp_delta(&b, pc));
        let ia = from_exe.pcdata(&a, PCDATA_INL_TREE_INDEX, pc);
        assert_eq!(ia, from_mem.pcdata(&b, PCDATA_INL_TREE_INDEX, pc));
        let ia = ia.unwrap_or(-1);
        let (ca, cb) = (from_exe.inlined_call(&a, ia), from_mem.inlined_call(&b, ia));
        assert_eq!(ca.map(|c| c.start_line), cb.map(|c| c.start_line));
        if ia >= 0 {
            assert!(ca.is_some(), "inline tree readable from the executable");
        }
    }
    // with_rodata is a no-op for executable-backed tables.
    let from_exe = from_exe.with_rodata(0, vec![1u8; 16]);
    assert!(from_exe.target_bytes(0, 1).is_none());
    // A header offset past the file.
    assert!(Pclntab::new(exe.clone(), file.len(), text, gofunc, bias).is_err());
    assert!(Pclntab::new(exe, usize::MAX - 8, text, gofunc, bias).is_err());
}

#[test]
fn truncated_images_never_panic() {
    let (img, layout) = build();
    for cut in 0..img.len() {
        if let Ok(tab) = from(&img[..cut]) {
            exercise(&tab);
        }
    }
    // Cut inside the last _func: the table still opens (ftab is whole) but
    // the function whose record is cut is not found.
    let last = layout.pclntable + layout.funcoffs[2];
    let tab = from(&img[..last + 20]).unwrap();
    assert!(tab.find_func(TEXT + 0xa0).is_none());
    assert!(tab.find_func(TEXT).is_some());
}

#[test]
fn corrupt_tables_never_panic() {
    let (img, layout) = build();
    let ftab = layout.pclntable;
    let rec1 = layout.pclntable + layout.funcoffs[1];

    // A funcoff past the end of the table.
    let mut bad = img.clone();
    put_u32(&mut bad, ftab + 4, u32::MAX);
    let tab = from(&bad).unwrap();
    assert!(tab.find_func(TEXT).is_none());
    exercise(&tab);

    // Entry offsets that make text + entry overflow.
    let tab = Pclntab::from_bytes(img.clone(), u64::MAX - 0x10, GOFUNC, 0).unwrap();
    for pc in [u64::MAX - 0x10, u64::MAX - 1, u64::MAX] {
        let _ = tab.find_func(pc);
    }
    let _ = tab.funcs().count();

    // Unsorted ftab.
    let mut bad = img.clone();
    put_u32(&mut bad, ftab, 0xb0);
    exercise(&from(&bad).unwrap());

    // A name with no terminating NUL at the end of the image.
    let mut bad = img.clone();
    let n = bad.len();
    put_u32(&mut bad, rec1 + 4, (n - layout.funcnametab - 3) as u32);
    bad[n - 3..].copy_from_slice(b"abc");
    let tab = from(&bad).unwrap();
    let h = func(&tab, 0x40);
    let name = tab.func_name(&h);
    assert!(name.is_empty() || name == "?", "{name:?}");

    // Table offsets pointing at unterminated or garbage pc-value data.
    for (field, v) in [
        (16, u32::MAX),
        (16, (img.len() - 1) as u32),
        (20, u32::MAX),
        (24, 0x7fff_ffff),
        (28, u32::MAX), // npcdata: pcdata offsets read past the end
        (32, u32::MAX), // cu offset
        (43, 0xff),     // nfuncdata byte (and the top of the cu offset word)
    ] {
        let mut bad = img.clone();
        if field == 43 {
            bad[rec1 + 43] = v as u8;
        } else {
            put_u32(&mut bad, rec1 + field, v);
        }
        exercise(&from(&bad).unwrap());
    }

    // A pc-value table of continuation bytes running to the end.
    let mut bad = img.clone();
    let n = bad.len();
    bad[n - 8..].fill(0xff);
    put_u32(&mut bad, rec1 + 16, 0);
    exercise(&from(&bad).unwrap());

    // Huge gofunc and funcdata offsets: funcdata addresses overflow.
    let tab = Pclntab::from_bytes(img.clone(), TEXT, u64::MAX - 4, 0)
        .unwrap()
        .with_rodata(u64::MAX - 64, vec![0u8; 64]);
    let h = func(&tab, 0x40);
    assert_eq!(tab.funcdata(&h, FUNCDATA_INL_TREE), None);
    assert!(tab.inlined_call(&h, 0).is_none());
    exercise(&tab);

    // Every single-byte corruption of the image.
    for i in 0..img.len() {
        for v in [0x00, 0x7f, 0x80, 0xff] {
            let mut bad = img.clone();
            bad[i] = v;
            if let Ok(tab) = from(&bad) {
                exercise(&tab.with_rodata(GOFUNC, vec![0xffu8; 0x80]));
            }
        }
    }
}

/// A small deterministic stand-in for the cargo-fuzz target (see fuzz/),
/// so CI keeps exercising random corruption: xorshift-driven byte flips,
/// word overwrites and cuts of the valid image.
#[test]
fn pseudo_random_mutations_never_panic() {
    let (img, _) = build();
    let tree = inline_tree(0, 10);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut opened = 0;
    for _ in 0..3000 {
        let mut bad = img.clone();
        for _ in 0..1 + next() % 4 {
            let r = next();
            let i = (r >> 8) as usize % bad.len();
            match r % 4 {
                0 => bad[i] ^= 1 << ((r >> 40) % 8),
                1 => bad[i] = (r >> 32) as u8,
                2 => {
                    let w = next().to_le_bytes();
                    let end = (i + 4).min(bad.len());
                    bad[i..end].copy_from_slice(&w[..end - i]);
                }
                _ => bad.truncate(i.max(1)),
            }
        }
        if let Ok(tab) = from(&bad) {
            opened += 1;
            exercise(&tab.with_rodata(GOFUNC + u64::from(INL_OFF), tree.clone()));
        }
    }
    assert!(
        opened > 100,
        "mutations should mostly keep the header: {opened}"
    );
}
