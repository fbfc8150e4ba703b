"""The world of the boards with a GPS or a soil probe (simulator/world.py
has the household and the clock): a car's commute with harsh brakings, a
delivery van's route with button presses at the stops, and a farm's soil.
Portable, like world.py."""

import math

try:
    from paymote.simulator.world import _DAY_S, Rng
except ImportError:
    from simulator.world import _DAY_S, Rng

_M_PER_DEG_LAT = 111195
_STOP_DWELL_S = 180
_VAN_SPEED_MM_S = 11000  # about 40 km/h in town
_MM_S2_PER_G = 9807
_RMC_PER_WAKE_MAX = 4  # the newest fixes a late wake still finds in the UART


def nmea_checksum(body):
    x = 0
    for ch in body:
        x ^= ord(ch)
    return "%02X" % x


def _angle(value_e7, degree_digits):
    """1e-7 degrees -> NMEA (d)ddmm.mmmm and hemisphere sign."""
    negative = value_e7 < 0
    value_e7 = -value_e7 if negative else value_e7
    degrees = value_e7 // 10000000
    minutes_e4 = (value_e7 % 10000000) * 60 // 1000  # minutes * 10**4
    text = "%0*d%02d.%04d" % (degree_digits, degrees, minutes_e4 // 10000, minutes_e4 % 10000)
    return text, negative


def rmc_sentence(time_s, lat_e7, lon_e7, speed_mm_s, course_deg=0):
    """A valid $GPRMC sentence (NMEA 0183) with its checksum, as bytes."""
    days, sod = divmod(time_s, _DAY_S)
    y, m, d = civil_from_days(days)
    lat, south = _angle(lat_e7, 2)
    lon, west = _angle(lon_e7, 3)
    knots_e3 = speed_mm_s * 1000000 // 514444
    body = "GPRMC,%02d%02d%02d.00,A,%s,%s,%s,%s,%d.%03d,%d.0,%02d%02d%02d,,,A" % (
        sod // 3600,
        sod // 60 % 60,
        sod % 60,
        lat,
        "S" if south else "N",
        lon,
        "W" if west else "E",
        knots_e3 // 1000,
        knots_e3 % 1000,
        course_deg,
        d,
        m,
        y % 100,
    )
    return ("$%s*%s\r\n" % (body, nmea_checksum(body))).encode()


def civil_from_days(days):
    """(year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


class _Track:
    """A vehicle's position and speed as a function of simulated time."""

    def __init__(self, lat_e7, lon_e7):
        self.lat_e7 = lat_e7
        self.lon_e7 = lon_e7
        self.speed_mm_s = 0
        self.heading_deg = 0

    def move(self, speed_mm_s, seconds):
        self.speed_mm_s = speed_mm_s
        metres = speed_mm_s * seconds / 1000
        rad = self.heading_deg * math.pi / 180
        self.lat_e7 += int(metres * math.cos(rad) / _M_PER_DEG_LAT * 1e7)
        cos_lat = math.cos(self.lat_e7 * math.pi / 1.8e9)
        self.lon_e7 += int(metres * math.sin(rad) / (_M_PER_DEG_LAT * cos_lat) * 1e7)


class _Gps:
    """Writes one RMC a simulated second into the board's UART."""

    def __init__(self, uart, track):
        self._uart = uart
        self.track = track
        self._t = None

    def emit(self, t_s, step):
        """Move the track from the last emitted second to t_s with step(t) ->
        speed_mm_s, writing the newest fixes (a late wake loses the older)."""
        if self._t is None:
            self._t = t_s - 1
        first = max(self._t + 1, t_s - _RMC_PER_WAKE_MAX + 1)
        t = self._t + 1
        while t <= t_s:
            self.track.move(step(t), 1)
            if t >= first:
                track = self.track
                self._uart.write_in(rmc_sentence(t, track.lat_e7, track.lon_e7, track.speed_mm_s))
            t += 1
        self._t = t_s


class Car:
    """A car that drives to work at 7:30 and back at 17:30, 20 to 40 minutes
    each way, easing through a junction every ten minutes, and now and then
    braking hard behind someone."""

    _EASE_MM_S2 = 2000  # ordinary driving: under the harsh-braking threshold

    def __init__(self, seed, uart, accelerometer=None, lat_e7=523700000, lon_e7=48900000):
        rng = Rng(seed)
        self._accelerometer = accelerometer  # a parts.FakeMPU6050: forward is its x axis
        self._seed = seed
        self.trip_s = 1200 + rng.below(1200)
        self.cruise_mm_s = 12000 + rng.below(12000)
        self._heading_deg = rng.below(360)
        self._gps = _Gps(uart, _Track(lat_e7 + rng.below(200000), lon_e7 + rng.below(200000)))
        self._v = 0
        self.harsh_brakings = 0

    def _target(self, t_s):
        sod = t_s % _DAY_S
        for start, heading in ((27000, self._heading_deg), (63000, (self._heading_deg + 180) % 360)):
            into = sod - start
            if 0 <= into < self.trip_s:
                self._gps.track.heading_deg = heading
                if into % 300 == 150 and Rng(self._seed ^ (t_s // 300)).below(100) < 20:
                    return None  # the car ahead brakes: so does this one, hard
                return self.cruise_mm_s // 3 if into % 600 < 60 else self.cruise_mm_s
        return 0

    def speed_at(self, t_s):
        """The speed at second t_s; called once per simulated second, in order."""
        target = self._target(t_s)
        before = self._v
        if target is None:
            self.harsh_brakings += 1
            self._v = self._v // 4
        elif target > self._v:
            self._v = min(target, self._v + self._EASE_MM_S2)
        else:
            self._v = max(target, self._v - self._EASE_MM_S2)
        if self._accelerometer is not None:  # over that second, in milli-g (9,807 mm/s² a g)
            self._accelerometer.mg = ((self._v - before) * 1000 // _MM_S2_PER_G, 0, 1000)
        return self._v

    def advance(self, t0_s, t1_s):
        self._gps.emit(t1_s, self.speed_at)


def route(seed, stops=12, lat_e7=523600000, lon_e7=48800000):
    """The dispatcher's route for a van: consignment ids and stop positions,
    about a kilometre apart along a line (what route.json holds)."""
    rng = Rng(seed)
    out = []
    for i in range(stops):
        out.append(
            {
                "id": "c%d-%03d" % (seed, i + 1),
                "lat_e7": lat_e7 + (i + 1) * 90000 + rng.below(2000),
                "lon_e7": lon_e7 + rng.below(2000),
            }
        )
    return out


class Van:
    """A delivery van that drives its route from 8:00 on the first day, dwells
    three minutes at each stop, and has the driver press the button once
    there; then it stays parked."""

    def __init__(self, seed, uart, button, stops):
        self._stops = stops
        self._button = button
        self._legs = []  # (arrive_s since 8:00, stop index)
        start = stops[0]
        track = _Track(start["lat_e7"] - 90000, start["lon_e7"])
        self._gps = _Gps(uart, track)
        t = 0
        for i in range(len(stops)):
            t += 1000 * 1000 // _VAN_SPEED_MM_S  # the stops are about a kilometre apart
            self._legs.append((t, i))
            t += _STOP_DWELL_S
        self._pressed = set()  # stops whose button press happened
        self._first_day = None
        self.presses = 0

    def _place(self, t_s):
        """(stop index the van is at, or None; whether it is driving)."""
        if self._first_day is None:
            self._first_day = t_s // _DAY_S
        if t_s // _DAY_S != self._first_day:
            return None, False
        into = t_s % _DAY_S - 28800  # since 8:00
        for arrive_s, i in self._legs:
            if arrive_s <= into < arrive_s + _STOP_DWELL_S:
                return i, False
        last = self._legs[-1][0] + _STOP_DWELL_S
        return None, 0 <= into < last

    def advance(self, t0_s, t1_s):
        track = self._gps.track
        at, driving = self._place(t1_s)
        if at is not None:
            stop = self._stops[at]
            track.lat_e7, track.lon_e7 = stop["lat_e7"], stop["lon_e7"]  # parked at the door
            if at not in self._pressed:
                self._pressed.add(at)
                self._gps.emit(t1_s, lambda t: 0)  # the fix first: the board knows where it is
                self.presses += 1
                self._button.falling()
                return
        self._gps.emit(t1_s, lambda t: _VAN_SPEED_MM_S if driving else 0)


class Farm:
    """Soil moisture: evaporation by day, irrigation at 6:00 every other day.
    Sets the probe's ADC as the part would read."""

    def __init__(self, seed, adc, dry_raw, wet_raw):
        rng = Rng(seed)
        self._adc = adc
        self._dry = dry_raw
        self._wet = wet_raw
        self.moisture_e4 = 3000 + rng.below(2000)  # share of the calibrated range * 10**4
        self._irrigation_day = rng.below(2)

    def advance(self, t0_s, t1_s):
        t = t0_s
        while t < t1_s:
            step = min(3600, t1_s - t)
            hour = t % _DAY_S // 3600
            if 9 <= hour < 18:
                self.moisture_e4 -= 6 * step // 360  # by day it dries 0.6 % of the range an hour
            if hour == 6 and (t // _DAY_S) % 2 == self._irrigation_day and t % 3600 < step:
                self.moisture_e4 += 2500
            self.moisture_e4 = max(500, min(9500, self.moisture_e4))
            t += step
        self._adc.raw = self._dry - (self._dry - self._wet) * self.moisture_e4 // 10000
