"""The distance and delivery profiles against the simulator's GPS sentences
and flash; printed so both interpreters can be compared. Argument: FLASH_DIR."""

import sys

try:
    from paymote.crypto import messages
    from paymote.firmware import profiles
    from paymote.firmware.storage import FlashStorage
    from paymote.simulator import parts, vehicles
except ImportError:
    from crypto import messages
    from firmware import profiles
    from firmware.storage import FlashStorage
    from simulator import parts, vehicles

T0 = 1764576000  # 2025-12-01 08:00 UTC
LAT, LON = 523700000, 48900000
STEP_E7 = 1799  # 20 m of latitude


def drive(odometer, uart, speeds, lat=LAT, t=T0):
    for speed in speeds:
        uart.write_in(vehicles.rmc_sentence(t, lat, LON, speed))
        odometer.poll()
        lat += STEP_E7 * speed // 20000
        t += 1
    return lat, t


uart = parts.FakeUart()
odometer = profiles.Odometer(uart)
lat, t = drive(odometer, uart, [20000] * 600)  # ten minutes at 72 km/h
print("distance", odometer.distance_m(), "brakings", odometer.harsh_brakings)
drive(odometer, uart, [5000, 5000, 20000, 19000, 18000], lat, t)  # 15 m/s off in one second, then easing
print("distance", odometer.distance_m(), "brakings", odometer.harsh_brakings)
uart.write_in(b"$GPRMC,080000.00,A,5222.2000,N,00453.4000,E,0.0,0.0,011225,,,A*00\r\n")  # bad checksum
odometer.poll()
print("rejected", odometer._reader.rejected)

storage = FlashStorage(sys.argv[1])
route = '[{"id": "c-1", "lat_e7": %d, "lon_e7": %d}, {"id": "c-2", "lat_e7": %d, "lon_e7": %d}]' % (
    LAT,
    LON,
    LAT + 90000,
    LON,
)
button = parts.FakePin()
uart = parts.FakeUart()
odometer = profiles.Odometer(uart)
deliveries = profiles.Deliveries(storage, odometer, button, 250, route)
deliveries.resume(None)
drive(odometer, uart, [0])  # parked at stop c-1
button.falling()
charge = deliveries.charge()
print("charge", charge)
# The power fails after the delivered list was written, before the intent was signed:
rebooted = profiles.Deliveries(storage, profiles.Odometer(parts.FakeUart()), parts.FakePin(), 250, route)
rebooted.resume(None)
print("after the cut", rebooted.charge())
signed = {8: [messages.EVIDENCE_DELIVERY, "c-1", 1]}  # the payload fields the agent reads back
again = profiles.Deliveries(storage, profiles.Odometer(parts.FakeUart()), parts.FakePin(), 250, route)
again.resume(signed)
print("once signed", again.charge())
deliveries.charged(charge[1])
button.falling()  # pressed again at c-1, already delivered: far from any undelivered stop
print("second press", deliveries.charge(), deliveries.presses_away)

try:
    from paymote.firmware import motion
except ImportError:
    from firmware import motion

part = parts.FakeMPU6050()
uart = parts.FakeUart()
car = profiles.Odometer(uart, motion.Motion(motion.MPU6050(parts.FakeI2C(part)), profiles.HANDLING_MG))
for forward_mg in (0, 200, -150, -900, -1200, -400, 100, 0, 0, -360, 0):  # one long brake, one short
    part.mg = (forward_mg, 0, 1000)
    car.poll()
part.nack = True
car.poll()
print("handling", [r for r in car.records(T0) if r[messages.SENML_NAME] == "handling"], car._motion.missed)
