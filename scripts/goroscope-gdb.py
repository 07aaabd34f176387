# goroscope for GDB: `source /path/to/goroscope/scripts/goroscope-gdb.py`
# (or put that line in ~/.gdbinit; `goroscope gdbinit` prints it).
#
# Uses the installed package (`pip install .` into the Python gdb embeds)
# if it is importable, else the in-tree build next to this script
# (python/goroscope with _native built by scripts/build-python).
# Then: `help go`, `info goroutines`, `goroutine N`, `go chain N`, ...
import os
import sys


def _goroscope_load():
    here = os.path.dirname(os.path.abspath(os.path.expanduser(__file__)))
    tree = os.path.join(os.path.dirname(here), "python")
    try:
        import goroscope._native  # noqa: F401  (installed package)
    except ImportError:
        if os.path.isdir(os.path.join(tree, "goroscope")) and tree not in sys.path:
            sys.path.insert(0, tree)
            for name in [m for m in sys.modules if m == "goroscope" or m.startswith("goroscope.")]:
                del sys.modules[name]
    try:
        import goroscope._native  # noqa: F401
    except ImportError as e:
        import gdb

        gdb.write(
            f"goroscope: cannot load the native module ({e}).\n"
            f"  Install the package into gdb's Python ({sys.executable}, {sys.version.split()[0]}) with `pip install .`,\n"
            f"  or build it in-tree with scripts/build-python (looked in {tree}).\n",
            gdb.STDERR,
        )
        return
    import goroscope.gdb

    goroscope.gdb.register()


_goroscope_load()
del _goroscope_load
