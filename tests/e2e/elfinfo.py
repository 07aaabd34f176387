"""Just enough ELF reading for the tests to describe a binary on their own
(without goroscope): section names, the Go and GNU build ids, the Go
release recorded in .go.buildinfo, and whether the symbol table or DWARF is
there. Standard library only; ELF64 little-endian (linux/amd64)."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path
from typing import Optional

_BUILDINFO_MAGIC = b"\xff Go buildinf:"


@dataclasses.dataclass
class Section:
    name: str
    type: int
    offset: int
    size: int


class NotElf(ValueError):
    pass


def _read(path: Path) -> bytes:
    return Path(path).read_bytes()


def sections(data: bytes) -> list[Section]:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise NotElf("not a little-endian ELF64 file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shoff == 0 or shnum == 0:
        return []
    raw = []
    for i in range(shnum):
        name, typ, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        raw.append((name, typ, off, size))
    stroff, strsize = raw[shstrndx][2], raw[shstrndx][3]
    strtab = data[stroff : stroff + strsize]
    out = []
    for name, typ, off, size in raw:
        end = strtab.find(b"\0", name)
        out.append(Section(strtab[name:end].decode(errors="replace"), typ, off, size))
    return out


def _notes(blob: bytes):
    i = 0
    while i + 12 <= len(blob):
        namesz, descsz, typ = struct.unpack_from("<III", blob, i)
        i += 12
        name = blob[i : i + namesz].rstrip(b"\0")
        i += (namesz + 3) & ~3
        desc = blob[i : i + descsz]
        i += (descsz + 3) & ~3
        yield name, typ, desc


def _uvarint(b: bytes, i: int) -> tuple[int, int]:
    x = shift = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << shift
        if c < 0x80:
            return x, i
        shift += 7


@dataclasses.dataclass
class ElfInfo:
    path: Path
    section_names: list[str]
    go_build_id: Optional[str]
    gnu_build_id: Optional[str]  # hex
    go_version: Optional[str]  # "go1.26.6", from .go.buildinfo
    pie: bool

    @property
    def has_symtab(self) -> bool:
        return ".symtab" in self.section_names

    @property
    def has_dwarf(self) -> bool:
        return any(n.startswith((".debug_info", ".zdebug_info")) for n in self.section_names)

    def ids(self) -> list[str]:
        """Every build id of the binary, as text a message may quote."""
        return [x for x in (self.go_build_id, self.gnu_build_id) if x]

    def describe(self) -> str:
        return (
            f"{self.path}: {self.go_version or 'no Go build info'}, "
            f"{'PIE' if self.pie else 'fixed address'}, symbol table {'yes' if self.has_symtab else 'no'}, "
            f"DWARF {'yes' if self.has_dwarf else 'no'}, Go build id {self.go_build_id!r}, GNU build id {self.gnu_build_id!r}"
        )


def read(path: Path) -> ElfInfo:
    data = _read(path)
    secs = sections(data)
    by_name = {s.name: s for s in secs}
    go_id = gnu_id = version = None
    s = by_name.get(".note.go.buildid")
    if s:
        for name, typ, desc in _notes(data[s.offset : s.offset + s.size]):
            if name == b"Go" and typ == 4:
                go_id = desc.decode(errors="replace")
    s = by_name.get(".note.gnu.build-id")
    if s:
        for name, typ, desc in _notes(data[s.offset : s.offset + s.size]):
            if name == b"GNU" and typ == 3:
                gnu_id = desc.hex()
    s = by_name.get(".go.buildinfo")
    if s:
        blob = data[s.offset : s.offset + s.size]
        if blob.startswith(_BUILDINFO_MAGIC) and len(blob) > 32 and blob[15] & 2:
            n, i = _uvarint(blob, 32)
            version = blob[i : i + n].decode(errors="replace")
    e_type = struct.unpack_from("<H", data, 0x10)[0]
    return ElfInfo(Path(path), [x.name for x in secs], go_id, gnu_id, version, pie=e_type == 3)
