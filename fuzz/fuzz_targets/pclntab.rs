//! Fuzzes pclntab decoding: the input is the table (pcHeader first) and
//! also the read-only image that FUNCDATA (inline trees) points into, so
//! inline-tree offsets can land in fuzzer-controlled bytes.

#![no_main]

use goroscope::binary::pclntab::{Pclntab, FUNCDATA_INL_TREE, PCDATA_INL_TREE_INDEX};
use libfuzzer_sys::fuzz_target;

const TEXT: u64 = 0x40_1000;
const GOFUNC: u64 = 0x50_0000;

fuzz_target!(|data: &[u8]| {
    let Ok(tab) = Pclntab::from_bytes(data, TEXT, GOFUNC, 0) else {
        return;
    };
    let tab = tab.with_rodata(GOFUNC, data);
    let _ = (tab.nfunc(), tab.text(), tab.max_pc());
    let mut entries: Vec<u64> = tab.funcs().take(32).map(|f| f.entry).collect();
    entries.push(TEXT);
    for entry in entries {
        for pc in (entry.saturating_sub(2)..entry.saturating_add(0x40)).step_by(3) {
            let _ = tab.contains(pc);
            let Some(f) = tab.find_func(pc) else {
                continue;
            };
            let _ = tab.func_name(&f);
            let _ = tab.file_line(&f, pc);
            let _ = tab.sp_delta(&f, pc);
            for i in 0..4 {
                let _ = tab.pcdata(&f, i, pc);
                let _ = tab.funcdata(&f, i);
            }
            let _ = tab.funcdata(&f, FUNCDATA_INL_TREE);
            // The inline-tree walk the unwinder does, bounded.
            let mut ipc = pc;
            for _ in 0..8 {
                let idx = tab.pcdata(&f, PCDATA_INL_TREE_INDEX, ipc).unwrap_or(-1);
                let Some(ic) = tab.inlined_call(&f, idx) else {
                    break;
                };
                let _ = tab.name_at(ic.name_off);
                ipc = f.entry.wrapping_add(ic.parent_pc as i64 as u64);
            }
        }
    }
});
