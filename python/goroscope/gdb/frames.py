"""Goroutine selection without writing registers: a frame unwinder that
makes the selected goroutine's frames the callers of the thread's
innermost frame, and a frame filter that hides that frame."""

from __future__ import annotations

import gdb
import gdb.unwinder

from goroscope.core import Selection, UserError
from goroscope.gdb.host import CTL


class _FrameId:
    """A frame id for gdb 13, which wants gdb.Value attributes."""

    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


def _on_selected_thread(sel: Selection) -> bool:
    th = gdb.selected_thread()
    return th is not None and th.global_num == sel.thread_key


class GoroutineUnwinder(gdb.unwinder.Unwinder):
    """Makes the selected goroutine's frames the callers of the thread's
    innermost frame, then unwinds them exactly as goroscope (and the Go
    runtime) does. Frames are identified by their CFA."""

    def __init__(self):
        super().__init__("goroscope-goroutine")

    def __call__(self, pending):
        sel = CTL.selection
        if sel is None or not _on_selected_thread(sel):
            return None
        try:
            sp_v = pending.read_register("rsp")
            pc_v = pending.read_register("rip")
            sp, pc = int(sp_v), int(pc_v)
            frames = sel.info["frames"]
            if not frames:
                return None
            if sp == sel.thread_sp and pc == sel.thread_pc:
                first = frames[0]
                # Identified below the goroutine's stack so that gdb sees
                # its frames as outer (older) ones.
                ui = pending.create_unwind_info(_FrameId(gdb.Value(first["sp"]).cast(sp_v.type), pc_v))
                ui.add_saved_register("rip", gdb.Value(first["pc"]).cast(pc_v.type))
                ui.add_saved_register("rsp", gdb.Value(first["sp"]).cast(sp_v.type))
                if sel.info.get("bp"):
                    ui.add_saved_register("rbp", gdb.Value(sel.info["bp"]).cast(sp_v.type))
                return ui
            for i, f in enumerate(frames):
                if f["sp"] != sp or f["pc"] != pc:
                    continue
                ui = pending.create_unwind_info(_FrameId(gdb.Value(f["cfa"]).cast(sp_v.type), gdb.Value(f["entry"]).cast(pc_v.type)))
                # The goroutine's top frame (goexit) returns to pc 0,
                # where gdb's unwinding stops (the frame filter hides it).
                caller_pc = frames[i + 1]["pc"] if i + 1 < len(frames) else 0
                ui.add_saved_register("rip", gdb.Value(caller_pc).cast(pc_v.type))
                ui.add_saved_register("rsp", gdb.Value(f["cfa"]).cast(sp_v.type))
                if f["caller_bp"] is not None:
                    ui.add_saved_register("rbp", gdb.Value(f["caller_bp"]).cast(sp_v.type))
                return ui
        except gdb.error:
            return None
        return None


class GoroutineFrameFilter:
    """Hides the thread's own innermost frame while a goroutine is
    selected on that thread."""

    def __init__(self):
        self.name = "goroscope-goroutine"
        self.priority = 100
        self.enabled = True

    def filter(self, frames):
        sel = CTL.selection
        if sel is None or not _on_selected_thread(sel):
            return frames
        return (d for d in frames if not _is_thread_frame(d.inferior_frame(), sel) and d.inferior_frame().pc() != 0)


def _is_thread_frame(frame, sel: Selection) -> bool:
    try:
        return frame.pc() == sel.thread_pc and int(frame.read_register("rsp")) == sel.thread_sp
    except gdb.error:
        return False


def _thread_by_tid(tid: int):
    for t in gdb.selected_inferior().threads():
        if t.ptid[1] == tid or (t.ptid[1] == 0 and t.ptid[0] == tid):
            return t
    return None


def _clear_selection() -> None:
    if CTL.selection is not None:
        CTL.selection = None
        gdb.invalidate_cached_frames()


def select_goroutine(goid: int, quiet: bool = False) -> None:
    info = CTL.frames(goid)
    _clear_selection()
    if info["thread"] is not None:
        # Running at the stop: its frames are that thread's frames.
        t = _thread_by_tid(info["thread"])
        if t is None:
            raise UserError(f"goroscope: goroutine {goid} runs on thread {info['thread']}, which gdb does not list")
        t.switch()
        gdb.newest_frame().select()
        if not quiet:
            gdb.write(f"[goroutine {goid} ({info['status']}) runs on thread {t.num} (LWP {info['thread']})]\n")
            gdb.execute("frame")
        return
    if not info["frames"]:
        raise UserError(f"goroscope: goroutine {goid} has no frames to show")
    th = gdb.selected_thread()
    if th is None:
        raise UserError("goroscope: no thread selected")
    f0 = gdb.newest_frame()
    sel = Selection(goid, th.global_num, int(f0.read_register("rsp")), f0.pc(), info)
    CTL.selection = sel
    gdb.invalidate_cached_frames()
    f = gdb.newest_frame()
    while f is not None and _is_thread_frame(f, sel):
        f = f.older()
    if f is None:
        _clear_selection()
        raise UserError(f"goroscope: gdb could not build goroutine {goid}'s frames")
    f.select()
    if not quiet:
        gdb.write(f"[goroutine {goid} ({info['status']}), shown on thread {th.num}]\n")
        gdb.execute("frame")
