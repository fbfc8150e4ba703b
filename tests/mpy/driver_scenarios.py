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
