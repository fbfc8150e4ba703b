"""Mounts the ROMFS image named by argv[1] (gateway/romfs.py) with vfs.VfsRom
and prints one line a file: its path, its size by os.stat and by reading it,
and its SHA-256."""

import binascii
import hashlib
import os
import sys

import vfs

_DIRECTORY = 0x4000

with open(sys.argv[1], "rb") as f:
    vfs.mount(vfs.VfsRom(f.read()), "/rom")


def walk(folder, prefix):
    for entry in os.ilistdir(folder):
        name, kind = entry[0], entry[1]
        if kind == _DIRECTORY:
            walk(folder + "/" + name, prefix + name + "/")
            continue
        with open(folder + "/" + name, "rb") as f:
            data = f.read()
        digest = binascii.hexlify(hashlib.sha256(data).digest()).decode()
        print(prefix + name, os.stat(folder + "/" + name)[6], len(data), digest)


walk("/rom", "")
print("end")
