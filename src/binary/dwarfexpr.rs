//! Evaluation of the DWARF location expressions Go emits for parameters
//! and locals, on raw bytes: the frame's CFA (Go's frame base) plus
//! constant offsets, static addresses, rsp-relative slots, registers
//! (reported, not resolved: a parked goroutine's registers are gone) and
//! pieces. Anything else, or malformed bytes, gives no location.

/// Bound on operations per expression (Go's are a handful).
const MAX_EXPR_OPS: usize = 64;

/// Where one piece of a variable is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In memory at this address.
    Mem(u64),
    /// In a register (DWARF number) that is not known for the frame.
    Reg(u16),
    /// A computed value (DW_OP_stack_value), not in memory.
    Value(u64),
    /// Optimized out (an empty piece).
    None,
}

/// One piece of a variable: where it is and how many bytes (0 = the
/// whole variable, when the expression has no DW_OP_piece).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub place: Place,
    pub size: u64,
}

/// What a location expression may use: the frame's canonical frame address
/// (Go's frame base is DW_OP_call_frame_cfa) and its stack pointer.
#[derive(Debug, Clone, Copy)]
pub struct EvalFrame {
    pub cfa: u64,
    pub sp: Option<u64>,
    /// Added to static addresses (DW_OP_addr) of a PIE.
    pub bias: u64,
}

/// DWARF register number of rsp on amd64.
const REG_RSP: u16 = 7;

/// Evaluates the subset of DWARF location expressions that Go emits:
/// call_frame_cfa / fbreg with constant offsets, addr, breg of rsp, reg
/// (registers are not known, so such pieces are reported as `Reg`), piece
/// and stack_value. `None` for anything else or malformed input.
pub fn eval(expr: &[u8], fr: &EvalFrame) -> Option<Vec<Piece>> {
    let mut stack: Vec<u64> = Vec::new();
    let mut pieces = Vec::new();
    let mut reg: Option<u16> = None;
    let mut is_value = false;
    let mut r = Reader { b: expr, i: 0 };
    let mut ops = 0;
    while r.i < expr.len() {
        ops += 1;
        if ops > MAX_EXPR_OPS {
            return None;
        }
        let op = r.u8()?;
        match op {
            0x03 => stack.push(r.u64()?.wrapping_add(fr.bias)), // DW_OP_addr
            0x08 => stack.push(u64::from(r.u8()?)),             // const1u
            0x09 => stack.push(r.u8()? as i8 as i64 as u64),    // const1s
            0x0a => stack.push(u64::from(r.u16()?)),            // const2u
            0x0b => stack.push(r.u16()? as i16 as i64 as u64),  // const2s
            0x0c => stack.push(u64::from(r.u32()?)),            // const4u
            0x0d => stack.push(r.u32()? as i32 as i64 as u64),  // const4s
            0x0e | 0x0f => stack.push(r.u64()?),                // const8u/s
            0x10 => stack.push(r.uleb()?),                      // constu
            0x11 => stack.push(r.sleb()? as u64),               // consts
            0x1c => {
                // minus
                let b = stack.pop()?;
                let a = stack.pop()?;
                stack.push(a.wrapping_sub(b));
            }
            0x22 => {
                // plus
                let b = stack.pop()?;
                let a = stack.pop()?;
                stack.push(a.wrapping_add(b));
            }
            0x23 => {
                // plus_uconst
                let a = stack.pop()?;
                stack.push(a.wrapping_add(r.uleb()?));
            }
            0x30..=0x4f => stack.push(u64::from(op - 0x30)), // lit0..lit31
            0x50..=0x6f => reg = Some(u16::from(op - 0x50)), // reg0..reg31
            0x90 => reg = Some(u16::try_from(r.uleb()?).ok()?), // regx
            0x70..=0x8f => {
                // breg0..breg31: only rsp is known for a frame.
                let off = r.sleb()?;
                if u16::from(op - 0x70) != REG_RSP {
                    return None;
                }
                stack.push(fr.sp?.wrapping_add(off as u64));
            }
            0x91 => {
                // fbreg: Go's frame base is the CFA.
                let off = r.sleb()?;
                stack.push(fr.cfa.wrapping_add(off as u64));
            }
            0x9c => stack.push(fr.cfa), // call_frame_cfa
            0x9f => is_value = true,    // stack_value
            0x93 => {
                // piece
                let size = r.uleb()?;
                pieces.push(Piece {
                    place: take_place(&mut stack, &mut reg, &mut is_value),
                    size,
                });
            }
            _ => return None,
        }
    }
    if pieces.is_empty() {
        let place = take_place(&mut stack, &mut reg, &mut is_value);
        if place == Place::None {
            return None;
        }
        pieces.push(Piece { place, size: 0 });
    } else if !stack.is_empty() || reg.is_some() {
        // Trailing operations after the last piece: malformed.
        return None;
    }
    Some(pieces)
}

fn take_place(stack: &mut Vec<u64>, reg: &mut Option<u16>, is_value: &mut bool) -> Place {
    let p = if let Some(r) = reg.take() {
        Place::Reg(r)
    } else if let Some(v) = stack.pop() {
        if *is_value {
            Place::Value(v)
        } else {
            Place::Mem(v)
        }
    } else {
        Place::None
    };
    stack.clear();
    *is_value = false;
    p
}

/// A bounds-checked cursor over expression bytes.
struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.i..self.i + N)?;
        self.i += N;
        s.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take()?))
    }
    fn uleb(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn sleb(&mut self) -> Option<i64> {
        let mut v = 0i64;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= i64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Some(v);
            }
            if shift > 70 {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FR: EvalFrame = EvalFrame {
        cfa: 0xc000_1000,
        sp: Some(0xc000_0f00),
        bias: 0,
    };

    fn mem(a: u64, size: u64) -> Piece {
        Piece {
            place: Place::Mem(a),
            size,
        }
    }

    #[test]
    fn cfa_alone_is_the_first_argument_slot() {
        assert_eq!(eval(&[0x9c], &FR), Some(vec![mem(0xc000_1000, 0)]));
    }

    #[test]
    fn cfa_plus_consts_and_plus_uconst() {
        // DW_OP_call_frame_cfa; DW_OP_consts -24; DW_OP_plus
        assert_eq!(
            eval(&[0x9c, 0x11, 0x68, 0x22], &FR),
            Some(vec![mem(0xc000_1000 - 24, 0)])
        );
        // DW_OP_call_frame_cfa; DW_OP_plus_uconst 200 (uleb 0xc8 0x01)
        assert_eq!(
            eval(&[0x9c, 0x23, 0xc8, 0x01], &FR),
            Some(vec![mem(0xc000_1000 + 200, 0)])
        );
    }

    #[test]
    fn fbreg_and_breg_rsp() {
        // DW_OP_fbreg -8
        assert_eq!(eval(&[0x91, 0x78], &FR), Some(vec![mem(0xc000_0ff8, 0)]));
        // DW_OP_breg7 (rsp) +16
        assert_eq!(eval(&[0x77, 0x10], &FR), Some(vec![mem(0xc000_0f10, 0)]));
        // DW_OP_breg0 (rax): unknown register
        assert_eq!(eval(&[0x70, 0x10], &FR), None);
        let no_sp = EvalFrame { sp: None, ..FR };
        assert_eq!(eval(&[0x77, 0x10], &no_sp), None);
    }

    #[test]
    fn pieces_in_memory_and_registers() {
        // cfa; piece 8; fbreg 8; piece 8  (a string split in two slots)
        assert_eq!(
            eval(&[0x9c, 0x93, 0x08, 0x91, 0x08, 0x93, 0x08], &FR),
            Some(vec![mem(0xc000_1000, 8), mem(0xc000_1008, 8)])
        );
        // reg0; piece 8; reg3; piece 8
        assert_eq!(
            eval(&[0x50, 0x93, 0x08, 0x53, 0x93, 0x08], &FR),
            Some(vec![
                Piece {
                    place: Place::Reg(0),
                    size: 8
                },
                Piece {
                    place: Place::Reg(3),
                    size: 8
                },
            ])
        );
        // An empty piece is optimized out.
        assert_eq!(
            eval(&[0x93, 0x08, 0x9c, 0x93, 0x08], &FR),
            Some(vec![
                Piece {
                    place: Place::None,
                    size: 8
                },
                mem(0xc000_1000, 8)
            ])
        );
    }

    #[test]
    fn addr_is_biased_and_stack_value_is_no_memory() {
        let pie = EvalFrame { bias: 0x1000, ..FR };
        let mut e = vec![0x03];
        e.extend_from_slice(&0x50_0000u64.to_le_bytes());
        assert_eq!(eval(&e, &pie), Some(vec![mem(0x50_1000, 0)]));
        assert_eq!(
            eval(&[0x35, 0x9f], &FR),
            Some(vec![Piece {
                place: Place::Value(5),
                size: 0
            }])
        );
    }

    #[test]
    fn malformed_input_gives_nothing() {
        assert_eq!(eval(&[], &FR), None);
        assert_eq!(eval(&[0x91], &FR), None); // truncated sleb
        assert_eq!(eval(&[0x22], &FR), None); // plus on an empty stack
        assert_eq!(eval(&[0xff], &FR), None); // unsupported op
        assert_eq!(
            eval(
                &[0x91, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80],
                &FR
            ),
            None
        );
        assert_eq!(eval(&[0x9c; 100], &FR), None); // too many ops
    }
}
