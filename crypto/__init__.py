"""paymote's portable message formats and signing.

The same source files run on MicroPython 1.22+ (the boards) and CPython 3.10+
(the gateway and tools). Interpreter differences live in ``_compat`` only.
Modules import each other relatively so the package works both as ``crypto``
on a board and as ``paymote.crypto`` when installed.
"""
