"""A fake of MicroPython's ntptime: settime() works while `reachable`."""

reachable = True
settimes = []


def settime():
    if not reachable:
        raise OSError(110)  # ETIMEDOUT
    settimes.append(True)
