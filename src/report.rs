//! The goroutine model every frontend renders: status and wait reason as Go
//! prints them, all logical frames, creator, thread and stack facts.

use std::sync::Arc;

use serde::Serialize;

use crate::goruntime::funcname::print_name;

use crate::goruntime::goroutine::{status, G};
use crate::session::Session;
use crate::unwind::{self, LogicalFrame, StartRegs, Stop, DEFAULT_MAX_FRAMES};

/// One frame as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    /// Name as Go prints it (generic shapes shown as `[...]`).
    pub function: Arc<str>,
    pub file: Arc<str>,
    pub line: i32,
    pub pc: u64,
    pub inlined: bool,
    /// Compiler-generated wrapper (hidden in Go tracebacks).
    pub wrapper: bool,
    /// Offset of pc from the function entry (`+0x…`).
    pub offset: u64,
    /// Name as recorded in the binary.
    #[serde(skip)]
    pub raw_name: Arc<str>,
    #[serde(skip)]
    pub func_id: u8,
    /// Whether Go's level-1 traceback shows this frame.
    #[serde(skip)]
    pub shown: bool,
    /// This frame's JSON, rendered once per distinct pc and shared, so a
    /// 100 000-goroutine document does not re-escape the same paths.
    #[serde(skip)]
    pub json: Option<Arc<Box<serde_json::value::RawValue>>>,
}

/// Serializes frames from their shared pre-rendered JSON.
fn frames_raw<S: serde::Serializer>(frames: &[Frame], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(frames.len()))?;
    for f in frames {
        match &f.json {
            Some(raw) => seq.serialize_element(raw.as_ref())?,
            None => seq.serialize_element(f)?,
        }
    }
    seq.end()
}

/// Who started a goroutine.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CreatedBy {
    pub function: String,
    pub file: String,
    pub line: i32,
    /// Parent goroutine id (0 when unknown).
    pub goroutine: u64,
    pub pc: u64,
    pub offset: u64,
    /// Whether Go's traceback would print it (hidden runtime creators).
    #[serde(skip)]
    pub shown: bool,
}

/// One goroutine, fully decoded.
#[derive(Debug, Clone, Serialize)]
pub struct Goroutine {
    pub id: u64,
    /// Go's status word: runnable, running, syscall, waiting, ...
    pub status: String,
    /// The text Go prints between the brackets for a waiting goroutine.
    pub wait_reason: Option<String>,
    pub wait_minutes: i64,
    #[serde(serialize_with = "frames_raw")]
    pub frames: Vec<Frame>,
    pub created_by: Option<CreatedBy>,
    /// Extra facts (not part of the contract, useful for tools).
    pub system: bool,
    pub locked_to_thread: bool,
    pub scan: bool,
    pub m_id: Option<i64>,
    pub thread_id: Option<u64>,
    pub stack_lo: u64,
    pub stack_hi: u64,
    pub addr: u64,
    /// Where the stack came from: "sched", "syscall", "registers", "signal context", "vdso".
    pub stack_source: String,
    /// Stack pointer of the innermost frame (where unwinding started).
    pub sp: u64,
    /// Set when the unwind did not reach the goroutine's top frame.
    pub unwind_error: Option<String>,
    /// The value the goroutine is panicking with, if it is.
    pub panic: Option<String>,
    /// pprof labels (`runtime/pprof.Do`, `SetGoroutineLabels`).
    #[serde(serialize_with = "labels_as_object")]
    pub labels: Vec<(String, String)>,
    /// How Go's header shows the labels, when the runtime prints them.
    #[serde(skip)]
    pub label_header: LabelHeader,
}

/// Where and how a goroutine header carries pprof labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LabelHeader {
    /// Not printed (the default before go1.27).
    #[default]
    None,
    /// go1.26: ` labels:{"k": "v"}` inside the brackets.
    Inside(String),
    /// go1.27: ` {k: v}` after the closing bracket.
    After(String),
}

fn labels_as_object<S: serde::Serializer>(
    labels: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(labels.len()))?;
    for (k, v) in labels {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

/// The runtime's `printquoted`.
fn go_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for r in s.chars() {
        match r {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' | '"' => {
                out.push('\\');
                out.push(r);
            }
            ' '..='~' => out.push(r),
            _ if (r as u32) < 127 => out.push_str(&format!("\\x{:02x}", r as u32)),
            _ if (r as u32) < 0x1_0000 => out.push_str(&format!("\\u{:04x}", r as u32)),
            _ => out.push_str(&format!("\\U{:08x}", r as u32)),
        }
    }
    out.push('"');
    out
}

/// Formats labels the way the runtime's goroutine header does.
fn label_header(labels: &[(String, String)], enabled: bool, go127: bool) -> LabelHeader {
    if !enabled || labels.is_empty() {
        return LabelHeader::None;
    }
    if go127 {
        let needs = |s: &str| {
            !s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/' || c == '_')
        };
        let q = |s: &str| {
            if needs(s) {
                go_quoted(s)
            } else {
                s.to_string()
            }
        };
        let body: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{}: {}", q(k), q(v)))
            .collect();
        LabelHeader::After(format!(" {{{}}}", body.join(", ")))
    } else {
        let body: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{}: {}", go_quoted(k), go_quoted(v)))
            .collect();
        LabelHeader::Inside(format!(" labels:{{{}}}", body.join(", ")))
    }
}

/// The target's clocks at a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopClock {
    /// The runtime's `nanotime()` (CLOCK_MONOTONIC).
    pub mono: i64,
    /// Unix time (ns) at the same moment, when known.
    pub wall: Option<i64>,
    /// Read at the stop (live), rather than estimated (core).
    pub exact: bool,
}

impl Goroutine {
    /// The bracketed text of the Go header (without brackets).
    pub fn header_status(&self) -> String {
        let mut s = self
            .wait_reason
            .clone()
            .unwrap_or_else(|| self.status.clone());
        if self.status == "leaked" {
            s.push_str(" (leaked)");
        }
        if self.scan {
            s.push_str(" (scan)");
        }
        if self.wait_minutes >= 1 {
            s.push_str(&format!(", {} minutes", self.wait_minutes));
        }
        if self.locked_to_thread {
            s.push_str(", locked to thread");
        }
        if let LabelHeader::Inside(l) = &self.label_header {
            s.push_str(l);
        }
        s
    }
}

impl Session {
    fn to_frame(&self, lf: &LogicalFrame) -> Frame {
        Frame {
            function: lf.name.clone(),
            file: lf.file.clone(),
            line: lf.line,
            pc: lf.pc,
            inlined: lf.inlined,
            wrapper: lf.func_id == self.rt.funcids.wrapper,
            offset: lf.pc.saturating_sub(lf.entry),
            raw_name: lf.raw_name.clone(),
            func_id: lf.func_id,
            shown: false,
            json: None,
        }
    }

    /// Whether Go's traceback hides this goroutine (isSystemGoroutine).
    pub fn is_system(&self, g: &G) -> bool {
        let Some(f) = self.rt.pcln.find_func(g.startpc) else {
            return false;
        };
        let ids = &self.rt.funcids;
        if f.func_id == ids.runtime_main
            || Some(f.func_id) == ids.corostart
            || f.func_id == ids.handle_async_event
        {
            return false;
        }
        if f.func_id == ids.runfinq {
            return !self.finalizer_running;
        }
        if Some(f.func_id) == ids.run_cleanups {
            return !g.running_cleanups;
        }
        self.rt.pcln.func_name(&f).starts_with("runtime.")
    }

    /// Picks where to start unwinding, as the runtime's traceback1 does,
    /// plus thread registers for goroutines running at the stop. Returns
    /// the start, where it came from ("sched", "syscall", "registers",
    /// "signal context", "vdso", "stack scan") and the thread id of the M
    /// the goroutine is on, if any (the debugger adapters' unwinders start
    /// a selected goroutine's frames here).
    pub fn start_regs(&self, g: &G) -> (StartRegs, &'static str, Option<u64>) {
        let sched = StartRegs {
            pc: g.sched_pc,
            sp: g.sched_sp,
            trap: false,
        };
        if g.status() == status::SYSCALL && g.syscallsp != 0 {
            return (
                StartRegs {
                    pc: g.syscallpc,
                    sp: g.syscallsp,
                    trap: false,
                },
                "syscall",
                None,
            );
        }
        let Some(m) = self.ms.iter().find(|m| m.addr == g.m && g.m != 0) else {
            return (sched, "sched", None);
        };
        let tid = (m.procid != 0).then_some(m.procid);
        if m.curg == g.addr && m.vdso_sp != 0 {
            return (
                StartRegs {
                    pc: m.vdso_pc,
                    sp: m.vdso_sp,
                    trap: false,
                },
                "vdso",
                tid,
            );
        }
        if g.status() != status::RUNNING || m.curg != g.addr {
            return (sched, "sched", tid);
        }
        let Some(th) = tid.and_then(|t| self.thread_by_tid(t)) else {
            return (sched, "sched", tid);
        };
        let (rip, rsp) = (th.regs.rip, th.regs.rsp);
        if rsp >= g.stack_lo && rsp < g.stack_hi {
            return (
                StartRegs {
                    pc: rip,
                    sp: rsp,
                    trap: true,
                },
                "registers",
                tid,
            );
        }
        if let Some(regs) = self.signal_context(m.gsignal, rsp, g) {
            return (regs, "signal context", tid);
        }
        // On g0 (systemstack/mcall): the switch saved g.sched.
        if g.sched_sp >= g.stack_lo && g.sched_sp < g.stack_hi {
            return (sched, "sched", tid);
        }
        // The thread runs non-Go code on g0 without saving g.sched (the
        // race runtime's racecall): find the innermost return address from
        // which the stack unwinds cleanly to its top frame.
        match self.scan_stack(g) {
            Some(regs) => (regs, "stack scan", tid),
            None => (sched, "sched", tid),
        }
    }

    /// Scans a goroutine's stack from its low end for a return address
    /// whose unwind reaches the goroutine's top frame (goexit) cleanly and
    /// whose every return address follows a call to its callee. Stacks are
    /// reused without clearing, so the words below the live frames can hold
    /// an old goroutine's chain that unwinds into the live one; the call
    /// sites reject it where it joins.
    fn scan_stack(&self, g: &G) -> Option<StartRegs> {
        let len = (g.stack_hi.checked_sub(g.stack_lo)?).min(unwind::MAX_STACK_IMAGE) as usize;
        let start = g.stack_hi - len as u64;
        let mut buf = vec![0u8; len];
        let n = self.target.read_partial(start, &mut buf).ok()?;
        for (i, w) in buf[..n].chunks_exact(8).enumerate() {
            let pc = u64::from_le_bytes(w.try_into().ok()?);
            let Some(f) = self.rt.pcln.find_func(pc) else {
                continue;
            };
            if pc == f.entry {
                continue;
            }
            let regs = StartRegs {
                pc,
                sp: start + i as u64 * 8 + 8,
                trap: false,
            };
            let u = unwind::unwind(
                &self.rt,
                self.target.as_ref(),
                regs,
                g.stack_lo,
                g.stack_hi,
                4096,
            );
            let top_ok = u
                .frames
                .last()
                .is_some_and(|f| f.func.func_id == self.rt.funcids.goexit);
            if u.stop == Stop::Complete && top_ok && self.calls_chain(&u.frames) {
                return Some(regs);
            }
        }
        None
    }

    /// Whether each frame's return address follows a call instruction and,
    /// for direct calls, one to the callee. A call to another function is
    /// accepted when the callee is assembly (reached by a tail jump, as
    /// racewrite jumps to racecall) or the target is a compiler wrapper
    /// (which may tail-call the method it wraps).
    fn calls_chain(&self, frames: &[unwind::PhysFrame]) -> bool {
        use crate::binary::pclntab::FUNC_FLAG_ASM;
        use unwind::callsite::{call_before, CallSite};
        let site = |ret: u64| {
            let mut b = [0u8; 8];
            self.target
                .read_exact(ret.wrapping_sub(8), &mut b)
                .map(|_| call_before(ret, &b))
                .unwrap_or(CallSite::NotACall)
        };
        if frames
            .first()
            .is_some_and(|f| site(f.pc) == CallSite::NotACall)
        {
            return false;
        }
        frames.windows(2).all(|w| {
            let (callee, caller) = (&w[0], &w[1]);
            // goexit's "return address" is planted by newproc, not a call.
            if caller.trap || caller.func.func_id == self.rt.funcids.goexit {
                return true;
            }
            match site(caller.pc) {
                CallSite::NotACall => false,
                CallSite::Indirect => true,
                CallSite::Direct(target) => {
                    target == callee.func.entry
                        || callee.func.flag & FUNC_FLAG_ASM != 0
                        || self
                            .rt
                            .pcln
                            .find_func(target)
                            .is_some_and(|t| t.func_id == self.rt.funcids.wrapper)
                }
            }
        })
    }

    /// A thread interrupted by a signal runs the handler on gsignal; the
    /// kernel's rt_sigframe there starts with the return address
    /// runtime.sigreturn__sigaction, followed by the ucontext holding the
    /// interrupted registers.
    fn signal_context(&self, gsignal: u64, rsp: u64, g: &G) -> Option<StartRegs> {
        if gsignal == 0 {
            return None;
        }
        let gs = self.rt.read_g(self.target.as_ref(), gsignal).ok()?;
        if !(rsp >= gs.stack_lo && rsp < gs.stack_hi) {
            return None;
        }
        // The kernel's rt_sigframe holds a ucontext whose uc_stack is the
        // sigaltstack Go installed: the gsignal stack itself. That
        // signature finds it whichever restorer (Go's or libc's) is used.
        let len = (gs.stack_hi - rsp) as usize;
        let mut buf = vec![0u8; len.min(64 * 1024)];
        let n = self.target.read_partial(rsp, &mut buf).ok()?;
        let words: Vec<u64> = buf[..n]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let size = gs.stack_hi - gs.stack_lo;
        for i in 2..words.len().saturating_sub(3) {
            // ucontext: uc_flags, uc_link, uc_stack{ss_sp, ss_flags, ss_size}, mcontext.
            if words[i] != gs.stack_lo || words[i + 2] != size {
                continue;
            }
            let ucontext = rsp + (i as u64 - 2) * 8;
            let gregs = ucontext + 40;
            let sp = self.target.read_u64(gregs + 15 * 8).ok()?;
            let pc = self.target.read_u64(gregs + 16 * 8).ok()?;
            if sp >= g.stack_lo && sp < g.stack_hi {
                return Some(StartRegs { pc, sp, trap: true });
            }
        }
        None
    }

    /// Unwinds a goroutine's stack from `start`, within its bounds.
    pub(crate) fn unwind_at(&self, g: &G, start: StartRegs) -> unwind::Unwound {
        unwind::unwind(
            &self.rt,
            self.target.as_ref(),
            start,
            g.stack_lo,
            g.stack_hi,
            DEFAULT_MAX_FRAMES,
        )
    }

    /// The wait reason Go prints for `g` (`chan receive`), when it waits.
    pub fn wait_reason_text(&self, g: &G) -> Option<String> {
        let st = g.status();
        ((st == status::WAITING || st == status::LEAKED) && g.wait_reason != 0)
            .then(|| self.rt.wait_reason(g.wait_reason).to_string())
    }

    /// The goroutine an OS thread runs at the stop (its M's curg), if any.
    pub fn goroutine_on_thread(&self, tid: u64) -> Option<&G> {
        let m = self.ms.iter().find(|m| m.procid == tid && m.curg != 0)?;
        self.all_gs()
            .iter()
            .flatten()
            .find(|g| g.addr == m.curg && !g.is_dead())
    }

    /// Decodes one goroutine fully: status, frames, creator.
    pub fn goroutine(&self, g: &G, now: Option<i64>) -> Goroutine {
        let st = g.status();
        let status_word = self.rt.status_string(st).to_string();
        let wait_reason = self.wait_reason_text(g);
        let wait_minutes = match now {
            Some(now) if (st == status::WAITING || st == status::SYSCALL) && g.waitsince != 0 => {
                ((now - g.waitsince) / 60_000_000_000).max(0)
            }
            _ => 0,
        };
        let (start, source, tid) = self.start_regs(g);
        let unwound = self.unwind_at(g, start);
        let mut frames = Vec::new();
        for pf in &unwound.frames {
            let key = (pf.pc, pf.trap);
            let cached = self
                .frame_cache
                .lock()
                .ok()
                .and_then(|c| c.get(&key).cloned());
            let rendered = match cached {
                Some(v) => v,
                None => {
                    let v: Arc<[Frame]> = unwind::logical_frames(&self.rt, &self.sym, pf)
                        .iter()
                        .map(|lf| {
                            let mut f = self.to_frame(lf);
                            f.json = serde_json::value::to_raw_value(&f).ok().map(Arc::new);
                            f
                        })
                        .collect();
                    if let Ok(mut c) = self.frame_cache.lock() {
                        c.insert(key, v.clone());
                    }
                    v
                }
            };
            frames.extend(rendered.iter().cloned());
        }
        crate::traceback::mark_shown(&self.rt, &mut frames);
        let unwind_error = match &unwound.stop {
            Stop::Complete => None,
            Stop::UnknownPc(pc) => Some(format!("unknown pc {pc:#x}")),
            Stop::Unreadable(a) => Some(format!("stack unreadable at {a:#x}")),
            Stop::Corrupt(s) => Some(s.clone()),
            Stop::TooDeep => Some(format!("more than {DEFAULT_MAX_FRAMES} frames")),
        };
        let m = self.ms.iter().find(|m| m.addr == g.m && g.m != 0);
        let labels = self
            .rt
            .read_labels(self.target.as_ref(), g.labels)
            .unwrap_or_default();
        Goroutine {
            id: g.goid,
            status: status_word,
            wait_reason,
            wait_minutes,
            frames,
            created_by: self.created_by(g),
            system: self.is_system(g),
            locked_to_thread: g.lockedm != 0,
            scan: g.scanning(),
            m_id: m.map(|m| m.id),
            thread_id: tid,
            stack_lo: g.stack_lo,
            stack_hi: g.stack_hi,
            addr: g.addr,
            stack_source: source.to_string(),
            sp: unwound.frames.first().map(|f| f.sp).unwrap_or(start.sp),
            unwind_error,
            panic: self
                .rt
                .panic_message(self.target.as_ref(), g.panic)
                .unwrap_or_else(|e| Some(format!("(unreadable: {e})"))),
            label_header: label_header(
                &labels,
                self.rt.traceback_labels,
                self.rt.version.at_least(27),
            ),
            labels,
        }
    }

    fn created_by(&self, g: &G) -> Option<CreatedBy> {
        let pcln = &self.rt.pcln;
        let f = pcln.find_func(g.gopc)?;
        let name = pcln.func_name(&f);
        let trace_pc = if g.gopc > f.entry { g.gopc - 1 } else { g.gopc };
        let (file, line) = pcln.file_line(&f, trace_pc);
        let shown =
            g.goid != 1 && crate::traceback::shows_frame(&self.rt, name, f.func_id, false, 0);
        Some(CreatedBy {
            function: print_name(name, self.rt.version.at_least(27)),
            file,
            line,
            goroutine: g.parent_goid,
            pc: g.gopc,
            offset: g.gopc - f.entry,
            shown,
        })
    }

    /// The target's clocks at the stop, computed once: read from the host
    /// (the same kernel) for a live process; estimated for a core, which
    /// records no clock: the latest runtime timestamp it holds (so times
    /// to come are over-, never under-estimated) and the core file's
    /// modification time.
    pub fn stop_clock(&self) -> Option<StopClock> {
        *self.clock.get_or_init(|| {
            if self.target.as_core().is_none() {
                let read = |clock| {
                    let mut ts = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    };
                    // SAFETY: clock_gettime writes into the timespec we own.
                    (unsafe { libc::clock_gettime(clock, &mut ts) } == 0)
                        .then(|| ts.tv_sec * 1_000_000_000 + ts.tv_nsec)
                };
                return Some(StopClock {
                    mono: read(libc::CLOCK_MONOTONIC)?,
                    wall: read(libc::CLOCK_REALTIME),
                    exact: true,
                });
            }
            let gs: Vec<G> = self.all_gs().iter().flatten().cloned().collect();
            let wall = self
                .target
                .as_core()
                .and_then(|c| std::fs::metadata(c.path()).ok()?.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i64);
            Some(StopClock {
                mono: self.now_nanotime(&gs)?,
                wall,
                exact: false,
            })
        })
    }

    /// Best estimate of the target's `nanotime()` at the stop.
    pub fn now_nanotime(&self, gs: &[G]) -> Option<i64> {
        if self.target.as_core().is_none() {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes into the timespec we own.
            if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } == 0 {
                return Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
            }
        }
        // A core records no clock: take the latest runtime timestamp we can
        // see, which under-reports wait times rather than inventing them.
        let mut best = gs.iter().map(|g| g.waitsince).max().unwrap_or(0);
        if let (Ok(sched), Ok(loc)) = (
            self.rt.symbol("runtime.sched"),
            self.rt.layouts.field("runtime.schedt", "lastpoll"),
        ) {
            if let Ok(v) = self.target.read_u64(sched + loc.offset) {
                best = best.max(v as i64);
            }
        }
        (best > 0).then_some(best)
    }

    /// Every goroutine (dead ones skipped), decoded. `include_system`
    /// keeps the runtime's own goroutines. Errors per goroutine are
    /// returned as warnings.
    pub fn goroutines(
        &self,
        include_system: bool,
    ) -> crate::error::Result<(Vec<Goroutine>, Vec<String>)> {
        let mut warnings = Vec::new();
        let mut gs = Vec::new();
        for r in self.all_gs() {
            match r {
                Ok(g) if !g.is_dead() => gs.push(g.clone()),
                Ok(_) => {}
                Err((addr, e)) => warnings.push(format!("goroutine at {addr:#x}: {e}")),
            }
        }
        let now = self.now_nanotime(&gs);
        let mut out = Vec::with_capacity(gs.len());
        for (i, g) in gs.iter().enumerate() {
            if i % 4096 == 4095 {
                // Keep peak memory flat on huge cores: drop mapped pages
                // we are done with (they stay in the page cache).
                self.target.release_pages();
            }
            let gr = self.goroutine(g, now);
            if gr.system && !include_system {
                continue;
            }
            if let Some(err) = &gr.unwind_error {
                warnings.push(format!("goroutine {}: {err}", gr.id));
            }
            out.push(gr);
        }
        Ok((out, warnings))
    }
}
