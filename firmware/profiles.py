"""The products besides energy, each an object the agent bills from (the
shape of agent.MeteredBilling: resume, charge, charged, records, and poll,
which the main loop calls once a second while the board is awake, or None):

    DistanceBilling  an Odometer's metres from GPS fixes (per-kilometre insurance),
                     with harsh-braking events from the speed between fixes, and
                     handling events from an accelerometer where the board has one
    Deliveries       pay on delivery: the driver's button at a stop of the route
    SoilReadings     moisture and air climate readings (credit data, no payments)

Loaded only on boards whose profile needs it, so the energy meter's small
heap never holds this code.
"""

import json
import math

try:  # CPython, installed: one copy of each module
    from paymote.crypto import cbor, messages
    from paymote.crypto._compat import const
    from paymote.firmware.agent import MeteredBilling
    from paymote.firmware.gps import NmeaReader
    from paymote.firmware.sensors import SensorError, SoilProbe, find
except ImportError:  # on a board
    from crypto import cbor, messages
    from crypto._compat import const
    from firmware.agent import MeteredBilling
    from firmware.gps import NmeaReader
    from firmware.sensors import SensorError, SoilProbe, find

MOVING_MM_S_MIN = const(500)  # below this a fix's movement is GPS jitter, not travel
HARSH_BRAKING_MM_S2 = const(3500)  # about 0.36 g: the common telematics threshold
HANDLING_MG = const(350)  # the same threshold, as the accelerometer measures it
_MM_PER_DEG_E7_NUM = const(111195)  # mm per 1e-7 degree of latitude, times 10**4
STOP_RADIUS_M = const(100)  # a delivery confirmed farther than this from its stop is refused
UART_READ_BYTES_MAX = const(256)  # one poll's read: the UART's receive buffer


def distance_mm(lat1_e7, lon1_e7, lat2_e7, lon2_e7):
    """Distance between two nearby points (equirectangular: within 0.1 % below
    10 km, and fixes are a second apart)."""
    mean_lat_rad = (lat1_e7 + lat2_e7) * (math.pi / 3.6e9)  # mean degrees * pi / 180
    dy = (lat2_e7 - lat1_e7) * _MM_PER_DEG_E7_NUM / 10000
    dx = (lon2_e7 - lon1_e7) * _MM_PER_DEG_E7_NUM / 10000 * math.cos(mean_lat_rad)
    return int(math.sqrt(dx * dx + dy * dy))


class Odometer:
    """Distance and driving events: from a UART GPS's RMC fixes, and from the
    board's accelerometer (a motion.Motion) if it has one. poll() reads what
    the UART holds and samples the accelerometer; the IRQ-free loop is the
    board's once-a-second wake."""

    def __init__(self, uart, motion=None):
        self._uart = uart
        self._motion = motion
        self._reader = NmeaReader()
        self._last = None  # the previous valid RMC fix
        self._mm = 0
        self._braking = False
        self.harsh_brakings = 0
        self.fix = None  # the newest valid fix, for the readings and the stops

    def poll(self):
        if self._motion is not None:
            self._motion.poll()
        data = self._uart.read(UART_READ_BYTES_MAX)
        if data:
            for fix in self._reader.feed(data):
                if fix.valid and fix.speed_mm_s is not None:  # RMC: position, speed and time
                    self._take(fix)

    def _take(self, fix):
        last = self._last
        self._last = self.fix = fix
        if last is None or fix.time_s <= last.time_s:
            return  # the first fix, or one out of order: nothing to measure
        if fix.speed_mm_s >= MOVING_MM_S_MIN or last.speed_mm_s >= MOVING_MM_S_MIN:
            self._mm += distance_mm(last.lat_e7, last.lon_e7, fix.lat_e7, fix.lon_e7)
        deceleration = (last.speed_mm_s - fix.speed_mm_s) // (fix.time_s - last.time_s)
        if deceleration >= HARSH_BRAKING_MM_S2:
            if not self._braking:  # one event per braking, however many seconds it lasts
                self.harsh_brakings += 1
            self._braking = True
        else:
            self._braking = False

    def distance_m(self):
        """Metres travelled since boot."""
        return self._mm // 1000

    def records(self, t):
        """Driving events and the last position, for the reading batch."""
        out = [messages.senml("braking", "count", self.harsh_brakings, t)]
        if self._motion is not None:
            out.append(messages.senml("handling", "count", self._motion.events, t))
        if self.fix is not None:
            # Doubles from integers: an ESP32's single-precision floats would lose metres.
            out.append(messages.senml("lat", "lat", cbor.float_from_decimal(self.fix.lat_e7, -7), t))
            out.append(messages.senml("lon", "lon", cbor.float_from_decimal(self.fix.lon_e7, -7), t))
        return out


class DistanceBilling(MeteredBilling):
    """Per-kilometre usage: the Odometer's metres, priced and carried like any meter."""

    def __init__(self, odometer, price_minor_per_km):
        super().__init__(
            odometer.distance_m, price_minor_per_km, messages.EVIDENCE_DISTANCE_M, "distance", "m"
        )
        self._odometer = odometer
        self.poll = odometer.poll

    def records(self, t):
        return super().records(t) + self._odometer.records(t)


class Deliveries:
    """Pay on delivery. The route (route.json from the dispatcher: consignment
    id and stop position) is on flash; the driver presses the button at a
    stop; a press within STOP_RADIUS_M of an undelivered stop charges that
    consignment once. Exactly once across power cuts: the delivered list is
    written before the intent is signed, and at boot the newest delivered
    consignment that the newest signed intent does not name is signed then."""

    _DONE = "delivered"
    sleeps_deeply = False  # the button's IRQ and the GPS need the CPU up

    def __init__(self, storage, odometer, button, price_minor, route_text):
        self._storage = storage
        self._odometer = odometer
        self._price = price_minor
        self._route = json.loads(route_text) if route_text else []
        done = storage.read(self._DONE)
        self._done = json.loads(done) if done else []
        self._unsigned = None
        self._presses = 0
        self.presses_away = 0  # presses far from any undelivered stop: a fraud signal
        self.poll = odometer.poll
        button.irq(handler=self._press, trigger=button.IRQ_FALLING)

    def _press(self, pin):
        self._presses += 1  # the IRQ only counts; the period does the work

    def resume(self, last):
        newest = self._done[-1] if self._done else None
        if newest is not None and (last is None or last[8][1] != newest):
            self._unsigned = newest  # delivered, but the power failed before it was signed

    def _nearest_stop(self):
        fix = self._odometer.fix
        if fix is None:
            return None
        for stop in self._route:
            if stop["id"] not in self._done:
                away_mm = distance_mm(fix.lat_e7, fix.lon_e7, stop["lat_e7"], stop["lon_e7"])
                if away_mm <= STOP_RADIUS_M * 1000:
                    return stop["id"]
        return None

    def charge(self):
        while self._unsigned is None and self._presses:
            self._presses -= 1
            consignment = self._nearest_stop()
            if consignment is None:
                self.presses_away += 1
                continue
            self._done.append(consignment)
            self._storage.write(self._DONE, json.dumps(self._done).encode())
            self._unsigned = consignment
        if self._unsigned is None:
            return None
        return self._price, [messages.EVIDENCE_DELIVERY, self._unsigned, messages.DELIVERY_EVENTS[0]]

    def charged(self, evidence):
        self._unsigned = None

    def records(self, t):
        return [messages.senml("delivered", "count", len(self._done), t)] + self._odometer.records(t)


class SoilReadings:
    """Soil moisture and, where the board has a BME280, the air's temperature
    and humidity (nothing to bill): data for credit scoring. A climate sample
    the part does not answer is skipped and counted."""

    poll = None
    sleeps_deeply = True  # it samples at the period's end: nothing to count in between

    def __init__(self, probe, climate=None):
        self._probe = probe
        self._climate = climate
        self.sensor_errors = 0

    def resume(self, last):
        pass

    def charge(self):
        return None

    def charged(self, evidence):
        pass

    def records(self, t):
        # SenML unit "/" (RFC 8428 §12.1): a ratio, here volumetric water of the calibrated range.
        out = [messages.senml("moisture", "/", cbor.float_from_decimal(self._probe.moisture_centi(), -4), t)]
        if self._climate is not None:
            try:
                celsius_centi, rh_centi = self._climate.measure()
            except OSError:  # SensorError
                self.sensor_errors += 1
                return out
            out.append(messages.senml("air-temp", "Cel", cbor.float_from_decimal(celsius_centi, -2), t))
            out.append(messages.senml("air-humidity", "%RH", cbor.float_from_decimal(rh_centi, -2), t))
        return out


def _i2c_part(hal, board, kind, build):
    """build(bus, sensor) for the board's sensor of kind on its I2C bus, or
    None if it has none. A part that does not answer at boot (or is another
    part than the board file says) leaves the board running without it: its
    readings then carry no such values, which the gateway can tell from zeros."""
    sensor = find(board, kind)
    bus = None if sensor is None else hal.i2c()
    if bus is None:
        return None
    try:
        return build(bus, sensor)
    except SensorError:
        return None


def _bme280(hal, board):
    """The board's BME280 (the air's temperature and humidity), or None."""

    def build(bus, sensor):
        try:
            from paymote.firmware.bme280 import BME280
        except ImportError:
            from firmware.bme280 import BME280
        return BME280(bus, hal.sleep_ms, sensor["address"])

    return _i2c_part(hal, board, "bme280", build)


def _motion(hal, board):
    """The board's accelerometer as a motion.Motion (handling events), or None."""

    def build(bus, sensor):
        try:
            from paymote.firmware import motion
        except ImportError:
            from firmware import motion
        return motion.Motion(motion.PARTS[sensor["part"]](bus, sensor["address"]), HANDLING_MG)

    return _i2c_part(hal, board, "accelerometer", build)


def _odometer(hal, board):
    sensor = find(board, "gps")
    pins = board["pins"]
    uart = hal.uart(pins[sensor["uart_tx"]], pins[sensor["uart_rx"]], sensor["baud"])
    return Odometer(uart, _motion(hal, board))


def billing_for(hal, board):
    """The distance, delivery or soil product on the board's sensors."""
    product = board["product"]
    profile = product["profile"]
    if profile == "distance":
        return DistanceBilling(_odometer(hal, board), product["price_minor_per_km"])
    if profile == "delivery":
        try:
            route = hal.read_file("route.json")  # the dispatcher's manifest for the day
        except OSError:
            route = None
        button = hal.pin(board["pins"]["button"])
        return Deliveries(
            hal.storage, _odometer(hal, board), button, product["price_minor_per_delivery"], route
        )
    sensor = find(board, "soil")
    adc = hal.adc(board["pins"][sensor["pin"]])
    return SoilReadings(SoilProbe(adc, sensor["dry_raw"], sensor["wet_raw"]), _bme280(hal, board))
