"""Build variants of the examples: the ways release binaries are really
built (issue 4: no DWARF, stripped, PIE, cgo, race).

Every example is built once per Go release and variant; the variant's id
ends the test id: ``test_gcore_bt[1.26.6-cms-stripped]``. The default build
keeps its old id (``test_gcore_bt[1.26.6-cms]``).

| variant  | go build                                             | what the binary lacks / adds                  |
|----------|------------------------------------------------------|-----------------------------------------------|
| default  | CGO_ENABLED=0                                        | static, symbol table + DWARF                  |
| stripped | CGO_ENABLED=0 -ldflags='-s -w'                       | no symbol table, no DWARF (release builds)    |
| nodwarf  | CGO_ENABLED=0 -ldflags=-w                            | no DWARF, symbol table kept                   |
| pie      | CGO_ENABLED=0 -buildmode=pie                         | position independent, loaded at a random base |
| cgo      | CGO_ENABLED=1 -ldflags=-linkmode=external            | runtime/cgo, libc, linked by gcc, dynamic     |
| race     | CGO_ENABLED=1 -race                                  | race detector runtime (TSan), dynamic         |

Examples that import "C" themselves (examples/cgo) always build with
CGO_ENABLED=1; their "cgo" variant would be the default build, so they get
default, stripped, nodwarf and pie. ``race`` is built for cms only,
``many`` (the benchmark program) only in its default build.

Environment:
  GOROSCOPE_VARIANTS          space-separated variant ids to test (default: all)
  GOROSCOPE_FULL_MATRIX_GO    space-separated Go releases that get every
                              variant; the others get REDUCED_VARIANTS
                              (default, stripped, pie) only. Default: every
                              release gets every variant ("all").
The default builds are always included (the shape tests compare with them).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Iterable, Optional


@dataclasses.dataclass(frozen=True)
class Variant:
    id: str
    description: str
    flags: tuple[str, ...] = ()  # go build flags other than -ldflags
    ldflags: tuple[str, ...] = ()  # joined into one -ldflags=...
    cgo: bool = False

    def __str__(self) -> str:
        return self.id


VARIANTS: dict[str, Variant] = {
    v.id: v
    for v in (
        Variant("default", "CGO_ENABLED=0: static, with symbol table and DWARF"),
        Variant("stripped", "-ldflags='-s -w': no symbol table, no DWARF", ldflags=("-s", "-w")),
        Variant("nodwarf", "-ldflags=-w: no DWARF, symbol table kept", ldflags=("-w",)),
        Variant("pie", "-buildmode=pie: position-independent, loaded at a random base", flags=("-buildmode=pie",)),
        Variant(
            "cgo",
            "CGO_ENABLED=1 -ldflags=-linkmode=external: runtime/cgo and libc, linked by gcc (dynamic)",
            ldflags=("-linkmode=external",),
            cgo=True,
        ),
        Variant("race", "-race: race detector runtime (needs cgo)", flags=("-race",), cgo=True),
    )
}
DEFAULT = VARIANTS["default"]

# Variants tested on every Go release when GOROSCOPE_FULL_MATRIX_GO limits
# the full matrix to some releases.
REDUCED_VARIANTS = ("default", "stripped", "pie")

# Per example: which variants apply (examples not named here: default only,
# or the cgo-example set if they import "C").
_EXAMPLE_VARIANTS = {
    "cms": ("default", "stripped", "nodwarf", "pie", "cgo", "race"),
    "crash": ("default", "stripped", "nodwarf", "pie", "cgo"),
    "many": ("default",),
}
_CGO_EXAMPLE_VARIANTS = ("default", "stripped", "nodwarf", "pie")

_IMPORT_C_RE = re.compile(r'^import\s+"C"\s*$|^import\s*\(\s*[^)]*"C"', re.M)


def imports_c(src: Path) -> bool:
    """Whether a Go package directory uses cgo (some file imports "C")."""
    for f in src.glob("*.go"):
        try:
            if _IMPORT_C_RE.search(f.read_text(errors="replace")):
                return True
        except OSError:
            pass
    return False


@dataclasses.dataclass(frozen=True)
class Build:
    """One example built one way."""

    example: str
    variant: Variant
    needs_cgo: bool = False  # the example itself imports "C"

    @property
    def id(self) -> str:
        return self.example if self.variant.id == "default" else f"{self.example}-{self.variant.id}"

    def __str__(self) -> str:
        return self.id

    @property
    def is_default(self) -> bool:
        return self.variant.id == "default"

    @property
    def cgo_enabled(self) -> bool:
        return self.needs_cgo or self.variant.cgo

    @property
    def default(self) -> "Build":
        return Build(self.example, DEFAULT, self.needs_cgo)

    def go_build_args(self, out: Path, extra_ldflags: Iterable[str] = ()) -> list[str]:
        args = ["build", *self.variant.flags]
        ld = [*self.variant.ldflags, *extra_ldflags]
        if ld:
            args.append("-ldflags=" + " ".join(ld))
        return [*args, "-o", str(out), "."]

    def env(self) -> dict[str, str]:
        return {"CGO_ENABLED": "1" if self.cgo_enabled else "0"}

    def describe(self) -> str:
        what = self.variant.description
        if self.needs_cgo and not self.variant.cgo:
            what += ' (CGO_ENABLED=1: the example imports "C")'
        return f"{self.example} [{self.variant.id}: {what}]"


def selected_variant_ids() -> Optional[set[str]]:
    env = os.environ.get("GOROSCOPE_VARIANTS", "").split()
    if not env or env == ["all"]:
        return None
    unknown = [v for v in env if v not in VARIANTS]
    if unknown:
        raise ValueError(f"GOROSCOPE_VARIANTS: unknown variant(s) {unknown}; known: {' '.join(VARIANTS)}")
    return set(env)


def full_matrix(version: str) -> bool:
    env = os.environ.get("GOROSCOPE_FULL_MATRIX_GO", "").split()
    return not env or env == ["all"] or version in env


def variant_ids_for(example: str, needs_cgo: bool) -> tuple[str, ...]:
    if needs_cgo:
        return _CGO_EXAMPLE_VARIANTS
    return _EXAMPLE_VARIANTS.get(example, ("default",))


def builds_for(example: str, src: Path, version: str) -> list[Build]:
    needs_cgo = imports_c(src)
    chosen = selected_variant_ids()
    full = full_matrix(version)
    out = []
    for vid in variant_ids_for(example, needs_cgo):
        if chosen is not None and vid not in chosen and vid != "default":
            continue
        if not full and vid not in REDUCED_VARIANTS:
            continue
        out.append(Build(example, VARIANTS[vid], needs_cgo))
    return out


def sort_key(b: Build) -> tuple[int, str]:
    """Default builds first (they stay up for the whole release: the shape
    tests compare every variant with them), then variant by variant."""
    order = list(VARIANTS)
    return (order.index(b.variant.id), b.example)
