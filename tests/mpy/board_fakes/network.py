"""A fake of MicroPython's network module: a station that connects after
`polls_to_connect` isconnected() calls (None: never)."""

STA_IF = 0
polls_to_connect = 2
joined = []


class WLAN:
    def __init__(self, interface):
        self._polls = 0
        self._connecting = False

    def active(self, on):
        pass

    def isconnected(self):
        if not self._connecting or polls_to_connect is None:
            return False
        self._polls += 1
        return self._polls > polls_to_connect

    def connect(self, ssid, password):
        joined.append((ssid, password))
        self._connecting = True
