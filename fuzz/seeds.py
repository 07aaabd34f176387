#!/usr/bin/env python3
"""Writes small valid seed inputs for the fuzz targets into corpus/<target>/.

The fuzzer finds its way much faster from a valid core-note sequence and a
valid pclntab than from nothing. Run from anywhere: python3 fuzz/seeds.py
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def _pad(b):
    return b + b"\0" * (-len(b) % 4)


def note(ty, desc, name=b"CORE\0"):
    pad = _pad
    return struct.pack("<III", len(name), len(desc), ty) + pad(name) + pad(desc)


def prstatus(tid, cursig, k):
    d = bytearray(336)
    struct.pack_into("<H", d, 12, cursig)
    struct.pack_into("<i", d, 32, tid)
    for i in range(27):
        struct.pack_into("<Q", d, 112 + 8 * i, (k << 32) | (0x100 + i))
    # rsp and rip inside the skeleton's segments, so reads follow them.
    struct.pack_into("<Q", d, 112 + 8 * 19, 0x10100)
    struct.pack_into("<Q", d, 112 + 8 * 16, 0x20800)
    return bytes(d)


def core_notes():
    psinfo = bytearray(136)
    struct.pack_into("<i", psinfo, 24, 4242)
    psinfo[40:46] = b"crashy"
    auxv = struct.pack("<6Q", 3, 0x20040, 9, 0x21080, 0, 0)
    path = b"/nonexistent/goroscope-fuzz-exe"
    ntfile = struct.pack("<5Q", 1, 0x1000, 0x20000, 0x22000, 0) + path + b"\0"
    siginfo = struct.pack("<i", 6) + bytes(124)
    return b"".join(
        [
            note(1, prstatus(100, 6, 1)),
            note(3, bytes(psinfo)),
            note(1, prstatus(101, 0, 2)),
            note(6, auxv),
            note(0x46494C45, ntfile),
            note(0x53494749, siginfo),
        ]
    )


def skeleton(notes):
    """The same skeleton the core_notes target wraps non-ELF inputs in."""
    loads = [(0x10000, 0x2000, 0x2000), (0x20000, 0x2000, 0x1000)]
    nph = 1 + len(loads)
    hdr = bytearray(64 + 56 * nph)
    hdr[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HHI", hdr, 16, 4, 62, 1)
    struct.pack_into("<Q", hdr, 32, 64)
    struct.pack_into("<HHH", hdr, 52, 64, 56, nph)
    off = len(hdr)
    struct.pack_into("<IIQQQQQ", hdr, 64, 4, 4, off, 0, 0, len(notes), 0)
    off += len(notes)
    body = bytearray(notes)
    for i, (vaddr, memsz, filesz) in enumerate(loads):
        struct.pack_into("<IIQQQQQ", hdr, 64 + 56 * (i + 1), 1, 4, off, vaddr, 0, filesz, memsz)
        off += filesz
        body += b"\xa5" * filesz
    return bytes(hdr) + bytes(body)


def uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def pcvalue(runs):
    out, prev = bytearray(), -1
    for value, length in runs:
        d = value - prev
        out += uvarint(((d << 1) ^ (d >> 31)) & 0xFFFFFFFF)
        out += uvarint(length)
        prev = value
    return bytes(out + b"\0")


def pclntab():
    """Three functions; main.helper has an inline tree (PCDATA 2, FUNCDATA 3)
    placed in the input itself (the target serves the input as gofunc)."""
    funcs = [
        ("main.main", 0x00, [(0, 4), (8, 0x3C)], [(0, 0x40)], [(10, 0x10), (11, 0x30)], [], []),
        (
            "main.helper",
            0x40,
            [(0, 8), (0x18, 0x58)],
            [(1, 0x60)],
            [(21, 0x20), (30, 0x40)],
            [None, None, [(-1, 0x10), (0, 0x10), (1, 0x10), (-1, 0x30)]],
            [0xFFFFFFFF] * 3 + ["INL"],
        ),
        ("runtime.goexit", 0xA0, [(0, 1), (0x100, 0x1F)], [(0, 0x20)], [(301, 0x20)], [], []),
    ]
    names, name_offs = bytearray(), []
    for f in funcs:
        name_offs.append(len(names))
        names += f[0].encode() + b"\0"
    filetab = b"/src/main.go\0/src/helper.go\0"
    cutab = struct.pack("<II", 0, 13)
    pctab = bytearray(b"\0")

    def table(runs):
        if runs is None:
            return 0
        off = len(pctab)
        pctab.extend(pcvalue(runs))
        return off

    recs = []
    for f in funcs:
        recs.append((table(f[2]), table(f[3]), table(f[4]), [table(t) for t in f[5]]))
    n = len(funcs)
    pcln = bytearray(8 * (n + 1))
    fixups = []
    for i, (f, (sp, fl, ln, pcd)) in enumerate(zip(funcs, recs)):
        funcoff = len(pcln)
        struct.pack_into("<II", pcln, 8 * i, f[1], funcoff)
        rec = bytearray(struct.pack("<IiiIIIIIIi", f[1], name_offs[i], 16, 0, sp, fl, ln, len(pcd), 0, 1))
        rec += bytes([0, 0, 0, len(f[6])])
        for p in pcd:
            rec += struct.pack("<I", p)
        for fd in f[6]:
            if fd == "INL":
                fixups.append(len(pcln) + len(rec))
                fd = 0
            rec += struct.pack("<I", fd)
        pcln += rec
    struct.pack_into("<II", pcln, 8 * n, 0xC0, 0)
    hdr = bytearray(72)
    struct.pack_into("<IBBBB", hdr, 0, 0xFFFFFFF1, 0, 0, 1, 8)
    struct.pack_into("<QQQ", hdr, 8, n, 2, 0)
    body = bytearray()
    for field, blob in enumerate([names, cutab, filetab, pctab, pcln]):
        struct.pack_into("<Q", hdr, 32 + 8 * field, 72 + len(body))
        if field == 4:
            pcln_off = 72 + len(body)
        body += blob
    img = bytearray(hdr + body)
    img += b"\0" * (-len(img) % 8)
    inl = len(img)
    for func_id, name_off, parent, line in [(0, 0, 0x0C, 100), (3, name_offs[2], 0x14, 200)]:
        img += struct.pack("<B3xiii", func_id, name_off, parent, line)
    for fx in fixups:
        struct.pack_into("<I", img, pcln_off + fx, inl)
    return bytes(img)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


if __name__ == "__main__":
    notes = core_notes()
    write("core_notes", "seed-notes", notes)
    write("core_notes", "seed-core", skeleton(notes))
    write("pclntab", "seed-table", pclntab())
