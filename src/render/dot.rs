//! Graphviz DOT for the wait-for graphs of `blocking`, `chain` and
//! `deadlocks`: goroutines are boxes, the objects they wait on ellipses;
//! an edge goes from a waiter to its object ("waits") and from an object
//! to the goroutines that could release it ("held by", solid when certain,
//! dashed when inferred). `dot -Tsvg` draws it.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::analysis::deadlocks::DeadlockReport;
use crate::analysis::holders::Holder;
use crate::command::{BlockingReport, ChainReport};

/// Escapes a string for a double-quoted DOT id or label.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A graph under construction: nodes keep their first definition, edges
/// are deduplicated, and the output order is stable.
struct Graph {
    name: &'static str,
    label: Option<String>,
    nodes: BTreeMap<String, String>,
    edges: Vec<(String, String, String)>,
}

impl Graph {
    fn new(name: &'static str) -> Graph {
        Graph {
            name,
            label: None,
            nodes: BTreeMap::new(),
            edges: Vec::new(),
        }
    }

    fn goroutine(&mut self, id: u64, state: &str, color: Option<&str>) -> String {
        let key = format!("g{id}");
        let mut attrs = format!(
            "shape=box, label={}",
            quote(&format!("goroutine {id}\n[{state}]"))
        );
        if let Some(c) = color {
            let _ = write!(attrs, ", style=filled, fillcolor={}", quote(c));
        }
        self.nodes.entry(key.clone()).or_insert(attrs);
        key
    }

    /// An object node; objects without an address (sleep, syscall, select
    /// with no cases) are one node per waiter, since nothing is shared.
    fn object(&mut self, kind: &str, name: &str, addr: u64, waiter: u64) -> String {
        let key = if addr != 0 {
            format!("o{addr:x}")
        } else {
            format!("o-{waiter}")
        };
        let hex = format!("{addr:#x}");
        let mut label = format!("{kind}\n{name}");
        if addr != 0 && !name.contains(&hex) {
            label.push('\n');
            label.push_str(&hex);
        }
        self.nodes
            .entry(key.clone())
            .or_insert(format!("shape=ellipse, label={}", quote(&label)));
        key
    }

    fn edge(&mut self, from: &str, to: &str, attrs: String) {
        if !self.edges.iter().any(|(f, t, _)| f == from && t == to) {
            self.edges.push((from.into(), to.into(), attrs));
        }
    }

    fn holder_edge(&mut self, obj: &str, h: &Holder, state: &str, color: Option<&str>) {
        let g = self.goroutine(h.id, state, color);
        let style = if h.confidence == "certain" {
            "solid"
        } else {
            "dashed"
        };
        self.edge(
            obj,
            &g,
            format!(
                "label={}, style={style}, tooltip={}",
                quote(&format!("held by ({})", h.confidence)),
                quote(&h.evidence)
            ),
        );
    }

    fn finish(self) -> String {
        let mut out = format!("digraph {} {{\n", self.name);
        out.push_str("  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
        if let Some(l) = &self.label {
            let _ = writeln!(out, "  label={};\n  labelloc=t;", quote(l));
        }
        for (k, attrs) in &self.nodes {
            let _ = writeln!(out, "  {} [{attrs}];", quote(k));
        }
        for (f, t, attrs) in &self.edges {
            let _ = writeln!(out, "  {} -> {} [{attrs}];", quote(f), quote(t));
        }
        out.push_str("}\n");
        out
    }
}

/// An empty graph (outputs that have none).
pub fn empty() -> String {
    Graph::new("goroscope").finish()
}

/// `blocking --dot`: every blocked goroutine and the object it waits on.
pub fn blocking(r: &BlockingReport) -> String {
    let mut g = Graph::new("blocking");
    for bg in &r.goroutines {
        let Some(w) = &bg.waiting_on else { continue };
        let node = g.goroutine(bg.id, &bg.state, None);
        if w.channels.len() > 1 {
            // A select waits on every case's channel.
            for c in &w.channels {
                let obj = g.object("chan", &c.name, c.addr, bg.id);
                g.edge(&node, &obj, format!("label={}", quote(&c.dir)));
            }
            continue;
        }
        let obj = g.object(&w.kind, &w.name, w.addr, bg.id);
        g.edge(&node, &obj, format!("label={}", quote("waits")));
    }
    g.finish()
}

/// `chain ID --dot`: the chain from one goroutine, its cycle in red.
pub fn chain(r: &ChainReport) -> String {
    let mut g = Graph::new("chain");
    let in_cycle = |a: u64, b: u64| {
        let n = r.cycle_ids.len();
        (0..n).any(|i| r.cycle_ids[i] == a && r.cycle_ids[(i + 1) % n] == b)
    };
    let state_of = |id: u64| {
        r.chain
            .iter()
            .find(|l| l.id == id)
            .map(|l| l.state.clone())
            .unwrap_or_default()
    };
    for (i, l) in r.chain.iter().enumerate() {
        let color = (i == 0).then_some("lightblue");
        let node = g.goroutine(l.id, &l.state, color);
        let Some(w) = &l.waiting_on else { continue };
        let obj = g.object(&w.kind, &w.name, w.addr, l.id);
        let mins = if l.wait_minutes > 0 {
            format!(", {} minutes", l.wait_minutes)
        } else {
            String::new()
        };
        g.edge(
            &node,
            &obj,
            format!("label={}", quote(&format!("waits{mins}"))),
        );
        for h in &l.holders {
            g.holder_edge(&obj, h, &state_of(h.id), None);
            if in_cycle(l.id, h.id) {
                if let Some(e) = g
                    .edges
                    .iter_mut()
                    .find(|(f, t, _)| *f == obj && *t == format!("g{}", h.id))
                {
                    e.2.push_str(", color=red, penwidth=2");
                }
            }
        }
    }
    if r.cycle {
        let ids: Vec<String> = r.cycle_ids.iter().map(|i| i.to_string()).collect();
        g.label = Some(format!("DEADLOCK: wait-for cycle {}", ids.join(" -> ")));
    }
    g.finish()
}

/// `deadlocks --dot`: the goroutines that are not live, coloured by
/// verdict (deadlocked red, leaked orange, blocked grey), with their
/// objects and holders.
pub fn deadlocks(r: &DeadlockReport) -> String {
    let mut g = Graph::new("deadlocks");
    let color = |verdict: &str| match verdict {
        "deadlocked" => Some("lightcoral"),
        "leaked" => Some("orange"),
        "blocked" => Some("lightgrey"),
        "unknown" => Some("khaki"),
        _ => None,
    };
    let by_id: BTreeMap<u64, &crate::analysis::deadlocks::Verdict> =
        r.goroutines.iter().map(|v| (v.id, v)).collect();
    for v in r.goroutines.iter().filter(|v| v.verdict != "live") {
        let state = v
            .waiting_on
            .as_ref()
            .map(|w| w.kind.clone())
            .unwrap_or_default();
        let node = g.goroutine(v.id, &format!("{} {state}", v.verdict), color(&v.verdict));
        let Some(w) = &v.waiting_on else { continue };
        let obj = g.object(&w.kind, &w.name, w.addr, v.id);
        g.edge(&node, &obj, format!("label={}", quote("waits")));
        for h in &v.holders {
            let (hstate, hcolor) = match by_id.get(&h.id) {
                Some(hv) => (
                    format!(
                        "{} {}",
                        hv.verdict,
                        hv.waiting_on
                            .as_ref()
                            .map(|w| w.kind.as_str())
                            .unwrap_or("")
                    ),
                    color(&hv.verdict),
                ),
                None => (String::new(), None),
            };
            g.holder_edge(&obj, h, hstate.trim_end(), hcolor);
        }
    }
    let mut label = Vec::new();
    if r.global_deadlock {
        label.push("GLOBAL DEADLOCK: no goroutine can run".to_string());
    }
    for c in &r.cycles {
        let ids: Vec<String> = c.iter().map(|i| i.to_string()).collect();
        label.push(format!("cycle: {}", ids.join(", ")));
    }
    if !r.leaked.is_empty() {
        label.push(format!("{} leaked", r.leaked.len()));
    }
    if !label.is_empty() {
        g.label = Some(label.join("\n"));
    }
    g.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_labels() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(quote("x\u{1}y"), "\"xy\"");
    }

    #[test]
    fn graph_dedups_nodes_and_edges() {
        let mut g = Graph::new("t");
        let a = g.goroutine(1, "chan send", None);
        let b = g.object("chan send", "main.ch", 0x10, 1);
        let b2 = g.object("chan send", "main.ch", 0x10, 2);
        assert_eq!(b, b2);
        g.edge(&a, &b, "label=\"waits\"".into());
        g.edge(&a, &b, "label=\"waits\"".into());
        let out = g.finish();
        assert_eq!(out.matches("->").count(), 1);
        assert!(out.starts_with("digraph t {\n"));
        assert!(out.ends_with("}\n"));
    }
}
