"""A fake of MicroPython's machine module for testing firmware/hal.py on the
unix port and CPython (micropython-lib's FakeMachine pattern): every call is
recorded in `calls`, as (what, arguments)."""

calls = []


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 2

    def __init__(self, number, mode=None, pull=None):
        self.number = number
        calls.append(("Pin", number, mode, pull))

    def value(self, level):
        calls.append(("value", self.number, level))


class SoftI2C:
    def __init__(self, scl, sda, freq):
        calls.append(("SoftI2C", scl.number, sda.number, freq))


class UART:
    def __init__(self, number, baudrate, tx, rx, rxbuf):
        calls.append(("UART", number, baudrate, tx.number, rx.number, rxbuf))


class ADC:
    def __init__(self, pin):
        calls.append(("ADC", pin.number))


class RTC:
    def datetime(self, value):
        calls.append(("RTC.datetime", value))


class WDT:
    def __init__(self, timeout):
        calls.append(("WDT", timeout))

    def feed(self):
        calls.append(("feed",))


def lightsleep(ms):
    calls.append(("lightsleep", ms))
