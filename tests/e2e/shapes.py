"""Goroutine *shapes*: what `goroutines --json` says about a goroutine minus
everything that changes from run to run or build to build (ids, pcs,
offsets, addresses, thread ids, minutes). Two builds of the same example
(default vs stripped, PIE, cgo, ...) must yield the same multiset of
shapes."""

from __future__ import annotations

import collections
import json
from typing import Callable, Iterable, Optional

from .conftest import ToolResult
from .traceback import BUSY_STATUSES

Shape = tuple


def shape(g: dict) -> Shape:
    frames = tuple((f.get("function"), f.get("file"), f.get("line")) for f in g.get("frames") or [])
    cb = g.get("created_by")
    creator = (cb.get("function"), cb.get("line")) if cb else None
    return (g.get("status"), g.get("wait_reason"), frames, creator)


def render(s: Shape) -> str:
    status, reason, frames, creator = s
    out = [f"[{status}{': ' + reason if reason else ''}]"]
    for fn, file, line in frames:
        out.append(f"  {fn}  {file}:{line}")
    if creator:
        out.append(f"  created by {creator[0]} (line {creator[1]})")
    return "\n".join(out)


def parse_goroutines(res: ToolResult) -> tuple[Optional[list[dict]], Optional[str]]:
    """(goroutines, None) or (None, why not)."""
    if res.returncode == 101 or "panicked at" in res.stderr:
        return None, "goroscope panicked (exit 101)"
    if res.returncode != 0:
        return None, f"exit code {res.returncode}"
    try:
        doc = json.loads(res.stdout)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON ({e})"
    gs = doc.get("goroutines") if isinstance(doc, dict) else None
    if not isinstance(gs, list):
        return None, "no 'goroutines' list in the JSON"
    return gs, None


def compare_shapes(
    base: Iterable[dict],
    variant: Iterable[dict],
    *,
    ignore: Optional[Callable[[dict], Optional[str]]] = None,
    base_name: str = "default build",
    variant_name: str = "variant",
) -> tuple[bool, str]:
    """Multiset comparison; ``ignore(g)`` returns a reason to leave a
    goroutine out (on both sides). Returns (equal, report)."""
    ignored: collections.Counter = collections.Counter()

    def count(gs: Iterable[dict]) -> collections.Counter:
        c: collections.Counter = collections.Counter()
        for g in gs:
            why = ignore(g) if ignore else None
            if why:
                ignored[why] += 1
                continue
            c[shape(g)] += 1
        return c

    b, v = count(base), count(variant)
    only_b, only_v = b - v, v - b
    lines = [
        f"{sum(b.values())} goroutines compared in the {base_name}, {sum(v.values())} in the {variant_name}"
        + (f"; left out on both sides: {dict(ignored)}" if ignored else "")
    ]
    if not only_b and not only_v:
        return True, "\n".join(lines)
    lines.append(f"{sum(only_b.values())} goroutine shape(s) only in the {base_name}, {sum(only_v.values())} only in the {variant_name}")
    for title, diff in ((f"only in the {base_name}", only_b), (f"only in the {variant_name}", only_v)):
        for s, n in sorted(diff.items(), key=lambda kv: repr(kv[0])):
            lines.append(f"\n--- {title} (x{n}):\n{render(s)}")
    return False, "\n".join(lines)


def busy(g: dict) -> Optional[str]:
    if g.get("status") in BUSY_STATUSES:
        return "running/runnable (its top frame depends on timing)"
    return None
