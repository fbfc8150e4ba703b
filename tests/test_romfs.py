"""ROMFS images (gateway/romfs.py) as MicroPython's own vfs.VfsRom reads them."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.gateway import romfs
from tests.conftest import MPY_SCRIPTS, compile_tree, run_micropython

pytestmark = pytest.mark.micropython

_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=12).filter(
    lambda n: n not in (".", "..")
)
_paths = st.lists(_names, min_size=1, max_size=4).map("/".join)
_files = st.dictionaries(_paths, st.binary(max_size=300), max_size=12)


def _consistent(files: dict[str, bytes]) -> dict[str, bytes]:
    """files without the paths that run through another's file name."""
    kept: dict[str, bytes] = {}
    for path in sorted(files, key=len):
        prefixes = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
        if not any(p in kept for p in prefixes) and not any(k.startswith(path + "/") for k in kept):
            kept[path] = files[path]
    return kept


def _walked(tmp_path, image: bytes) -> str:
    (tmp_path / "image.romfs").write_bytes(image)
    return run_micropython(MPY_SCRIPTS / "romfs_walk.py", str(tmp_path / "image.romfs"), heap="1M")


@settings(max_examples=25, deadline=None)
@given(files=_files.map(_consistent))
def test_micropython_reads_back_every_file_of_an_image(tmp_path_factory, files):
    """Every file written into an image is there when MicroPython mounts it: path, size, bytes."""
    image = romfs.image(files)
    assert image.startswith(romfs.HEADER) and len(image) % 2 == 0
    expected = sorted(f"{p} {len(d)} {len(d)} {hashlib.sha256(d).hexdigest()}" for p, d in files.items())
    lines = _walked(tmp_path_factory.mktemp("romfs"), image).splitlines()
    assert lines[-1] == "end"
    assert sorted(lines[:-1]) == expected


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"/lib/a.mpy": b""}, "plain relative"),
        ({"lib//a.mpy": b""}, "plain relative"),
        ({"lib/../a.mpy": b""}, "plain relative"),
        ({"lib/é.mpy": b""}, "plain relative"),
        ({"lib": b"", "lib/a.mpy": b""}, "is a file"),
        ({"lib/a.mpy": b"", "lib": b""}, "named twice"),
    ],
)
def test_a_path_an_image_cannot_hold_is_refused(files, problem):
    """Absolute, empty, dot and non-ASCII names, and a name that is both file and folder, raise."""
    with pytest.raises(ValueError, match=problem):
        romfs.image(files)


def test_modules_imported_from_an_image_leave_their_bytecode_in_it(tmp_path):
    """crypto/ imported from a mounted image takes under two thirds of the heap it takes
    imported from the filesystem: bytecode and constants stay in the image (in place)."""
    compiled = tmp_path / "compiled"
    compile_tree(compiled, "x64")
    (tmp_path / "lib.romfs").write_bytes(romfs.image_of(compiled))
    script = tmp_path / "import_heap.py"
    script.write_text(
        "import gc, sys, vfs\n"
        "if sys.argv[1] == 'rom':\n"
        "    vfs.mount(vfs.VfsRom(open(sys.argv[2], 'rb').read()), '/rom')\n"
        "    sys.path.insert(0, '/rom')\n"
        "gc.collect()\n"
        "before = gc.mem_free()\n"
        "from crypto import cbor, cose, ed25519, messages, sha512\n"
        "gc.collect()\n"
        "print(before - gc.mem_free())\n"
    )
    from_files = int(run_micropython(script, "files", heap="1M", path=compiled))
    from_image = int(run_micropython(script, "rom", str(tmp_path / "lib.romfs"), heap="1M", path=tmp_path))
    print(f"crypto/ imported: {from_files} B of heap from files, {from_image} B from a ROMFS image")
    assert from_image < from_files * 2 // 3
