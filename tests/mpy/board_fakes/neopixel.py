"""A fake of MicroPython's neopixel module (WS2812 LEDs): each write() is
recorded in machine.calls with the pin and the colours written."""

import machine


class NeoPixel:
    def __init__(self, pin, n):
        self._pin = pin.number
        self._colours = [(0, 0, 0)] * n

    def __setitem__(self, index, colour):
        self._colours[index] = colour

    def write(self):
        machine.calls.append(("neopixel", self._pin, list(self._colours)))
