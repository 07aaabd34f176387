//! Analyses over the decoded goroutines: stack usage and recursion (more
//! — blocking chains, deadlocks, leaks — build on the same model).

pub mod deadlocks;
pub mod globalrefs;
pub mod holders;
pub mod leaks;
pub mod locals;
pub mod netio;
pub mod semtable;
pub mod stacks;
pub mod timers;
pub mod waits;
