//! Go stack unwinding from the pclntab, following runtime/traceback.go's
//! `unwinder`: frame sizes from pcsp, return addresses at fp-8 (amd64),
//! trap frames (sigpanic, asyncPreempt) not rewound, TOPFRAME ends a stack,
//! SPWRITE functions end it unless innermost. Inlined calls are expanded
//! from the inline tree into logical frames.

pub mod callsite;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::binary::pclntab::{Func, FUNC_FLAG_SPWRITE, FUNC_FLAG_TOP_FRAME, PCDATA_INL_TREE_INDEX};
use crate::goruntime::funcname::print_name;
use crate::goruntime::runtime::GoRuntime;
use crate::memory::Memory;

/// Default bound on physical frames per goroutine (corruption guard; far
/// beyond what a 1 GB stack can hold with real frames would be ~10M, but
/// nobody wants that many; the walk reports truncation).
pub const DEFAULT_MAX_FRAMES: usize = 1_000_000;

/// Where unwinding starts.
#[derive(Debug, Clone, Copy)]
pub struct StartRegs {
    pub pc: u64,
    pub sp: u64,
    /// The pc came from a trap (thread registers): do not rewind it.
    pub trap: bool,
}

/// A physical (machine) frame.
#[derive(Debug, Clone, Copy)]
pub struct PhysFrame {
    pub pc: u64,
    pub sp: u64,
    pub fp: u64,
    pub func: Func,
    /// pc is exact (innermost trap frame, or caller of an injected call).
    pub trap: bool,
}

/// A source-level frame (inlined calls expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalFrame {
    /// Name as recorded in the pclntab.
    pub raw_name: Arc<str>,
    /// Name as Go prints it.
    pub name: Arc<str>,
    pub file: Arc<str>,
    pub line: i32,
    /// Physical pc of the frame this belongs to.
    pub pc: u64,
    pub entry: u64,
    pub func_id: u8,
    pub inlined: bool,
}

/// Why a walk stopped before a proper top frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Reached goexit/mstart/rt0_go (TOPFRAME) or a zero return address.
    Complete,
    /// A pc outside every Go function.
    UnknownPc(u64),
    /// Memory could not be read.
    Unreadable(u64),
    /// The stack did not grow towards its top (corrupt), or left its bounds.
    Corrupt(String),
    /// Bound on frames reached.
    TooDeep,
}

/// Result of unwinding one stack.
#[derive(Debug, Clone)]
pub struct Unwound {
    pub frames: Vec<PhysFrame>,
    pub stop: Stop,
}

/// A physical frame's identity for caching: its pc and whether it is a trap frame.
pub type FrameKey = (u64, bool);

/// Symbolization cache: physical pc (with trap flag) → logical frames.
#[derive(Debug, Default)]
pub struct SymCache {
    logical: Mutex<HashMap<FrameKey, Arc<[LogicalFrame]>>>,
}

fn is_injected(rt: &GoRuntime, id: u8) -> bool {
    let f = &rt.funcids;
    id == f.sigpanic || id == f.async_preempt || id == f.debug_call_v2
}

/// The used part of a goroutine stack, read in one bulk read so that
/// unwinding costs one memory access per goroutine, not one per frame.
struct StackImage {
    base: u64,
    data: Vec<u8>,
}

/// Largest stack image read in bulk; deeper stacks fall back to word reads.
pub const MAX_STACK_IMAGE: u64 = 1 << 20;

impl StackImage {
    fn new(mem: &dyn Memory, sp: u64, hi: u64) -> Self {
        if hi <= sp {
            return StackImage {
                base: sp,
                data: Vec::new(),
            };
        }
        let mut data = vec![0u8; (hi - sp).min(MAX_STACK_IMAGE) as usize];
        let n = mem.read_partial(sp, &mut data).unwrap_or(0);
        data.truncate(n);
        StackImage { base: sp, data }
    }

    fn read_u64(&self, mem: &dyn Memory, addr: u64) -> crate::error::Result<u64> {
        if addr >= self.base {
            let off = (addr - self.base) as usize;
            if let Some(b) = self.data.get(off..off + 8) {
                return Ok(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
            }
        }
        mem.read_u64(addr)
    }
}

/// Unwinds a goroutine stack bounded by [lo, hi).
pub fn unwind(
    rt: &GoRuntime,
    mem: &dyn Memory,
    start: StartRegs,
    lo: u64,
    hi: u64,
    max_frames: usize,
) -> Unwound {
    let mut frames = Vec::new();
    let (mut pc, mut sp) = (start.pc, start.sp);
    let mut trap = start.trap;
    if pc == 0 {
        match mem.read_u64(sp) {
            Ok(v) => {
                pc = v;
                sp += 8;
            }
            Err(_) => {
                return Unwound {
                    frames,
                    stop: Stop::Unreadable(sp),
                }
            }
        }
    }
    let image = StackImage::new(mem, sp, hi);
    let mut innermost = true;
    loop {
        if frames.len() >= max_frames {
            return Unwound {
                frames,
                stop: Stop::TooDeep,
            };
        }
        let Some(func) = rt.pcln.find_func(pc) else {
            return Unwound {
                frames,
                stop: Stop::UnknownPc(pc),
            };
        };
        if hi != 0 && (sp < lo || sp > hi) {
            return Unwound {
                frames,
                stop: Stop::Corrupt(format!("sp {sp:#x} outside the stack [{lo:#x}, {hi:#x})")),
            };
        }
        let delta = if func.pcsp == 0 {
            0
        } else {
            rt.pcln.sp_delta(&func, pc).unwrap_or(0)
        };
        let fp = sp + delta.max(0) as u64 + 8;
        frames.push(PhysFrame {
            pc,
            sp,
            fp,
            func,
            trap,
        });
        if func.pcsp == 0 || func.flag & FUNC_FLAG_TOP_FRAME != 0 {
            return Unwound {
                frames,
                stop: Stop::Complete,
            };
        }
        // cgocallback writes SP but leaves the curg stack unwindable: the
        // runtime clears its SPWRITE flag, and so do we.
        let spwrite = func.flag & FUNC_FLAG_SPWRITE != 0 && func.func_id != rt.funcids.cgocallback;
        if spwrite && !innermost {
            return Unwound {
                frames,
                stop: Stop::Complete,
            };
        }
        let lr = match image.read_u64(mem, fp - 8) {
            Ok(v) => v,
            Err(_) => {
                return Unwound {
                    frames,
                    stop: Stop::Unreadable(fp - 8),
                }
            }
        };
        if lr == 0 {
            return Unwound {
                frames,
                stop: Stop::Complete,
            };
        }
        if fp <= sp && lr == pc {
            return Unwound {
                frames,
                stop: Stop::Corrupt("traceback stuck".into()),
            };
        }
        trap = is_injected(rt, func.func_id);
        pc = lr;
        sp = fp;
        innermost = false;
    }
}

impl PhysFrame {
    /// The pc used for symbol lookups (runtime `symPC`).
    pub fn sym_pc(&self) -> u64 {
        if !self.trap && self.pc > self.func.entry {
            self.pc - 1
        } else {
            self.pc
        }
    }
}

/// Expands a physical frame into logical frames, innermost first.
pub fn logical_frames(rt: &GoRuntime, cache: &SymCache, f: &PhysFrame) -> Arc<[LogicalFrame]> {
    let key = (f.pc, f.trap);
    if let Ok(c) = cache.logical.lock() {
        if let Some(v) = c.get(&key) {
            return v.clone();
        }
    }
    let v: Arc<[LogicalFrame]> = expand(rt, f).into();
    if let Ok(mut c) = cache.logical.lock() {
        c.insert(key, v.clone());
    }
    v
}

fn expand(rt: &GoRuntime, f: &PhysFrame) -> Vec<LogicalFrame> {
    let pcln = &rt.pcln;
    let func = &f.func;
    let mut out = Vec::new();
    let mut pc = f.sym_pc();
    let go127 = rt.version.at_least(27);
    // Inline depth is small; bound it against corrupt trees.
    for _ in 0..1000 {
        let idx = pcln.pcdata(func, PCDATA_INL_TREE_INDEX, pc).unwrap_or(-1);
        let (file, line) = pcln.file_line(func, pc);
        if idx >= 0 {
            if let Some(ic) = pcln.inlined_call(func, idx) {
                let raw = pcln.name_at(ic.name_off);
                out.push(LogicalFrame {
                    raw_name: raw.into(),
                    name: print_name(raw, go127).into(),
                    file: file.into(),
                    line,
                    pc: f.pc,
                    entry: func.entry,
                    func_id: ic.func_id,
                    inlined: true,
                });
                pc = func.entry.wrapping_add(ic.parent_pc as i64 as u64);
                continue;
            }
        }
        let raw = pcln.func_name(func);
        out.push(LogicalFrame {
            raw_name: raw.into(),
            name: print_name(raw, go127).into(),
            file: file.into(),
            line,
            pc: f.pc,
            entry: func.entry,
            func_id: func.func_id,
            inlined: false,
        });
        break;
    }
    out
}
