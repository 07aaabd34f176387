//! Stack usage per goroutine, recursion found as a repeating cycle of
//! frames, and the diagnosis of a `goroutine stack exceeds N-byte limit`
//! crash: which goroutine, the limit, the cycle and where it was entered.

use serde::Serialize;

use crate::report::{Frame, Goroutine};

/// Longest recursion period looked for (mutual recursion of up to this
/// many functions).
pub const MAX_PERIOD: usize = 16;
/// A cycle must repeat at least this often to count as recursion.
pub const MIN_REPEATS: usize = 4;

/// A source position.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Position {
    pub function: String,
    pub file: String,
    pub line: i32,
}

impl From<&Frame> for Position {
    fn from(f: &Frame) -> Self {
        Position {
            function: f.function.to_string(),
            file: f.file.to_string(),
            line: f.line,
        }
    }
}

/// A repeating cycle of frames.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Recursion {
    /// The functions of one period, outermost first (call order).
    pub cycle: Vec<String>,
    pub period: usize,
    pub repeats: usize,
    /// The frame that called into the cycle (the recursion's entry).
    pub entry: Option<Position>,
}

/// Finds the longest run of frames that repeats with a period of at most
/// [`MAX_PERIOD`]; linear in the number of frames per period tried.
pub fn find_recursion(frames: &[Frame]) -> Option<Recursion> {
    let names: Vec<&str> = frames.iter().map(|f| &*f.function).collect();
    let mut best: Option<(usize, usize, usize)> = None; // (covered, period, start)
    for p in 1..=MAX_PERIOD.min(names.len() / 2) {
        let mut run = 0usize;
        for i in 0..names.len() - p {
            if names[i] == names[i + p] {
                run += 1;
                let covered = run + p;
                let start = i + 1 - run;
                if covered / p >= MIN_REPEATS && best.is_none_or(|(c, _, _)| covered > c) {
                    best = Some((covered, p, start));
                }
            } else {
                run = 0;
            }
        }
    }
    let (covered, period, start) = best?;
    // frames[start..start+covered] repeat; the outermost period, in call
    // order, is the last `period` frames of the run reversed.
    let end = start + covered;
    let mut cycle: Vec<String> = names[end - period..end]
        .iter()
        .map(|s| s.to_string())
        .collect();
    cycle.reverse();
    Some(Recursion {
        cycle,
        period,
        repeats: covered / period,
        entry: frames.get(end).map(Position::from),
    })
}

/// One goroutine's stack figures.
#[derive(Debug, Clone, Serialize)]
pub struct StackUse {
    pub id: u64,
    /// Bytes between the innermost frame's SP and the stack top.
    pub used: u64,
    /// Bytes allocated (`stack.hi - stack.lo`).
    pub allocated: u64,
    /// Logical frames.
    pub depth: usize,
    pub recursion: Option<Recursion>,
}

/// A stack-overflow crash, diagnosed.
#[derive(Debug, Clone, Serialize)]
pub struct Overflow {
    pub goroutine: u64,
    pub limit: u64,
    pub cycle: Vec<String>,
    pub repeats: usize,
    pub entry: Option<Position>,
}

/// Stack figures for a set of goroutines; `sps` gives each one's innermost
/// SP (0 when unknown).
pub fn stack_uses(goroutines: &[Goroutine], sps: &[u64]) -> Vec<StackUse> {
    goroutines
        .iter()
        .zip(sps)
        .map(|(g, &sp)| StackUse {
            id: g.id,
            used: if sp >= g.stack_lo && sp <= g.stack_hi {
                g.stack_hi - sp
            } else {
                0
            },
            allocated: g.stack_hi.saturating_sub(g.stack_lo),
            depth: g.frames.len(),
            recursion: find_recursion(&g.frames),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(name: &str, line: i32) -> Frame {
        Frame {
            function: Arc::from(name),
            file: Arc::from("/x/main.go"),
            line,
            pc: 0,
            inlined: false,
            wrapper: false,
            offset: 0,
            raw_name: Arc::from(name),
            func_id: 0,
            shown: true,
            json: None,
        }
    }

    #[test]
    fn finds_mutual_recursion_and_entry() {
        // innermost first: gopark, then render/renderPartial x 50, then main.main
        let mut frames = vec![frame("runtime.morestack", 1)];
        for _ in 0..50 {
            frames.push(frame("main.renderPartial", 20));
            frames.push(frame("main.render", 10));
        }
        frames.push(frame("main.main", 5));
        let r = find_recursion(&frames).unwrap();
        assert_eq!(r.period, 2);
        assert_eq!(r.repeats, 50);
        assert_eq!(r.cycle, vec!["main.render", "main.renderPartial"]);
        assert_eq!(r.entry.unwrap().function, "main.main");
    }

    #[test]
    fn no_recursion_in_plain_stacks() {
        let frames: Vec<Frame> = (0..30).map(|i| frame(&format!("main.f{i}"), i)).collect();
        assert!(find_recursion(&frames).is_none());
        assert!(find_recursion(&[]).is_none());
    }

    #[test]
    fn direct_recursion() {
        let mut frames: Vec<Frame> = (0..200).map(|_| frame("main.walk", 3)).collect();
        frames.push(frame("main.start", 1));
        let r = find_recursion(&frames).unwrap();
        assert_eq!((r.period, r.repeats), (1, 200));
        assert_eq!(r.cycle, vec!["main.walk"]);
    }
}
