//! The Go runtime's view of a target: layouts, goroutines, Ms, Ps and the
//! scheduler, decoded from target memory by field name.

pub mod codeglobals;
pub mod discover;
pub mod funcname;
pub mod goroutine;
pub mod layout;
pub mod ptrmask;
pub mod runtime;
pub mod syncstate;
pub mod tables;
pub mod typedesc;
pub mod value;
pub mod version;
