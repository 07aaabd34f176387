//! The RIP-relative memory references in amd64 machine code: what a
//! function reads, writes or takes the address of among the globals. A
//! binary stripped of its symbol table still has its code and the
//! pclntab's function names, so "the int32 that `runtime.GOMAXPROCS`
//! loads" names `runtime.gomaxprocs` where no symbol does.

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind};

/// How an instruction uses its RIP-relative operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `LEA`: the address itself (`&global`).
    Address,
    /// Memory read (`MOV reg, [rip+d]`, `CMP [rip+d], imm`, …).
    Read,
    /// Memory written by a plain `MOV [rip+d], …` (the operand is the
    /// destination).
    Write,
    /// Read-modify-write (`ADD`, `XCHG`, `LOCK XADD`, …).
    Update,
}

/// One RIP-relative memory operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RipRef {
    /// Address of the instruction.
    pub at: u64,
    /// The address it refers to.
    pub target: u64,
    /// Operand size in bytes (0 for `LEA`).
    pub size: usize,
    pub access: Access,
    /// The immediate stored, for `MOV [rip+d], imm`.
    pub imm: Option<u64>,
}

/// Every RIP-relative memory operand in `code`, which starts at `ip`.
/// Undecodable bytes (data in text, padding) are skipped one instruction
/// at a time, as the decoder resynchronises by itself.
pub fn rip_refs(code: &[u8], ip: u64) -> Vec<RipRef> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut insn = Instruction::default();
    let mut out = Vec::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        if insn.is_invalid() || !insn.is_ip_rel_memory_operand() {
            continue;
        }
        let mem_op = (0..insn.op_count()).find(|&i| insn.op_kind(i) == OpKind::Memory);
        let access = match (insn.mnemonic(), mem_op) {
            (Mnemonic::Lea, _) => Access::Address,
            (Mnemonic::Mov, Some(0)) => Access::Write,
            (
                Mnemonic::Mov
                | Mnemonic::Movzx
                | Mnemonic::Movsx
                | Mnemonic::Movsxd
                | Mnemonic::Cmp
                | Mnemonic::Test
                | Mnemonic::Movups
                | Mnemonic::Movdqu,
                _,
            ) => Access::Read,
            (_, Some(0)) => Access::Update,
            _ => Access::Read,
        };
        let imm = (access == Access::Write && insn.op_count() == 2)
            .then(|| match insn.op_kind(1) {
                OpKind::Immediate8
                | OpKind::Immediate16
                | OpKind::Immediate32
                | OpKind::Immediate32to64
                | OpKind::Immediate8to64 => Some(insn.immediate(1)),
                _ => None,
            })
            .flatten();
        out.push(RipRef {
            at: insn.ip(),
            target: insn.ip_rel_memory_address(),
            size: if access == Access::Address {
                0
            } else {
                insn.memory_size().size()
            },
            access,
            imm,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_loads_stores_and_addresses() {
        let code = [
            // movslq 0x10(%rip),%rax      (48 63 05 disp32)
            0x48, 0x63, 0x05, 0x10, 0x00, 0x00, 0x00,
            // lea -0x20(%rip),%rcx        (48 8d 0d disp32)
            0x48, 0x8d, 0x0d, 0xe0, 0xff, 0xff, 0xff,
            // movq $0x3b9aca00,0x100(%rip) (48 c7 05 disp32 imm32)
            0x48, 0xc7, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0xca, 0x9a, 0x3b,
            // mov %eax,(%rax)  (not RIP-relative)
            0x89, 0x00,
        ];
        let refs = rip_refs(&code, 0x1000);
        assert_eq!(refs.len(), 3);
        assert_eq!(
            (refs[0].target, refs[0].size, refs[0].access),
            (0x1007 + 0x10, 4, Access::Read)
        );
        assert_eq!(
            (refs[1].target, refs[1].access),
            (0x100e - 0x20, Access::Address)
        );
        assert_eq!(
            (refs[2].target, refs[2].size, refs[2].access, refs[2].imm),
            (0x1019 + 0x100, 8, Access::Write, Some(1_000_000_000))
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        let junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let _ = rip_refs(&junk, 0x40_0000);
    }
}
