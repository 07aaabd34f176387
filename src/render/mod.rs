//! Rendering of command outputs: text for humans ([`text`]), JSON for
//! scripts (streamed, the schema is docs/json.md) and Graphviz DOT for the
//! wait-for graphs ([`dot`]). Every frontend prints through [`Output::write`].

pub mod dot;
pub mod text;

use std::io::Write;

use crate::command::{groups, GoroutinesDoc, Output};
use crate::error::{Error, Result};
use crate::traceback;

/// How an output is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    /// Graphviz DOT: `blocking`, `chain` and `deadlocks` only.
    Dot,
}

impl Format {
    /// Refuses formats a command cannot be rendered in, before any work
    /// is done on the target.
    pub fn check(self, cmd: &crate::command::Command) -> Result<()> {
        use crate::command::Command;
        match (self, cmd) {
            (
                Format::Dot,
                Command::Info
                | Command::Goroutines { .. }
                | Command::Stacks { .. }
                | Command::Bt { .. }
                | Command::Print { .. }
                | Command::Locals { .. },
            ) => Err(Error::Other(
                "--dot draws wait-for graphs: use it with blocking, chain or deadlocks".into(),
            )),
            _ => Ok(()),
        }
    }
}

impl Output {
    /// Writes the output in `format`, streamed.
    pub fn write(&self, format: Format, w: &mut dyn Write) -> std::io::Result<()> {
        match format {
            Format::Text => self.write_text(w),
            Format::Json => self.write_json(w),
            Format::Dot => self.write_dot(w),
        }
    }

    /// The output rendered in `format` as a string (debugger adapters,
    /// tests).
    pub fn render(&self, format: Format) -> String {
        let mut buf = Vec::new();
        let _ = self.write(format, &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Human-readable text.
    pub fn text(&self) -> String {
        self.render(Format::Text)
    }

    /// Writes the human-readable text, streamed.
    pub fn write_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Output::Info(i) => w.write_all(text::info_text(i).as_bytes()),
            Output::Stacks(r) => w.write_all(text::stacks_text(r).as_bytes()),
            Output::Blocking(r) => w.write_all(text::blocking_text(r).as_bytes()),
            Output::Chain(r) => w.write_all(text::chain_text(r).as_bytes()),
            Output::Deadlocks(r) => w.write_all(text::deadlocks_text(r).as_bytes()),
            Output::Print(rs) => {
                for r in rs {
                    writeln!(w, "{}", crate::values::format_value(&r.value, r.plus))?;
                }
                Ok(())
            }
            Output::Locals(r) => w.write_all(text::locals_text(r).as_bytes()),
            Output::Goroutines {
                goroutines,
                group,
                waits,
                ..
            } => text::write_goroutines(w, goroutines, *group, waits.as_ref()),
            Output::Bt {
                goroutines,
                runtime_frames,
                ..
            } => {
                for (i, g) in goroutines.iter().enumerate() {
                    if i > 0 {
                        writeln!(w)?;
                    }
                    traceback::write_goroutine(w, g, *runtime_frames)?;
                }
                Ok(())
            }
        }
    }

    /// Writes the wait-for graph in Graphviz DOT (outputs without a graph
    /// are refused earlier by [`Format::check`]; they render as an empty
    /// graph here).
    pub fn write_dot(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let doc = match self {
            Output::Blocking(r) => dot::blocking(r),
            Output::Chain(r) => dot::chain(r),
            Output::Deadlocks(r) => dot::deadlocks(r),
            _ => dot::empty(),
        };
        w.write_all(doc.as_bytes())
    }

    /// Writes the JSON document, streamed (100k goroutines must not be
    /// built as one in-memory tree).
    pub fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self {
            Output::Info(i) => serde_json::to_writer(&mut *w, i)?,
            Output::Stacks(r) => serde_json::to_writer(&mut *w, r)?,
            Output::Blocking(r) => serde_json::to_writer(&mut *w, r)?,
            Output::Chain(r) => serde_json::to_writer(&mut *w, r)?,
            Output::Deadlocks(r) => serde_json::to_writer(&mut *w, r)?,
            Output::Locals(r) => serde_json::to_writer(&mut *w, r)?,
            Output::Print(rs) => {
                // One document per expression, one per line (JSON lines).
                for (i, r) in rs.iter().enumerate() {
                    if i > 0 {
                        writeln!(w)?;
                    }
                    let doc = serde_json::json!({
                        "expr": r.expr,
                        "fmt": crate::values::format_value(&r.value, r.plus),
                        "value": r.value.to_json(),
                    });
                    serde_json::to_writer(&mut *w, &doc)?
                }
            }
            Output::Goroutines {
                go_version,
                goroutines,
                group,
                waits,
            } => {
                let doc = GoroutinesDoc {
                    go_version,
                    goroutines: entries(goroutines, waits.as_ref()),
                    groups: group.then(|| groups(goroutines)),
                };
                serde_json::to_writer(&mut *w, &doc)?
            }
            Output::Bt {
                go_version,
                goroutines,
                ..
            } => {
                let doc = GoroutinesDoc {
                    go_version,
                    goroutines: entries(goroutines, None),
                    groups: None,
                };
                serde_json::to_writer(&mut *w, &doc)?
            }
        }
        writeln!(w)
    }

    /// The JSON document as a value (small outputs, tests).
    pub fn json(&self) -> serde_json::Value {
        let mut buf = Vec::new();
        if self.write_json(&mut buf).is_err() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&buf).unwrap_or_default()
    }
}

/// The goroutines of a JSON document, each with what it waits on (`-v`).
fn entries<'a>(
    goroutines: &'a [crate::report::Goroutine],
    waits: Option<&'a std::collections::HashMap<u64, crate::analysis::waits::WaitingOn>>,
) -> Vec<crate::command::GoroutineEntry<'a>> {
    goroutines
        .iter()
        .map(|g| crate::command::GoroutineEntry {
            g,
            waiting_on: waits.and_then(|w| w.get(&g.id)),
        })
        .collect()
}
