"""A fake of MicroPython's network module: one station (WLAN(STA_IF) is the
same interface each time, as on a board) that connects `polls_to_connect`
isconnected() calls after connect() (None: never); drop() loses the link."""

STA_IF = 0
polls_to_connect = 2
joined = []
_link = {"connecting": False, "polls": 0}


def drop():
    _link["connecting"] = False


class WLAN:
    def __init__(self, interface):
        pass

    def active(self, on):
        pass

    def isconnected(self):
        if not _link["connecting"] or polls_to_connect is None:
            return False
        _link["polls"] += 1
        return _link["polls"] > polls_to_connect

    def connect(self, ssid, password):
        joined.append((ssid, password))
        _link["connecting"], _link["polls"] = True, 0
