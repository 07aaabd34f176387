//! Text rendering of command outputs: the one place that formats for
//! humans (the CLI, the shell and the debugger adapters all print this).

use crate::analysis::deadlocks::DeadlockReport;
use crate::analysis::waits::WaitingOn;
use crate::command::{groups, BlockingReport, ChainReport, Info, StacksReport};
use crate::goruntime::funcname::is_user_function;
use crate::report::Goroutine;
use crate::traceback;

/// `goroutines`: one line per goroutine by id, or the groups of identical
/// stacks.
pub(crate) fn write_goroutines(
    w: &mut dyn std::io::Write,
    goroutines: &[Goroutine],
    group: bool,
    waits: Option<&std::collections::HashMap<u64, WaitingOn>>,
) -> std::io::Result<()> {
    if group {
        return w.write_all(group_text(goroutines).as_bytes());
    }
    let mut sorted: Vec<&Goroutine> = goroutines.iter().collect();
    sorted.sort_by_key(|g| g.id);
    for g in sorted {
        writeln!(w, "{}", goroutine_line(g))?;
        if let Some(wo) = waits.and_then(|m| m.get(&g.id)) {
            writeln!(w, "         waits on {}", wait_text(wo))?;
        }
    }
    if goroutines.is_empty() {
        writeln!(w, "no goroutines")?;
    }
    Ok(())
}

pub(crate) fn deadlocks_text(r: &DeadlockReport) -> String {
    let mut out = String::new();
    if r.global_deadlock {
        out.push_str("GLOBAL DEADLOCK: no goroutine can run\n");
    }
    for c in &r.cycles {
        let ids: Vec<String> = c.iter().map(|i| i.to_string()).collect();
        out.push_str(&format!(
            "DEADLOCK: goroutines {} wait for each other\n",
            ids.join(", ")
        ));
        for v in r.goroutines.iter().filter(|v| c.contains(&v.id)) {
            if let Some(w) = &v.waiting_on {
                out.push_str(&format!(
                    "  goroutine {} waits on {} {}{}",
                    v.id,
                    w.kind,
                    w.name,
                    scope_note(w.scope.as_deref())
                ));
                for h in &v.holders {
                    out.push_str(&format!(", held by goroutine {} ({})", h.id, h.evidence));
                }
                out.push('\n');
            }
        }
    }
    if !r.leaked.is_empty() {
        let ids: Vec<String> = r.leaked.iter().map(|i| i.to_string()).collect();
        out.push_str(&format!(
            "LEAKED: {} goroutine(s) can never be woken: {}\n",
            r.leaked.len(),
            ids.join(" ")
        ));
        for v in r.goroutines.iter().filter(|v| r.leaked.contains(&v.id)) {
            if let Some(w) = &v.waiting_on {
                out.push_str(&format!(
                    "  goroutine {} waits on {} {}{}\n",
                    v.id,
                    w.kind,
                    w.name,
                    scope_note(w.scope.as_deref())
                ));
            }
            // The first step restates the wait.
            for step in v.evidence.iter().skip(1) {
                out.push_str(&format!("      {step}\n"));
            }
        }
    }
    if let Some(e) = &r.leak_check_error {
        let unknown = r
            .goroutines
            .iter()
            .filter(|v| v.verdict == "unknown")
            .count();
        out.push_str(&format!(
            "UNDECIDED: {unknown} blocked goroutine(s) may or may not be leaked: {e}\n"
        ));
    } else if r.cycles.is_empty() && r.leaked.is_empty() && !r.global_deadlock {
        let blocked = r
            .goroutines
            .iter()
            .filter(|v| v.verdict == "blocked")
            .count();
        out.push_str(&format!(
            "no deadlock or leak found ({} goroutines: {} blocked but wakeable, {} live)\n",
            r.goroutines.len(),
            blocked,
            r.goroutines.len() - blocked
        ));
    }
    out
}

pub(crate) fn chain_text(r: &ChainReport) -> String {
    let mut out = String::new();
    for (i, l) in r.chain.iter().enumerate() {
        let indent = "  ".repeat(i);
        out.push_str(&format!("{indent}goroutine {} [{}]", l.id, l.state));
        match &l.waiting_on {
            Some(w) => out.push_str(&format!(
                " waits on {} {}{}{}\n",
                w.kind,
                w.name,
                scope_note(w.scope.as_deref()),
                waitgroup_note(w.waitgroup.as_ref())
            )),
            None => out.push_str(" (not blocked)\n"),
        }
        for h in &l.holders {
            out.push_str(&format!(
                "{indent}  held/unblockable by goroutine {} ({}): {}\n",
                h.id, h.confidence, h.evidence
            ));
        }
        if l.waiting_on.is_some() && l.holders.is_empty() {
            out.push_str(&format!(
                "{indent}  no goroutine found that could unblock it\n"
            ));
        }
    }
    if r.cycle {
        let mut ids: Vec<String> = r.cycle_ids.iter().map(|l| l.to_string()).collect();
        if let Some(first) = ids.first().cloned() {
            ids.push(first);
        }
        out.push_str(&format!("DEADLOCK: wait-for cycle {}\n", ids.join(" -> ")));
    }
    out
}

pub(crate) fn blocking_text(r: &BlockingReport) -> String {
    let mut out = String::new();
    for o in &r.objects {
        let ids: Vec<String> = o.waiters.iter().map(|i| i.to_string()).collect();
        let hex = format!("{:#x}", o.addr);
        let addr = if o.addr != 0 && !o.name.contains(&hex) {
            format!(" {hex}")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "[{}] {}{addr}: {} waiting: {}",
            o.kind,
            o.name,
            o.waiters.len(),
            ids.join(" ")
        ));
        out.push_str(&scope_note(o.scope.as_deref()));
        out.push_str(&waitgroup_note(o.waitgroup.as_ref()));
        if let Some(t) = &o.timer {
            out.push_str(&format!("  {} {}", t.label(), t.text()));
        }
        if let (Some(c), true) = (&o.chan, o.cases.is_empty()) {
            out.push_str(&chan_note(c, &o.receivers, &o.senders));
        }
        out.push('\n');
        for c in &o.cases {
            let hex = format!("{:#x}", c.case.addr);
            let addr = if c.case.name.contains(&hex) {
                String::new()
            } else {
                format!(" {hex}")
            };
            out.push_str(&format!("    {} {}{addr}", c.case.dir, c.case.name));
            out.push_str(&chan_note(&c.case.state, &c.receivers, &c.senders));
            if let Some(t) = &c.case.timer {
                out.push_str(&format!("  {} {}", t.label(), t.text()));
            }
            out.push('\n');
        }
    }
    let running: Vec<String> = r
        .goroutines
        .iter()
        .filter(|g| g.waiting_on.is_none())
        .map(|g| format!("{} [{}]", g.id, g.state))
        .collect();
    if !running.is_empty() {
        out.push_str(&format!("not blocked: {}\n", running.join(", ")));
    }
    out
}

fn chan_note(c: &crate::analysis::waits::ChanState, receivers: &[u64], senders: &[u64]) -> String {
    format!(
        "  (len {}/{}{}, receivers {receivers:?}, senders {senders:?})",
        c.len,
        c.cap,
        if c.closed { ", closed" } else { "" },
    )
}

pub(crate) fn stacks_text(r: &StacksReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "stack limit {} bytes ({})\n",
        r.limit, r.limit_source
    ));
    if let Some(o) = &r.overflow {
        out.push_str(&format!(
            "\nSTACK OVERFLOW: goroutine {} exceeded the {}-byte limit",
            o.goroutine, o.limit
        ));
        if !o.cycle.is_empty() {
            out.push_str(&format!(
                " recursing through {} ({} times)",
                o.cycle.join(" -> "),
                o.repeats
            ));
        }
        if let Some(e) = &o.entry {
            out.push_str(&format!(
                ", entered from {} at {}:{}",
                e.function, e.file, e.line
            ));
        }
        out.push('\n');
    }
    out.push_str("\ndeepest goroutines:\n");
    out.push_str(&format!(
        "{:>9} {:>7} {:>12} {:>12}  recursion\n",
        "goroutine", "frames", "used", "allocated"
    ));
    for id in &r.deepest {
        let Some(u) = r.goroutines.iter().find(|u| u.id == *id) else {
            continue;
        };
        let rec = u
            .recursion
            .as_ref()
            .map(|x| format!("{} x{}", x.cycle.join(" -> "), x.repeats))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:>9} {:>7} {:>12} {:>12}  {rec}\n",
            u.id, u.depth, u.used, u.allocated
        ));
    }
    let total_alloc: u64 = r.goroutines.iter().map(|u| u.allocated).sum();
    let total_used: u64 = r.goroutines.iter().map(|u| u.used).sum();
    out.push_str(&format!(
        "\n{} goroutines: {} bytes of stack in use, {} allocated\n",
        r.goroutines.len(),
        total_used,
        total_alloc
    ));
    out
}

/// A goroutine's "top user frame": the innermost frame of the program's own code (not the standard
/// library), else the innermost frame Go would show.
fn top_frame(g: &Goroutine) -> String {
    let shown = traceback::visible_frames(g, false);
    shown
        .iter()
        .find(|f| is_user_function(&f.function))
        .or(shown.first())
        .map(|f| format!("{} {}:{}", f.function, short_file(&f.file), f.line))
        .unwrap_or_else(|| "?".into())
}

fn short_file(f: &str) -> &str {
    // Keep the package directory for context: ".../cms/store.go" → "cms/store.go".
    let mut it = f.rmatch_indices('/');
    match (it.next(), it.next()) {
        (Some(_), Some((i, _))) => &f[i + 1..],
        _ => f,
    }
}

pub(crate) fn goroutine_line(g: &Goroutine) -> String {
    let created = g
        .created_by
        .as_ref()
        .filter(|c| c.shown)
        .map(|c| {
            if c.goroutine != 0 {
                format!("  created by {} in goroutine {}", c.function, c.goroutine)
            } else {
                format!("  created by {}", c.function)
            }
        })
        .unwrap_or_default();
    let labels = if g.labels.is_empty() {
        String::new()
    } else {
        let kv: Vec<String> = g.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("  {{{}}}", kv.join(" "))
    };
    format!(
        "{:>7}  [{}]{labels}  {}{}",
        g.id,
        g.header_status(),
        top_frame(g),
        created
    )
}

pub(crate) fn info_text(i: &Info) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<20}{v}\n"));
    line("Go version", i.go_version.clone());
    line("main package", i.path.clone());
    line("module", i.module.clone());
    line("GOOS/GOARCH", format!("{}/{}", i.goos, i.goarch));
    line("executable", i.executable.clone());
    line("target", i.target.clone());
    line("pid", i.pid.to_string());
    line(
        "goroutines",
        format!(
            "{} ({} user, {} system)",
            i.goroutines, i.user_goroutines, i.system_goroutines
        ),
    );
    line("threads", format!("{} OS threads, {} Ms", i.threads, i.ms));
    let unknown = |v: Option<u64>, global: &str| {
        v.map(|v| v.to_string()).unwrap_or_else(|| {
            let missing = i
                .runtime_globals
                .iter()
                .any(|g| g.name == global && g.address.is_none());
            if missing {
                format!("? ({global} not found)")
            } else {
                "?".into()
            }
        })
    };
    line(
        "Ps / GOMAXPROCS",
        format!(
            "{} / {}",
            unknown(i.ps, "runtime.allp"),
            unknown(i.gomaxprocs, "runtime.gomaxprocs")
        ),
    );
    line("layouts from", i.layouts.clone());
    if i.stripped {
        line(
            "symbols",
            "stripped (-s): runtime globals found by their shape and the code that uses them"
                .into(),
        );
        for g in i.runtime_globals.iter().filter(|g| g.address.is_none()) {
            line(
                "  missing",
                g.error.clone().unwrap_or_else(|| g.name.clone()),
            );
        }
    }
    if let Some(sig) = &i.signal {
        line("signal", sig.clone());
        if let Some(t) = i.crashing_thread {
            line("crashing thread", t.to_string());
        }
        line(
            "crashing goroutine",
            i.crashing_goroutine
                .map(|g| g.to_string())
                .unwrap_or_else(|| "none (on a system stack)".into()),
        );
        if let Some(p) = &i.panic {
            line("panic", p.clone());
        }
    }
    out
}

pub(crate) fn group_text(gs: &[Goroutine]) -> String {
    let mut out = String::new();
    for grp in groups(gs) {
        let ids: Vec<String> = grp.ids.iter().take(10).map(|i| i.to_string()).collect();
        let more = if grp.ids.len() > 10 {
            format!(" (+{} more)", grp.ids.len() - 10)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{} goroutine(s) [{}]: {}{}\n",
            grp.count,
            grp.state,
            ids.join(" "),
            more
        ));
        // Render the group's first member the way Go's traceback would.
        if let Some(first) = gs.iter().find(|g| g.id == grp.ids[0]) {
            for f in traceback::visible_frames(first, false) {
                out.push_str(&format!(
                    "    {}\n        {}:{}\n",
                    f.function, f.file, f.line
                ));
            }
            if let Some(c) = first.created_by.as_ref().filter(|c| c.shown) {
                out.push_str(&format!(
                    "    created by {}\n        {}:{}\n",
                    c.function, c.file, c.line
                ));
            }
        }
        out.push('\n');
    }
    out
}

/// " (in main.(*store).lookup)" when a local names the object.
/// What a goroutine waits on, on one line: the kind and named object,
/// where its name comes from, and what will end the wait (a timer, an fd).
pub(crate) fn wait_text(w: &WaitingOn) -> String {
    let mut out = w.kind.clone();
    if !w.name.is_empty() {
        out.push(' ');
        out.push_str(&w.name);
    }
    out.push_str(&scope_note(w.scope.as_deref()));
    out.push_str(&waitgroup_note(w.waitgroup.as_ref()));
    if let (Some(t), false) = (&w.timer, w.kind == "sleep") {
        out.push_str(&format!(", {} {}", t.label(), t.text()));
    }
    if let Some(s) = &w.socket {
        if let Some(d) = &s.deadline {
            out.push_str(&format!(", deadline {}", d.text()));
        } else if s.deadline_expired {
            out.push_str(", deadline expired");
        }
    }
    if let Some(c) = &w.chan {
        if w.channels.is_empty() {
            out.push_str(&format!(
                " (len {}/{}{})",
                c.len,
                c.cap,
                if c.closed { ", closed" } else { "" }
            ));
        }
    }
    out
}

fn scope_note(scope: Option<&str>) -> String {
    scope.map(|s| format!(" (in {s})")).unwrap_or_default()
}

/// " (2 Done calls outstanding, 1 waiter)" for a WaitGroup.
fn waitgroup_note(wg: Option<&crate::analysis::waits::WaitGroupState>) -> String {
    match wg {
        Some(w) => format!(
            " ({} Done call{} outstanding, {} waiter{})",
            w.counter,
            if w.counter == 1 { "" } else { "s" },
            w.waiters,
            if w.waiters == 1 { "" } else { "s" }
        ),
        None => String::new(),
    }
}

/// `locals`: each frame, then `name type = value` per variable.
pub(crate) fn locals_text(r: &crate::values::locals::LocalsReport) -> String {
    let mut out = String::new();
    if r.frames.is_empty() {
        out.push_str(&format!(
            "goroutine {}: no frame of the program's own code (use --frame N)\n",
            r.goroutine
        ));
    }
    for f in &r.frames {
        out.push_str(&format!(
            "goroutine {} frame {}: {} {}:{}\n",
            r.goroutine, f.index, f.function, f.file, f.line
        ));
        if f.vars.is_empty() {
            out.push_str("    (no variables here)\n");
        }
        for v in &f.vars {
            let what = if v.arg { "arg" } else { "local" };
            match &v.unavailable {
                Some(why) => out.push_str(&format!(
                    "    {what} {} {} = <{why}>\n",
                    v.name, v.type_name
                )),
                None => out.push_str(&format!(
                    "    {what} {} {} = {}\n",
                    v.name, v.type_name, v.value
                )),
            }
        }
    }
    out
}
