"""Board emulation for paymote. ``sample`` is portable (it also runs on the
MicroPython interpreter); the rest of the simulator is CPython."""
