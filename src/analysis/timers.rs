//! When the runtime's timers fire: the one behind a `time.Timer`,
//! `time.Ticker` or `time.After` channel (go1.23+: the channel's own
//! `hchan.timer`; before, the timer in a P's heap whose argument is the
//! channel), and a sleeping goroutine's `g.timer`. A goroutine waiting on
//! such a channel is woken by the clock, not by another goroutine.

use std::collections::HashMap;

use serde::Serialize;

use crate::report::StopClock;
use crate::session::Session;

/// Bound on timers read per P (a heap of millions is possible, not more).
const MAX_TIMERS_PER_P: u64 = 10_000_000;

/// A runtime timer's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerAt {
    /// `timer.when`, in the runtime's nanotime; 0 when not scheduled.
    pub when: i64,
    /// `timer.period` (tickers), 0 for one-shot timers.
    pub period: i64,
}

/// When a timer fires, as `blocking`, `chain` and `goroutines -v` show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TimerInfo {
    /// `timer.when` in the target's `nanotime()` clock.
    pub when: i64,
    /// Ticker period in nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_ns: Option<i64>,
    /// Nanoseconds from the stop until it fires (negative: overdue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fires_in_ns: Option<i64>,
    /// When it fires, UTC (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fires_at: Option<String>,
    /// The stop's clock was read (live), not estimated (core: from the
    /// latest runtime timestamp and the core file's time).
    pub exact: bool,
    /// For a context's Done channel: the context whose deadline timer
    /// this is (`main.tokenCtx`, or its type and address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A `context.WithDeadline`/`WithTimeout` context whose timer is pending:
/// the context (a `context.timerCtx`) and its timer's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextDeadline {
    pub ctx: u64,
    pub at: TimerAt,
}

/// Words of a deadline closure searched for its captured context (the
/// closure captures the context and the cancel cause).
const CLOSURE_WORDS: u64 = 4;

impl TimerInfo {
    pub fn new(t: TimerAt, clock: Option<StopClock>) -> TimerInfo {
        let fires_in = clock.map(|c| t.when - c.mono);
        TimerInfo {
            when: t.when,
            period_ns: (t.period > 0).then_some(t.period),
            fires_in_ns: fires_in,
            fires_at: clock
                .and_then(|c| Some(c.wall? + (t.when - c.mono)))
                .map(crate::timefmt::utc_rfc3339),
            exact: clock.is_some_and(|c| c.exact),
            context: None,
        }
    }

    /// What the timer is, before its `text`: "timer", or "deadline of
    /// main.tokenCtx" for a context's.
    pub fn label(&self) -> String {
        match &self.context {
            Some(c) => format!("deadline of {c}"),
            None => "timer".into(),
        }
    }

    /// "fires in 59m54s (2026-12-05T08:59:40Z), every 1h0m0s".
    pub fn text(&self) -> String {
        // From a core the stop's time is a lower bound (the latest runtime
        // timestamp), so the wait left is an upper bound.
        let mut out = match (self.fires_in_ns, self.exact) {
            (Some(d), _) if d < 0 => format!("fired {} ago", duration_text(-d)),
            (Some(d), true) => format!("fires in {}", duration_text(d)),
            (Some(d), false) => format!("fires within {}", duration_text(d)),
            (None, _) => format!(
                "fires at nanotime {} (the core holds no clock to compare)",
                self.when
            ),
        };
        if let Some(at) = &self.fires_at {
            let approx = if self.exact { "" } else { "≈" };
            out.push_str(&format!(" ({approx}{at})"));
        }
        if let Some(p) = self.period_ns {
            out.push_str(&format!(", every {}", duration_text(p)));
        }
        out
    }
}

/// A Go-style duration ("59m58s", "1.5s").
pub fn duration_text(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let s = ns.unsigned_abs() / 1_000_000_000;
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{sign}{m}m{sec}s")
    } else {
        format!("{sign}{:.1}s", ns.unsigned_abs() as f64 / 1e9)
    }
}

impl Session {
    fn timer_at(&self, t: u64) -> Option<TimerAt> {
        let l = &self.rt.layouts;
        let when = self
            .target
            .read_u64(t + l.try_field("runtime.timer", "when")?.offset)
            .ok()?;
        let period = l
            .try_field("runtime.timer", "period")
            .and_then(|f| self.target.read_u64(t + f.offset).ok())
            .unwrap_or(0);
        Some(TimerAt {
            when: when as i64,
            period: period as i64,
        })
    }

    /// The timer that sends on channel `c`, if `c` is a timer's channel.
    pub fn chan_timer(&self, c: u64) -> Option<TimerInfo> {
        // go1.23+: a synchronous timer channel carries its timer. An
        // asynchronous one (GODEBUG asynctimerchan=1, the default for
        // modules older than go1.23) and every timer channel before go1.23
        // are found as the argument of a timer in a P's heap.
        let own = self
            .rt
            .layouts
            .try_field("runtime.hchan", "timer")
            .and_then(|f| self.target.read_u64(c + f.offset).ok())
            .filter(|&t| t != 0)
            .and_then(|t| self.timer_at(t));
        let t = match own.or_else(|| self.timers_by_arg().get(&c).copied()) {
            Some(t) => t,
            None => {
                // A context's Done channel, closed by its deadline timer.
                let d = self.context_deadline_of(c)?;
                let mut info = TimerInfo::new(d.at, self.stop_clock());
                info.context = Some(self.name_object(d.ctx, "context.timerCtx"));
                return (d.at.when > 0).then_some(info);
            }
        };
        (t.when > 0).then(|| TimerInfo::new(t, self.stop_clock()))
    }

    /// The deadline context whose Done channel is `done`, if any.
    pub fn context_deadline_of(&self, done: u64) -> Option<ContextDeadline> {
        self.context_deadlines
            .get_or_init(|| self.read_context_deadlines().unwrap_or_default())
            .get(&done)
            .copied()
    }

    /// Every pending context deadline by its Done channel. A deadline's
    /// timer is a `time.AfterFunc` whose function, a closure of
    /// `context.WithDeadlineCause`, captures the `*timerCtx`; its
    /// `cancelCtx.done` (an atomic.Value) holds the channel once Done was
    /// called. A candidate counts only when that value's type is
    /// `chan struct {}`.
    fn read_context_deadlines(&self) -> Option<HashMap<u64, ContextDeadline>> {
        let done = self
            .rt
            .layouts
            .try_field("context.cancelCtx", "done")?
            .offset;
        let mem = self.target.as_ref();
        let mut out = HashMap::new();
        for (&closure, &at) in self.timers_by_arg() {
            let Some(f) = mem
                .read_u64(closure)
                .ok()
                .and_then(|pc| self.rt.pcln.find_func(pc))
            else {
                continue;
            };
            if !self
                .rt
                .pcln
                .func_name(&f)
                .starts_with("context.WithDeadline")
            {
                continue;
            }
            for k in 1..=CLOSURE_WORDS {
                let Ok(ctx) = mem.read_u64(closure + 8 * k) else {
                    break;
                };
                let (Ok(typ), Ok(ch)) = (mem.read_u64(ctx + done), mem.read_u64(ctx + done + 8))
                else {
                    continue;
                };
                let is_done_chan = typ != 0
                    && ch != 0
                    && crate::goruntime::typedesc::type_name(mem, self.rt.types_base, typ)
                        .is_ok_and(|n| n == "chan struct {}");
                if is_done_chan {
                    out.insert(ch, ContextDeadline { ctx, at });
                    break;
                }
            }
        }
        Some(out)
    }

    /// The timer at `t` (a sleeping goroutine's `g.timer`).
    pub fn timer_info(&self, t: u64) -> Option<TimerInfo> {
        let at = self.timer_at(t)?;
        (at.when > 0).then(|| TimerInfo::new(at, self.stop_clock()))
    }

    /// Every P's timers by the data word of their `arg` (the channel of a
    /// `time.Timer` before go1.23), read once per stop.
    pub fn timers_by_arg(&self) -> &HashMap<u64, TimerAt> {
        self.timers
            .get_or_init(|| self.read_timer_heaps().unwrap_or_default())
    }

    fn read_timer_heaps(&self) -> Option<HashMap<u64, TimerAt>> {
        let l = &self.rt.layouts;
        let mem = self.target.as_ref();
        let allp = self.rt.symbol("runtime.allp").ok()?;
        let (ptr, len) = (mem.read_u64(allp).ok()?, mem.read_u64(allp + 8).ok()?);
        let arg = l.try_field("runtime.timer", "arg")?.offset;
        // go1.23+: p.timers.heap []timerWhen{timer *timer; when int64};
        // before: p.timers []*timer.
        let (slice_off, stride) = match l.try_field("runtime.p", "timers.heap") {
            Some(f) => (f.offset, 16),
            None => (l.try_field("runtime.p", "timers")?.offset, 8),
        };
        let mut out = HashMap::new();
        for i in 0..len.min(1 << 16) {
            let Ok(p) = mem.read_u64(ptr + i * 8) else {
                continue;
            };
            let (Ok(h), Ok(n)) = (mem.read_u64(p + slice_off), mem.read_u64(p + slice_off + 8))
            else {
                continue;
            };
            for k in 0..n.min(MAX_TIMERS_PER_P) {
                let Ok(t) = mem.read_u64(h + k * stride) else {
                    break;
                };
                if let (Some(at), Ok(data)) = (self.timer_at(t), mem.read_u64(t + arg + 8)) {
                    out.insert(data, at);
                }
            }
        }
        Some(out)
    }
}
