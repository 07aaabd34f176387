"""goroscope for debuggers: Go goroutines, tracebacks, blocking chains and
deadlocks inside GDB (and, later, LLDB).

Layout (see docs/debuggers.md):

- ``goroscope._native``: the Rust core (pyo3, abi3). Only Rust decodes Go
  runtime memory.
- ``goroscope.core``: debugger-agnostic glue (a session per stop, command
  dispatch through the one command grammar, goroutine selection).
- ``goroscope.gdb``: the GDB adapter (the only module that imports ``gdb``).

Load it in GDB with ``source scripts/goroscope-gdb.py`` (``goroscope
gdbinit`` prints the line for ``~/.gdbinit``).
"""

__version__ = "0.1.0"
