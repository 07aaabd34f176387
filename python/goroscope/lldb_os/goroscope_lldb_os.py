# goroscope's LLDB OperatingSystem plugin: goroutines as threads.
#
# LLDB loads this file itself (`settings set
# target.process.python-os-plugin-path /path/to/goroscope_lldb_os.py`, which
# `command script import scripts/goroscope-lldb.py` does) and instantiates
# OperatingSystemPlugIn(process) for every process. The plugin lives in
# goroscope.lldb; this file only names it, in a directory of its own so that
# LLDB, which puts the file's directory on sys.path, adds nothing else there.
from goroscope.lldb import OperatingSystemPlugIn

__all__ = ["OperatingSystemPlugIn"]
