"""MicroPython firmware for paymote boards (see issue: firmware agent)."""
