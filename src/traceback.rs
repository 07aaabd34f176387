//! Go's traceback rules and text format (runtime/traceback.go): which
//! frames a traceback shows, the 50+50 elision, and the exact lines, so
//! tools that parse Go tracebacks can read ours.

use std::fmt::Write;

use crate::goruntime::runtime::GoRuntime;
use crate::report::{Frame, Goroutine};

/// Inner and outer frames kept when eliding (tracebackInnerFrames/OuterFrames).
pub const INNER_FRAMES: usize = 50;
/// See [`INNER_FRAMES`].
pub const OUTER_FRAMES: usize = 50;

/// runtime `isExportedRuntime`; go1.23+ also admits exported methods on
/// exported types.
fn is_exported_runtime(name: &str, go123: bool) -> bool {
    let Some(rest) = name.strip_prefix("runtime.") else {
        return false;
    };
    if !go123 {
        return rest.starts_with(|c: char| c.is_ascii_uppercase());
    }
    let (mut rcvr, mut fname) = ("", rest);
    if let Some(i) = rest.rfind('.') {
        rcvr = &rest[..i];
        fname = &rest[i + 1..];
        if rcvr.len() >= 3 && rcvr.starts_with("(*") && rcvr.ends_with(')') {
            rcvr = &rcvr[2..rcvr.len() - 1];
        }
    }
    fname.starts_with(|c: char| c.is_ascii_uppercase())
        && (rcvr.is_empty() || rcvr.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// runtime `showfuncinfo` at traceback level 1.
pub fn shows_frame(
    rt: &GoRuntime,
    raw_name: &str,
    func_id: u8,
    first_frame: bool,
    callee_id: u8,
) -> bool {
    let ids = &rt.funcids;
    if func_id == ids.wrapper {
        let elide =
            !(callee_id == ids.gopanic || callee_id == ids.sigpanic || callee_id == ids.panicwrap);
        if elide {
            return false;
        }
    }
    if rt.version.at_least(25) && (func_id == ids.runfinq || Some(func_id) == ids.run_cleanups) {
        return true;
    }
    if raw_name == "runtime.gopanic" && !first_frame {
        return true;
    }
    raw_name.contains('.')
        && (!raw_name.starts_with("runtime.")
            || is_exported_runtime(raw_name, rt.version.at_least(23)))
}

/// The frames Go's traceback prints for `g` at level 1 (or all frames with
/// `runtime_frames`), before elision.
pub fn visible_frames<'a>(
    rt: &GoRuntime,
    g: &'a Goroutine,
    runtime_frames: bool,
) -> Vec<&'a Frame> {
    if runtime_frames {
        return g.frames.iter().collect();
    }
    let mut out = Vec::new();
    let mut callee = 0u8; // FuncIDNormal
    for f in &g.frames {
        if shows_frame(rt, &f.raw_name, f.func_id, out.is_empty(), callee) {
            out.push(f);
        }
        callee = f.func_id;
    }
    if out.is_empty() {
        return g.frames.iter().collect();
    }
    out
}

fn write_frame(out: &mut String, f: &Frame) {
    let name = if f.raw_name == "runtime.gopanic" {
        "panic"
    } else {
        &f.function
    };
    let _ = writeln!(out, "{name}(...)");
    let _ = write!(out, "\t{}:{}", f.file, f.line);
    if !f.inlined && f.offset > 0 {
        let _ = write!(out, " +{:#x}", f.offset);
    }
    out.push('\n');
}

/// One goroutine in Go's traceback format, ending with a newline.
pub fn format_goroutine(rt: &GoRuntime, g: &Goroutine, runtime_frames: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "goroutine {} [{}]:", g.id, g.header_status());
    let frames = visible_frames(rt, g, runtime_frames);
    if frames.len() > INNER_FRAMES + OUTER_FRAMES {
        for f in &frames[..INNER_FRAMES] {
            write_frame(&mut out, f);
        }
        let elided = frames.len() - INNER_FRAMES - OUTER_FRAMES;
        let _ = writeln!(out, "...{elided} frames elided...");
        for f in &frames[frames.len() - OUTER_FRAMES..] {
            write_frame(&mut out, f);
        }
    } else {
        for f in frames {
            write_frame(&mut out, f);
        }
    }
    if let Some(err) = &g.unwind_error {
        let _ = writeln!(out, "goroscope: stack incomplete: {err}");
    }
    if let Some(c) = g
        .created_by
        .as_ref()
        .filter(|c| c.shown || runtime_frames && g.id != 1)
    {
        let _ = write!(out, "created by {}", c.function);
        if c.goroutine != 0 {
            let _ = write!(out, " in goroutine {}", c.goroutine);
        }
        out.push('\n');
        let _ = write!(out, "\t{}:{}", c.file, c.line);
        if c.offset > 0 {
            let _ = write!(out, " +{:#x}", c.offset);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_runtime_names() {
        assert!(is_exported_runtime("runtime.Gosched", false));
        assert!(!is_exported_runtime("runtime.gopark", true));
        assert!(!is_exported_runtime("runtime.(*Func).Name", false));
        assert!(is_exported_runtime("runtime.(*Func).Name", true));
        assert!(!is_exported_runtime("runtime.(*mheap).Alloc", true));
        assert!(!is_exported_runtime("main.main", true));
    }
}
