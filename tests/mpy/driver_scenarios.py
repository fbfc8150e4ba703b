"""Driver scenarios against the fake parts; printed so both interpreters can be compared."""

try:
    from paymote.firmware import sensors
    from paymote.simulator import parts
except ImportError:
    from firmware import sensors
    from simulator import parts

print("crc", hex(sensors.crc8_sensirion(b"\xbe\xef")))
part = parts.FakeSHT31(celsius_centi=2150, rh_centi=4000)
sht = sensors.SHT31(parts.FakeI2C(part), lambda ms: None)
print("sht31", sht.measure())
part.celsius_centi, part.rh_centi = -1234, 9999
print("sht31", sht.measure())
for fault in ("corrupt", "nack"):
    setattr(part, fault, True)
    try:
        sht.measure()
        print(fault, "accepted")
    except sensors.SensorError as e:
        print(fault, "refused", type(e).__name__)
    setattr(part, fault, False)

now = [0]
pin = parts.FakePin()
meter = sensors.PulseMeter(pin, 1000, 20, lambda: now[0], lambda a, b: a - b)
for t in (0, 5, 12, 100, 103, 250, 260, 400):  # ms: bounces at 5, 12, 103 and 260
    now[0] = t
    pin.falling()
print("pulses", meter.pulses, "bounces", meter.bounces, "wh", meter.energy_wh())

probe = sensors.SoilProbe(parts.FakeADC(), dry_raw=52000, wet_raw=21000)
for raw in (60000, 52000, 36500, 21000, 100):
    probe._adc.raw = raw
    print("soil", raw, probe.moisture_centi())

try:
    from paymote.firmware import motion
except ImportError:
    from firmware import motion

for part in (parts.FakeLIS3DH(), parts.FakeMPU6050()):
    accel = motion.PARTS["lis3dh" if part.address == 0x18 else "mpu6050"](parts.FakeI2C(part), part.address)
    for mg in ((0, 0, 1000), (-450, 120, 980), (1999, -2000, -1)):
        part.mg = mg
        print("accel", part.address, accel.acceleration_mg())
    part.nack = True
    try:
        accel.acceleration_mg()
        print("nack accepted")
    except sensors.SensorError as e:
        print("nack refused", type(e).__name__)

events = motion.HandlingEvents(350)
for x in (0, -100, -400, -600, -300, -200, -100, -500, 0, 360, 0):
    events.sample(x, 0)
print("handling events", events.events)

try:
    from paymote.firmware import bme280
except ImportError:
    from firmware import bme280

part = parts.FakeBME280()
driver = bme280.BME280(parts.FakeI2C(part), lambda ms: None)
adc_p, adc_t, adc_h = driver.read_raw()
t_fine = driver._t_fine(adc_t)
print("bme280 example", (t_fine * 5 + 128) >> 8, driver.pressure_pa(adc_p, t_fine))
part.set(-1234, 8765)
print("bme280", driver.measure())
