"""gdb commands: `go …` (one subcommand per command of the shared
grammar), `info goroutines` and `goroutine`."""

from __future__ import annotations

import gdb

from goroscope.core import UserError, native, parse_goroutine_id
from goroscope.gdb.frames import _clear_selection, select_goroutine
from goroscope.gdb.host import CTL, _guard, _print_run

_ID_COMMANDS = {"bt", "chain"}


class GoCommand(gdb.Command):
    """Go runtime commands (goroscope): goroutines, tracebacks, blocking chains, deadlocks.

    The same commands and output as the goroscope CLI, on what gdb is debugging
    (a core file, a live process, or a remote target):

      go goroutines [--all] [--group]    one line per goroutine
      go bt ID | go bt --all             Go tracebacks
      go chain ID                        blocking chain from a goroutine
      go blocking                        what blocked goroutines wait on
      go deadlocks                       wait-for cycles, leaked goroutines
      go stacks                          stack usage, recursion, overflow
      go info                            Go version, counts, crash facts

    Every command takes --json; blocking, chain and deadlocks take --dot.
    Related: `info goroutines`, `goroutine N` (select: bt, frame, up, down and
    info locals then work on goroutine N), `goroutine N bt`, `goroutine all bt`."""

    def __init__(self):
        super().__init__("go", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)

    @_guard
    def invoke(self, arg, from_tty):
        words = gdb.string_to_argv(arg)
        if not words:
            gdb.write(CTL.help_text([]))
            return
        _print_run(words)


def _make_subcommand(name: str, about: str):
    # clap's help starts with the one-line description gdb lists.
    doc = native().help_text([name]).rstrip() or about

    class Sub(gdb.Command):
        __doc__ = doc

        def __init__(self):
            super().__init__(f"go {name}", gdb.COMMAND_STACK)

        @_guard
        def invoke(self, arg, from_tty):
            _print_run([name, *gdb.string_to_argv(arg)])

        def complete(self, text, word):
            if name in _ID_COMMANDS:
                return CTL.complete_ids(word or "")
            return gdb.COMPLETE_NONE

    Sub.__name__ = f"Go{name.capitalize()}Command"
    return Sub()


class InfoGoroutines(gdb.Command):
    """List the goroutines, one line each (as `go goroutines`): id, [state], top user frame, creator.
    Usage: info goroutines [--all] [--group] [--json]"""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STATUS, gdb.COMPLETE_NONE)

    @_guard
    def invoke(self, arg, from_tty):
        _print_run(["goroutines", *gdb.string_to_argv(arg)])


class GoroutineCommand(gdb.Command):
    """Select a goroutine, or run a command in its context.
    Usage:
      goroutine N            select goroutine N: bt, frame, up, down, info locals then show its frames
      goroutine N bt         goroutine N's traceback in Go's format (as `go bt N`)
      goroutine all bt       every goroutine's traceback (as `go bt --all`)
      goroutine N CMD        run gdb command CMD with goroutine N selected
      goroutine all CMD      run CMD for every goroutine
      goroutine off          back to the thread's own frames
      goroutine              show which goroutine is selected"""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK)

    @_guard
    def invoke(self, arg, from_tty):
        words = gdb.string_to_argv(arg)
        if not words:
            sel = CTL.selection
            gdb.write(f"goroutine {sel.goid} is selected\n" if sel else "no goroutine selected (the thread's own frames are shown)\n")
            return
        head, rest = words[0], arg.strip()[len(words[0]) :].strip()
        if head == "off":
            _clear_selection()
            gdb.newest_frame().select()
            return
        if head == "all":
            if not rest:
                raise UserError("goroscope: usage: goroutine all bt | goroutine all CMD")
            if rest.split()[0] == "bt":
                _print_run(["bt", "--all", *gdb.string_to_argv(rest)[1:]])
                return
            for goid in CTL.goroutine_ids(system=False):
                gdb.write(f"goroutine {goid}:\n")
                self._in_goroutine(goid, rest)
            return
        goid = parse_goroutine_id(head)
        if not rest:
            select_goroutine(goid)
            return
        if rest.split()[0] == "bt":
            _print_run(["bt", str(goid), *gdb.string_to_argv(rest)[1:]])
            return
        self._in_goroutine(goid, rest)

    @staticmethod
    def _in_goroutine(goid: int, command: str) -> None:
        before = CTL.selection
        thread = gdb.selected_thread()
        try:
            select_goroutine(goid, quiet=True)
            gdb.execute(command)
        finally:
            CTL.selection = before
            gdb.invalidate_cached_frames()
            if thread is not None and thread.is_valid():
                thread.switch()

    def complete(self, text, word):
        words = text.split()
        if len(words) > 1 or (len(words) == 1 and text.endswith(" ")):
            # `goroutine N CMD…`: complete CMD as gdb would.
            rest = text.lstrip()[len(words[0]) :].lstrip()
            word = word or ""
            try:
                lines = gdb.execute(f"complete {rest}", to_string=True).splitlines()
            except gdb.error:
                return []
            cut = len(rest) - len(word)
            return [line[cut:] for line in lines if line.startswith(rest[:cut])]
        prefix = word or ""
        extra = [w for w in ("all", "off") if w.startswith(prefix)]
        return extra + CTL.complete_ids(prefix)
