"""goroscope's GDB adapter: the only package that imports ``gdb``.

Modules: ``host`` (what gdb is debugging: target kind, threads,
registers, memory; the Controller), ``frames`` (goroutine selection:
unwinder and frame filter), ``commands`` (the gdb commands) and
``printers`` (Go value printers). ``register()`` installs them.

Commands (all through the grammar the CLI uses, so the text is the CLI's):

- ``go goroutines|bt|chain|blocking|deadlocks|stacks|info [options]``
- ``info goroutines [--all] [--group]``
- ``goroutine N bt`` / ``goroutine all bt``: Go tracebacks
- ``goroutine N``: select goroutine N, so that ``bt``, ``frame``, ``up``,
  ``down`` and ``info locals`` work in its context; ``goroutine N CMD``
  runs one gdb command there; ``goroutine off`` goes back to the thread.

Selection never writes ``$pc``/``$sp`` (impossible on cores). A Python
frame unwinder makes the selected goroutine's frames the callers of the
thread's innermost frame, one frame per physical Go frame as goroscope
unwinds it (frame ids use the frame's CFA, so Go's DWARF locals resolve),
and a frame filter hides the thread's own frame from ``bt``.
"""

from __future__ import annotations

import gdb
import gdb.unwinder

from goroscope.core import native
from goroscope.gdb.commands import GoCommand, GoroutineCommand, InfoGoroutines, _make_subcommand
from goroscope.gdb.frames import GoroutineFrameFilter, GoroutineUnwinder, select_goroutine
from goroscope.gdb.host import CTL, GdbHost
from goroscope.gdb.printers import GoPrinters

__all__ = ["CTL", "GdbHost", "GoPrinters", "register", "select_goroutine"]

# -- events --------------------------------------------------------------------


def _invalidate(_event=None) -> None:
    CTL.invalidate()


_REGISTERED = False


def register() -> None:
    """Registers commands, the unwinder, the frame filter and the event
    handlers (once per gdb)."""
    global _REGISTERED
    if _REGISTERED:
        return
    GoCommand()
    for name, about in native().commands():
        _make_subcommand(name, about)
    InfoGoroutines()
    GoroutineCommand()
    gdb.unwinder.register_unwinder(None, GoroutineUnwinder(), replace=True)
    flt = GoroutineFrameFilter()
    gdb.frame_filters[flt.name] = flt
    gdb.pretty_printers.append(GoPrinters())
    for ev in ("stop", "cont", "exited", "new_objfile", "clear_objfiles", "inferior_call", "memory_changed", "register_changed", "new_inferior"):
        reg = getattr(gdb.events, ev, None)
        if reg is not None:
            reg.connect(_invalidate)
    _REGISTERED = True
