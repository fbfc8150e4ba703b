"""NMEA 0183 from a UART GPS: GGA and RMC sentences, checksums verified.

Everything is integers (ESP32 floats are single precision): latitude and
longitude in 1e-7 degrees, as crypto.messages.location() takes them,
altitude in decimetres, speed in mm/s, time in Unix seconds.
"""

try:  # CPython, installed: one copy of each module
    from paymote.crypto._compat import const
except ImportError:  # on a board
    from crypto._compat import const

SENTENCE_CHARS_MAX = const(82)  # NMEA 0183 §5.3, including $ and CR LF
_MM_PER_S_PER_KNOT_E6 = const(514444)  # 1 knot = 0.514444 m/s
_YEAR_PIVOT = const(80)  # yy 80..99 is 19yy, 00..79 is 20yy


class NmeaError(ValueError):
    """A sentence that is malformed or fails its checksum."""


class Fix:
    """What one sentence says. Fields a sentence does not carry are None."""

    __slots__ = ("lat_e7", "lon_e7", "alt_dm", "satellites", "speed_mm_s", "time_s", "valid")

    def __init__(self):
        self.lat_e7 = None
        self.lon_e7 = None
        self.alt_dm = None
        self.satellites = None
        self.speed_mm_s = None
        self.time_s = None
        self.valid = False


def _checked_fields(line):
    """The comma-separated fields between $ and *, after checking the checksum."""
    line = line.strip()
    if len(line) + 2 > SENTENCE_CHARS_MAX or not line.startswith("$"):
        raise NmeaError("not a sentence")
    star = line.rfind("*")
    if star < 0 or len(line) != star + 3:
        raise NmeaError("no checksum")
    body = line[1:star]
    expected = 0
    for ch in body:
        expected ^= ord(ch)
    try:
        given = int(line[star + 1 :], 16)
    except ValueError:
        raise NmeaError("checksum is not hex") from None
    if given != expected:
        raise NmeaError("checksum mismatch")
    return body.split(",")


def _decimal(text, digits):
    """A non-negative decimal string as an integer scaled by 10**digits (truncated)."""
    whole, _, frac = text.partition(".")
    if not whole.isdigit() and whole != "" or frac and not frac.isdigit():
        raise NmeaError("not a number: %s" % text)
    frac = (frac + "0" * digits)[:digits]
    return int(whole or "0") * 10**digits + int(frac or "0")


def _angle_e7(text, hemisphere, degree_digits):
    """ddmm.mmmm (or dddmm.mmmm) and N/S/E/W as 1e-7 degrees."""
    if len(text) < degree_digits + 2:
        raise NmeaError("short coordinate")
    degrees = int(text[:degree_digits])
    micro_minutes = _decimal(text[degree_digits:], 6)
    if micro_minutes >= 60 * 10**6:
        raise NmeaError("minutes out of range")
    value = degrees * 10**7 + (micro_minutes + 3) // 6  # 1e-6 min = 1/6 of 1e-7 degree
    if hemisphere in ("S", "W"):
        return -value
    if hemisphere not in ("N", "E"):
        raise NmeaError("hemisphere")
    return value


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _seconds_of_day(text):
    if len(text) < 6 or not text[:6].isdigit():
        raise NmeaError("time")
    hours, minutes, seconds = int(text[0:2]), int(text[2:4]), int(text[4:6])
    if hours > 23 or minutes > 59 or seconds > 60:
        raise NmeaError("time out of range")
    return hours * 3600 + minutes * 60 + seconds


def parse(line):
    """A Fix from one GGA or RMC sentence (any talker: GP, GN, GL...); None
    for other sentence types; NmeaError for a bad one."""
    fields = _checked_fields(line)
    kind = fields[0][2:]
    fix = Fix()
    if kind == "GGA" and len(fields) >= 10:
        fix.valid = fields[6] not in ("", "0")
        if fix.valid:
            fix.lat_e7 = _angle_e7(fields[2], fields[3], 2)
            fix.lon_e7 = _angle_e7(fields[4], fields[5], 3)
            negative = fields[9].startswith("-")
            alt = _decimal(fields[9].lstrip("-"), 1)
            fix.alt_dm = -alt if negative else alt
            fix.satellites = int(fields[7]) if fields[7].isdigit() else None
        return fix
    if kind == "RMC" and len(fields) >= 10:
        fix.valid = fields[2] == "A"
        if fix.valid:
            fix.lat_e7 = _angle_e7(fields[3], fields[4], 2)
            fix.lon_e7 = _angle_e7(fields[5], fields[6], 3)
            fix.speed_mm_s = _decimal(fields[7], 3) * _MM_PER_S_PER_KNOT_E6 // 10**6
            date = fields[9]
            if len(date) != 6 or not date.isdigit():
                raise NmeaError("date")
            day, month, yy = int(date[0:2]), int(date[2:4]), int(date[4:6])
            year = 1900 + yy if yy >= _YEAR_PIVOT else 2000 + yy  # NMEA years have two digits
            if not (1 <= month <= 12 and 1 <= day <= 31):
                raise NmeaError("date out of range")
            fix.time_s = days_from_civil(year, month, day) * 86400 + _seconds_of_day(fields[1])
        return fix
    return None


class NmeaReader:
    """Bytes from the UART in, fixes out. Bounded: a line longer than NMEA
    allows is dropped whole, so noise on the wire cannot grow memory."""

    def __init__(self):
        self._line = bytearray()
        self._overlong = False
        self.rejected = 0  # sentences that failed parsing or their checksum

    def feed(self, data):
        """Fixes from the complete sentences in data (partial lines are kept)."""
        fixes = []
        for byte in data:
            if byte == 0x0A:  # LF ends a sentence
                if not self._overlong and self._line:
                    try:
                        fix = parse(self._line.decode())
                    except (NmeaError, ValueError):
                        self.rejected += 1
                        fix = None
                    if fix is not None:
                        fixes.append(fix)
                self._line = bytearray()
                self._overlong = False
            elif len(self._line) < SENTENCE_CHARS_MAX:
                self._line.append(byte)
            else:
                self._overlong = True
        return fixes
