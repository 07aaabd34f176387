//! The executable on disk: ELF structure, Go build info, pclntab and DWARF.
//! Nothing here reads target memory, so it is testable on a binary alone.

pub mod buildinfo;
pub mod dwarf;
pub mod dwarfexpr;
pub mod dwarfvars;
pub mod elf;
pub mod pclntab;
pub mod x86refs;
