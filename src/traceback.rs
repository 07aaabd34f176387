//! Go's traceback rules and text format (runtime/traceback.go): which
//! frames a traceback shows, the 50+50 elision, and the exact lines, so
//! tools that parse Go tracebacks can read ours.

use std::io::{self, Write};

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

/// Marks the frames Go's level-1 traceback prints (`Frame::shown`),
/// including its fallback to all frames when none would show.
pub fn mark_shown(rt: &GoRuntime, frames: &mut [Frame]) {
    let mut callee = 0u8; // FuncIDNormal
    let mut any = false;
    for f in frames.iter_mut() {
        f.shown = shows_frame(rt, &f.raw_name, f.func_id, !any, callee);
        any |= f.shown;
        callee = f.func_id;
    }
    if !any {
        frames.iter_mut().for_each(|f| f.shown = true);
    }
}

/// The frames Go's traceback prints for `g` at level 1 (or all frames with
/// `runtime_frames`), before elision.
pub fn visible_frames(g: &Goroutine, runtime_frames: bool) -> Vec<&Frame> {
    g.frames
        .iter()
        .filter(|f| runtime_frames || f.shown)
        .collect()
}

fn write_frame(out: &mut dyn Write, f: &Frame) -> io::Result<()> {
    let name = if &*f.raw_name == "runtime.gopanic" {
        "panic"
    } else {
        &f.function
    };
    writeln!(out, "{name}(...)")?;
    write!(out, "\t{}:{}", f.file, f.line)?;
    if !f.inlined && f.offset > 0 {
        write!(out, " +{:#x}", f.offset)?;
    }
    writeln!(out)
}

/// One goroutine in Go's traceback format, as a string.
pub fn format_goroutine(g: &Goroutine, runtime_frames: bool) -> String {
    let mut buf = Vec::new();
    let _ = write_goroutine(&mut buf, g, runtime_frames);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Writes one goroutine in Go's traceback format, ending with a newline.
pub fn write_goroutine(out: &mut dyn Write, g: &Goroutine, runtime_frames: bool) -> io::Result<()> {
    let after = match &g.label_header {
        crate::report::LabelHeader::After(l) => l.as_str(),
        _ => "",
    };
    writeln!(out, "goroutine {} [{}]{after}:", g.id, g.header_status())?;
    let frames = visible_frames(g, runtime_frames);
    if frames.len() > INNER_FRAMES + OUTER_FRAMES {
        for f in &frames[..INNER_FRAMES] {
            write_frame(out, f)?;
        }
        let elided = frames.len() - INNER_FRAMES - OUTER_FRAMES;
        writeln!(out, "...{elided} frames elided...")?;
        for f in &frames[frames.len() - OUTER_FRAMES..] {
            write_frame(out, f)?;
        }
    } else {
        for f in frames {
            write_frame(out, f)?;
        }
    }
    if let Some(err) = &g.unwind_error {
        writeln!(out, "goroscope: stack incomplete: {err}")?;
    }
    if let Some(c) = g
        .created_by
        .as_ref()
        .filter(|c| c.shown || runtime_frames && g.id != 1)
    {
        write!(out, "created by {}", c.function)?;
        if c.goroutine != 0 {
            write!(out, " in goroutine {}", c.goroutine)?;
        }
        writeln!(out)?;
        write!(out, "\t{}:{}", c.file, c.line)?;
        if c.offset > 0 {
            write!(out, " +{:#x}", c.offset)?;
        }
        writeln!(out)?;
    }
    Ok(())
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
