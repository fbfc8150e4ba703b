"""ROMFS images: MicroPython's read-only, memory-mapped filesystem (1.25+,
`vfs.VfsRom`), from which a board imports `.mpy` files in place, their
bytecode and constants read from flash instead of copied into the heap
(docs/performance.md measures what that leaves free).

The format, as MicroPython's extmod/vfs_rom.c reads it and its
tools/mpremote/romfs.py writes it:

    image   = d2 cd 31  <uint: length of records>  records
    record  = <uint: kind>  <uint: length of payload>  payload
    dir     = kind 4, payload  <uint: name length> name  records
    file    = kind 5, payload  <uint: name length> name  (kind 2, payload: the file's bytes)

where <uint> is big-endian base 128, every byte but the last with its top
bit set. An image's length is even: where it would be odd, the first length
takes one more byte (a leading 0x80, which adds nothing to the value).

Deploying an image needs firmware built with a ROM partition
(MICROPY_VFS_ROM; the stock ESP32 and RP2 builds have none) and
`mpremote romfs deploy`; nothing here writes to a board.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Union

HEADER = b"\xd2\xcd\x31"
_DATA_VERBATIM, _DIRECTORY, _FILE = 2, 4, 5

_Tree = dict[str, Union[bytes, "_Tree"]]


def _uint(value: int) -> bytes:
    out = bytearray((value & 0x7F,))
    value >>= 7
    while value:
        out.insert(0, 0x80 | (value & 0x7F))
        value >>= 7
    return bytes(out)


def _record(kind: int, payload: bytes) -> bytes:
    return _uint(kind) + _uint(len(payload)) + payload


def _named(name: str) -> bytes:
    encoded = name.encode("ascii")
    return _uint(len(encoded)) + encoded


def _records(tree: _Tree) -> bytes:
    out = bytearray()
    for name in sorted(tree):
        entry = tree[name]
        if isinstance(entry, bytes):
            out += _record(_FILE, _named(name) + _record(_DATA_VERBATIM, entry))
        else:
            out += _record(_DIRECTORY, _named(name) + _records(entry))
    return bytes(out)


def _tree(files: Mapping[str, bytes]) -> _Tree:
    """{"lib/crypto/cbor.mpy": data} as nested directories; ValueError for a
    path that is not plain relative ASCII, or a name both file and directory."""
    root: _Tree = {}
    for path, data in files.items():
        parts = path.split("/")
        if not path.isascii() or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"{path!r}: not a plain relative ASCII path")
        folder = root
        for part in parts[:-1]:
            inner = folder.setdefault(part, {})
            if isinstance(inner, bytes):
                raise ValueError(f"{path!r}: {part!r} is a file")
            folder = inner
        if parts[-1] in folder:
            raise ValueError(f"{path!r}: named twice")
        folder[parts[-1]] = bytes(data)
    return root


def image(files: Mapping[str, bytes]) -> bytes:
    """A ROMFS image holding files ({path: bytes}, paths relative to its root)."""
    records = _records(_tree(files))
    length = _uint(len(records))
    if (len(HEADER) + len(length) + len(records)) % 2:
        length = b"\x80" + length
    return HEADER + length + records


def image_of(folder: Path, within: str = "") -> bytes:
    """A ROMFS image of every file under folder/within, at their paths relative to folder."""
    files = (folder / within).rglob("*")
    return image({p.relative_to(folder).as_posix(): p.read_bytes() for p in files if p.is_file()})
