//! Decoding the amd64 call instruction that precedes a return address.
//!
//! The fallback stack scan (a goroutine running non-Go code without a
//! saved context) finds candidate return addresses among stale words of a
//! reused stack. A stale chain of old frames can unwind "cleanly" into the
//! live ones; checking that each return address follows a call to the
//! callee's function tells the two apart.

/// What precedes a return address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallSite {
    /// `CALL rel32` to this target.
    Direct(u64),
    /// `CALL r/m64` (through a register or memory: a closure, interface
    /// method or function value).
    Indirect,
    /// No call instruction ends at the address.
    NotACall,
}

/// Classifies the 8 bytes before `ret` (`before[7]` is the byte at ret-1).
pub fn call_before(ret: u64, before: &[u8; 8]) -> CallSite {
    // CALL rel32: E8 xx xx xx xx.
    if before[3] == 0xE8 {
        let rel = i32::from_le_bytes([before[4], before[5], before[6], before[7]]);
        return CallSite::Direct(ret.wrapping_add(rel as i64 as u64));
    }
    // CALL r/m64: [REX] FF /2 with a ModRM (and SIB, displacement) ending
    // at `ret`. Try each length an encoding can have (2..=7 bytes, plus an
    // optional REX prefix before the FF).
    for len in 2..=7usize {
        let at = 8 - len;
        if before[at] == 0xFF && modrm_call_len(&before[at + 1..]) == Some(len - 1) {
            return CallSite::Indirect;
        }
    }
    CallSite::NotACall
}

/// Length of a ModRM(+SIB+disp) operand whose reg field is /2 (CALL), or
/// None when the bytes do not encode a CALL r/m64.
fn modrm_call_len(rest: &[u8]) -> Option<usize> {
    let modrm = *rest.first()?;
    if (modrm >> 3) & 7 != 2 {
        return None;
    }
    let (md, rm) = (modrm >> 6, modrm & 7);
    let sib = md != 3 && rm == 4;
    let disp = match md {
        0 if rm == 5 => 4,
        0 if sib && rest.get(1).is_some_and(|s| s & 7 == 5) => 4,
        0 | 3 => 0,
        1 => 1,
        _ => 4,
    };
    Some(1 + usize::from(sib) + disp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn before(bytes: &[u8]) -> [u8; 8] {
        let mut b = [0x90u8; 8];
        b[8 - bytes.len()..].copy_from_slice(bytes);
        b
    }

    #[test]
    fn direct_call_target() {
        // CALL +0x10 ending at 0x1000 → 0x1010; CALL -0x20 → 0xfe0.
        assert_eq!(
            call_before(0x1000, &before(&[0xE8, 0x10, 0, 0, 0])),
            CallSite::Direct(0x1010)
        );
        assert_eq!(
            call_before(0x1000, &before(&[0xE8, 0xE0, 0xFF, 0xFF, 0xFF])),
            CallSite::Direct(0xfe0)
        );
    }

    #[test]
    fn indirect_calls() {
        for bytes in [
            &[0xFF, 0xD2][..],                   // CALL DX
            &[0x41, 0xFF, 0xD3][..],             // CALL R11
            &[0xFF, 0x50, 0x18][..],             // CALL 0x18(AX)
            &[0xFF, 0x14, 0x24][..],             // CALL (SP)
            &[0xFF, 0x15, 1, 2, 3, 4][..],       // CALL [rip+disp32]
            &[0xFF, 0x90, 0x10, 0x01, 0, 0][..], // CALL 0x110(AX)
            &[0xFF, 0x54, 0x24, 0x08][..],       // CALL 8(SP)
        ] {
            assert_eq!(
                call_before(0x1000, &before(bytes)),
                CallSite::Indirect,
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn not_a_call() {
        // MOVQ AX, BX; ADDQ $1, AX; a JMP.
        assert_eq!(
            call_before(0x1000, &before(&[0x48, 0x89, 0xC3])),
            CallSite::NotACall
        );
        assert_eq!(
            call_before(0x1000, &before(&[0x48, 0xFF, 0xC0])),
            CallSite::NotACall
        );
        assert_eq!(
            call_before(0x1000, &before(&[0xFF, 0xE0])),
            CallSite::NotACall
        );
    }
}
