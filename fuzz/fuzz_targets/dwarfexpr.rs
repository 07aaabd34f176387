//! Fuzzes the DWARF location-expression evaluator (binary/dwarfexpr.rs):
//! the expression bytes come from the binary's .debug_info / location
//! lists, which a corrupted or hostile executable controls.

#![no_main]

use goroscope::binary::dwarfexpr::{eval, EvalFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for fr in [
        EvalFrame {
            cfa: 0xc000_0100_00,
            sp: Some(0xc000_00ff_00),
            bias: 0,
        },
        EvalFrame {
            cfa: u64::MAX - 8,
            sp: None,
            bias: u64::MAX,
        },
    ] {
        if let Some(pieces) = eval(data, &fr) {
            // Expressions are short: the evaluator bounds its work.
            assert!(pieces.len() <= data.len());
        }
    }
});
