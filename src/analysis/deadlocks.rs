//! `deadlocks`: wait-for cycles (lock-order inversions, proven by pending
//! deferred Unlocks), goroutines that can never be woken (offline leak
//! detection, see `leaks`), and a global deadlock; a verdict for every
//! goroutine.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::analysis::holders::Holder;
use crate::analysis::waits::WaitingOn;
use crate::error::Result;
use crate::goruntime::goroutine::G;
use crate::session::Session;

/// Wait kinds that only another goroutine can end (channel and sync
/// waits); everything else (sleep, I/O, syscalls, runtime) may run again.
fn is_sync_wait(kind: &str) -> bool {
    matches!(
        kind,
        "chan receive"
            | "chan send"
            | "select"
            | "nil chan"
            | "select (no cases)"
            | "mutex"
            | "rwmutex read"
            | "rwmutex write"
            | "waitgroup"
            | "semaphore"
            | "cond"
    )
}

/// The `deadlocks` report.
#[derive(Debug, Serialize)]
pub struct DeadlockReport {
    pub cycles: Vec<Vec<u64>>,
    pub leaked: Vec<u64>,
    pub global_deadlock: bool,
    pub goroutines: Vec<Verdict>,
    /// Set when leak detection could not run (e.g. no symbol table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak_check_error: Option<String>,
}

/// One goroutine's verdict.
#[derive(Debug, Serialize)]
pub struct Verdict {
    pub id: u64,
    /// "deadlocked", "leaked", "blocked", "live", or "unknown" when leak
    /// detection could not run (`leak_check_error` says why).
    pub verdict: String,
    pub waiting_on: Option<WaitingOn>,
    pub holders: Vec<Holder>,
    pub reason: String,
    /// For a goroutine condemned through its holders (a lock, a Cond's
    /// lock, a WaitGroup's pending Done calls): the chain of evidence,
    /// one step a line, down to a goroutine whose verdict stands on its
    /// own (a cycle, or nothing reachable can wake it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// Deepest evidence chain written out (chains are short; cycle-safe anyway).
const MAX_EVIDENCE_STEPS: usize = 32;

/// Fills `evidence` of the goroutines in `behind`: what each waits on, the
/// certain holders that keep it, and why each holder is stuck in turn.
fn add_evidence_chains(verdicts: &mut [Verdict], behind: &HashSet<u64>) {
    let by_id: HashMap<u64, usize> = verdicts
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id, i))
        .collect();
    let describe = |v: &Verdict| match &v.waiting_on {
        Some(w) => format!("goroutine {} waits on {} {}", v.id, w.kind, w.name),
        None => format!("goroutine {}", v.id),
    };
    let mut chains = Vec::new();
    for v in verdicts.iter().filter(|v| behind.contains(&v.id)) {
        let mut steps = vec![describe(v)];
        let mut seen: HashSet<u64> = HashSet::from([v.id]);
        let mut cur_holders = v.holders.clone();
        while steps.len() < MAX_EVIDENCE_STEPS {
            let Some(h) = cur_holders.first().cloned() else {
                break;
            };
            steps.push(format!(
                "held by goroutine {} ({}, {})",
                h.id, h.confidence, h.evidence
            ));
            if !seen.insert(h.id) {
                steps.push(format!("goroutine {} is already in this chain", h.id));
                break;
            }
            let Some(&hi) = by_id.get(&h.id) else { break };
            let hv = &verdicts[hi];
            steps.push(format!("{}: {} ({})", describe(hv), hv.verdict, hv.reason));
            if !behind.contains(&hv.id) {
                break;
            }
            cur_holders = hv.holders.clone();
        }
        chains.push((v.id, steps));
    }
    for (id, steps) in chains {
        if let Some(&i) = by_id.get(&id) {
            verdicts[i].evidence = steps;
        }
    }
}

/// Strongly connected components of size ≥ 2 (or self-loops): the cycles.
fn cycles(edges: &HashMap<u64, Vec<u64>>) -> Vec<Vec<u64>> {
    // Iterative Tarjan, bounded by the graph.
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut low: HashMap<u64, usize> = HashMap::new();
    let mut on_stack: HashSet<u64> = HashSet::new();
    let mut stack: Vec<u64> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0usize;
    let mut nodes: Vec<u64> = edges.keys().copied().collect();
    nodes.sort();
    for &root in &nodes {
        if index.contains_key(&root) {
            continue;
        }
        let mut call: Vec<(u64, usize)> = vec![(root, 0)];
        while let Some(&mut (v, ref mut i)) = call.last_mut() {
            if *i == 0 {
                index.insert(v, next);
                low.insert(v, next);
                next += 1;
                stack.push(v);
                on_stack.insert(v);
            }
            let succ = edges.get(&v).map(|s| s.as_slice()).unwrap_or(&[]);
            if *i < succ.len() {
                let w = succ[*i];
                *i += 1;
                if !index.contains_key(&w) {
                    call.push((w, 0));
                } else if on_stack.contains(&w) {
                    let lw = index[&w];
                    let lv = low[&v];
                    low.insert(v, lv.min(lw));
                }
                continue;
            }
            call.pop();
            if let Some(&(p, _)) = call.last() {
                let lv = low[&v];
                let lp = low[&p];
                low.insert(p, lp.min(lv));
            }
            if low[&v] == index[&v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack.remove(&w);
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                let self_loop = edges.get(&v).is_some_and(|s| s.contains(&v));
                if comp.len() > 1 || self_loop {
                    comp.sort();
                    out.push(comp);
                }
            }
        }
    }
    out.sort();
    out
}

impl Session {
    /// Runs the three checks over every goroutine; the report lists the
    /// runtime's system goroutines only when `list_system` is set.
    pub fn deadlocks(&self, list_system: bool) -> Result<DeadlockReport> {
        let (goroutines, _) = self.goroutines(true)?;
        let (raw, _) = self.g_index();
        let waits = self.waits_of(&goroutines);
        let unlocks = self.deferred_unlocks();
        // Certain edges: a lock waiter → the goroutines whose pending
        // deferred Unlock releases that lock; a WaitGroup waiter → the
        // goroutines whose pending deferred Done it still counts on.
        let mut edges: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut holders: HashMap<u64, Vec<Holder>> = HashMap::new();
        for (id, w) in &waits {
            if !matches!(
                w.kind.as_str(),
                "mutex" | "rwmutex read" | "rwmutex write" | "waitgroup"
            ) {
                continue;
            }
            let hs: Vec<Holder> = unlocks
                .get(&w.addr)
                .into_iter()
                .flatten()
                .filter(|(h, _)| h != id)
                .map(|(h, ev)| Holder {
                    id: *h,
                    confidence: "certain".into(),
                    evidence: ev.clone(),
                })
                .collect();
            edges.insert(*id, hs.iter().map(|h| h.id).collect());
            holders.insert(*id, hs);
        }
        // Only goroutines that are themselves stuck can be in a cycle.
        let stuck: HashSet<u64> = edges.keys().copied().collect();
        for succ in edges.values_mut() {
            succ.retain(|s| stuck.contains(s));
        }
        // A Cond waiter must take its cond's L back before Wait returns:
        // whoever certainly holds L (a pending deferred Unlock) keeps it
        // from finishing, even once signalled. Not a wait-for edge (it
        // waits for a Signal first), but evidence for the fixed point.
        let mut cond_locks: HashMap<u64, u64> = HashMap::new();
        for (id, w) in &waits {
            if w.kind != "cond" {
                continue;
            }
            let Some(l) = self.cond_lock(w.addr) else {
                continue;
            };
            let hs: Vec<Holder> = unlocks
                .get(&l)
                .into_iter()
                .flatten()
                .filter(|(h, _)| h != id)
                .map(|(h, ev)| Holder {
                    id: *h,
                    confidence: "certain".into(),
                    evidence: format!("holds the cond's lock: {ev}"),
                })
                .collect();
            if !hs.is_empty() {
                cond_locks.insert(*id, l);
                holders.insert(*id, hs);
            }
        }
        let cycles = cycles(&edges);
        let in_cycle: HashSet<u64> = cycles.iter().flatten().copied().collect();

        let gr_by_id: HashMap<u64, &crate::report::Goroutine> =
            goroutines.iter().map(|g| (g.id, g)).collect();
        let mut blocked: HashMap<u64, (&G, Vec<u64>)> = HashMap::new();
        let mut roots: Vec<&G> = Vec::new();
        let mut main_select: Option<u64> = None;
        for gr in &goroutines {
            let Some(g) = raw.get(&gr.addr) else { continue };
            match waits.get(&gr.id) {
                Some(w) if is_sync_wait(&w.kind) => {
                    let mut objs: Vec<u64> = w.channels.iter().map(|c| c.addr).collect();
                    if w.addr != 0 {
                        objs.push(w.addr);
                    }
                    // The main goroutine parked in `select {}` is how many
                    // servers idle. Like the runtime's leak detector
                    // (runtime/mgc.go findGoroutineLeaks, go1.27), it stays
                    // out of the roots (what only its stack reaches can
                    // still leak) but is never itself reported leaked.
                    if gr.id == 1 && w.kind == "select (no cases)" {
                        main_select = Some(gr.id);
                    }
                    blocked.insert(gr.id, (g, objs));
                }
                _ => roots.push(g),
            }
        }
        let (mut leaked_set, leak_check_error) =
            match crate::analysis::leaks::leaked(self, &roots, &blocked) {
                Ok(l) => (l, None),
                Err(e) => (
                    HashSet::new(),
                    Some(format!("leak detection unavailable: {e}")),
                ),
            };
        if let Some(id) = main_select {
            leaked_set.remove(&id);
        }
        // A lock whose every certain holder can never run again is never
        // released: its waiters are stuck too, even when the lock is a
        // global (reachable, so the reachability pass keeps them). A
        // WaitGroup needs every pending Done: one stuck holder is enough.
        let needs_all: HashSet<u64> = waits
            .iter()
            .filter(|(_, w)| w.kind == "waitgroup")
            .map(|(id, _)| *id)
            .collect();
        let mut behind_stuck: HashSet<u64> = HashSet::new();
        loop {
            let stuck: HashSet<u64> = in_cycle.union(&leaked_set).copied().collect();
            let newly: Vec<u64> = holders
                .iter()
                .filter(|(id, hs)| {
                    let is_stuck = |h: &Holder| stuck.contains(&h.id);
                    !stuck.contains(id)
                        && !hs.is_empty()
                        && if needs_all.contains(id) {
                            hs.iter().any(is_stuck)
                        } else {
                            hs.iter().all(is_stuck)
                        }
                })
                .map(|(id, _)| *id)
                .collect();
            if newly.is_empty() {
                break;
            }
            for id in newly {
                leaked_set.insert(id);
                behind_stuck.insert(id);
            }
        }
        let user_live = goroutines
            .iter()
            .any(|gr| !gr.system && !blocked.contains_key(&gr.id));
        let global_deadlock = !blocked.is_empty() && !user_live;
        let mut leaked: Vec<u64> = leaked_set
            .iter()
            .filter(|id| !in_cycle.contains(id))
            .copied()
            .collect();
        leaked.sort();
        let mut verdicts = Vec::new();
        for gr in goroutines.iter().filter(|g| list_system || !g.system) {
            let w = waits.get(&gr.id).cloned();
            let (verdict, reason) = if in_cycle.contains(&gr.id) {
                let cyc = cycles
                    .iter()
                    .find(|c| c.contains(&gr.id))
                    .cloned()
                    .unwrap_or_default();
                (
                    "deadlocked",
                    format!("in a wait-for cycle with goroutines {cyc:?}"),
                )
            } else if behind_stuck.contains(&gr.id) {
                let hs: Vec<u64> = holders
                    .get(&gr.id)
                    .map(|h| h.iter().map(|h| h.id).collect())
                    .unwrap_or_default();
                let what = if needs_all.contains(&gr.id) {
                    "a WaitGroup whose pending Done calls are deferred by goroutines that can never run again"
                } else if cond_locks.contains_key(&gr.id) {
                    "a Cond whose lock is held by goroutines that can never run again (even signalled, Wait cannot take it back)"
                } else {
                    "a lock held by goroutines that can never run again"
                };
                ("leaked", format!("waits on {what}: {hs:?}"))
            } else if leaked_set.contains(&gr.id) {
                (
                    "leaked",
                    "nothing that could wake it is reachable from a goroutine that can run"
                        .to_string(),
                )
            } else if main_select == Some(gr.id) {
                (
                    "blocked",
                    "the main goroutine parked in select {}, the idiom for a process that \
                     serves from other goroutines (the runtime's leak profile exempts it too)"
                        .to_string(),
                )
            } else if let (true, Some(e)) = (blocked.contains_key(&gr.id), &leak_check_error) {
                // Without the heap walk nothing says whether it can be woken.
                (
                    "unknown",
                    format!("cannot tell whether it can be woken: {e}"),
                )
            } else if blocked.contains_key(&gr.id) {
                (
                    "blocked",
                    "blocked, but a goroutine that can run still reaches what it waits on"
                        .to_string(),
                )
            } else {
                (
                    "live",
                    gr_by_id
                        .get(&gr.id)
                        .map(|g| g.status.clone())
                        .unwrap_or_default(),
                )
            };
            verdicts.push(Verdict {
                id: gr.id,
                verdict: verdict.into(),
                waiting_on: w,
                holders: holders.remove(&gr.id).unwrap_or_default(),
                reason,
                evidence: Vec::new(),
            });
        }
        add_evidence_chains(&mut verdicts, &behind_stuck);
        Ok(DeadlockReport {
            cycles,
            leaked,
            global_deadlock,
            goroutines: verdicts,
            leak_check_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycles_and_ignores_chains() {
        let mut e = HashMap::new();
        e.insert(7, vec![9]);
        e.insert(9, vec![7]);
        e.insert(11, vec![7]);
        e.insert(12, vec![12]);
        e.insert(13, vec![]);
        assert_eq!(cycles(&e), vec![vec![7, 9], vec![12]]);
    }
}
