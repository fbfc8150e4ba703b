"""Board definitions: the four shipped boards load; every mistake names file, key and problem."""

from __future__ import annotations

import pytest

from paymote import boards

VALID = (boards.BOARDS_DIR / "esp32-devkitc.toml").read_text()


def test_the_supported_boards_are_defined_and_valid():
    """esp32-devkitc, esp32-s3-devkitc, rpi-pico-w and rpi-pico2-w load with consistent figures."""
    assert boards.names() == ["esp32-devkitc", "esp32-s3-devkitc", "rpi-pico-w", "rpi-pico2-w"]
    for name in boards.names():
        board = boards.load(name)
        assert board.heap_bytes <= board.ram_bytes and board.filesystem_bytes <= board.flash_bytes
        assert board.mpy_arch in boards.MPY_ARCHS
        needed, _ = boards.PROFILES[board.product["profile"]]
        assert needed in [s["kind"] for s in board.sensors]
    assert boards.load("esp32-devkitc").heap_bytes == 96 * 1024  # the -X heapsize=96K proxy


def test_unknown_board_lists_the_known_ones():
    """Asking for a board that does not exist says which do."""
    with pytest.raises(boards.BoardError, match="known boards: esp32-devkitc"):
        boards.load("arduino-uno")


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('mcu = "esp32"', 'mcu = "esp8266"', "board.mcu", "one of"),
        ('mcu = "esp32"\n', "", "board.mcu", "missing"),
        ('mpy_arch = "xtensawin"', 'mpy_arch = "avr"', "board.mpy_arch", "one of"),
        ("heap_bytes = 98304", "heap_bytes = 999999999", "board.heap_bytes", "an integer from"),
        ("battery = false", 'battery = "no"', "board.battery", "true or false"),
        ("battery = false", "battery = false\ncolour = 1", "board.colour", "unknown key"),
        ('network = ["wifi"]', 'network = ["carrier-pigeon"]', "board.network", "a non-empty list"),
        ("i2c_scl = 22", "i2c_scl = 21", "pins.i2c_scl", "already pins.i2c_sda"),
        ('pin = "pulse"', 'pin = "nowhere"', "sensors[0].pin", "names no pin"),
        ("address = 0x44", "address = 0x90", "sensors[1].address", "an integer from"),
        ('kind = "sht31"', 'kind = "thermometer"', "sensors[1].kind", "one of"),
        ("debounce_ms = 20", "debounce_ms = 20\ncolour = 1", "sensors[0].colour", "unknown key"),
        ('currency = "EUR"', 'currency = "EURO"', "product.currency", "ISO 4217"),
        ('payee = "utility"', 'payee = "Utility Co"', "product.payee", "a-z"),
        ("tariff = [7, 2]", "tariff = [7]", "product.tariff", "[id, version]"),
        ("price_minor_per_kwh = 30", "price_minor_per_kwh = 0", "product.price_minor_per_kwh", "an integer"),
        ('profile = "energy"', 'profile = "distance"', "product.profile", "needs a gps sensor"),
        ("interval_s = 900", "interval_s = 1", "product.interval_s", "an integer from 10"),
        ("[pins]", "[pins\n", "", "not valid TOML"),
    ],
)
def test_mistakes_name_file_key_and_problem(tmp_path, old, new, key, problem):
    """Each kind of mistake is refused with "FILE: KEY: problem"."""
    assert old in VALID
    path = tmp_path / "my-board.toml"
    path.write_text(VALID.replace(old, new, 1))
    with pytest.raises(boards.BoardError) as error:
        boards.load_file(path)
    message = str(error.value)
    assert message.startswith("my-board.toml: ")
    assert key in message and problem in message


@pytest.mark.parametrize(
    ("pins", "problem"),
    [
        ("status_led = 25", "pins.status_led: GPIO 25 is the Wi-Fi chip's WL_CS"),
        ('status_led = "LED"\nmeter = 23', "pins.meter: GPIO 23 is the Wi-Fi chip's WL_ON"),
        ('status_led = "GP2"', "pins.status_led: an integer from 0 to 48"),
    ],
)
def test_a_pico_w_keeps_its_wifi_chips_pins(tmp_path, pins, problem):
    """On the RP2040 and RP2350 W boards GPIO 23, 24, 25 and 29 drive the CYW43 Wi-Fi chip
    and the LED is the chip's ("LED" in MicroPython's rp2 port): a definition that puts a
    pin there, or names another pin, is refused."""
    shipped = (boards.BOARDS_DIR / "rpi-pico-w.toml").read_text()
    path = tmp_path / "my-pico.toml"
    path.write_text(shipped.replace('status_led = "LED"', pins, 1))
    with pytest.raises(boards.BoardError, match=problem):
        boards.load_file(path)
    assert boards.load("rpi-pico-w").pins["status_led"] == "LED"


def test_i2c_sensor_needs_the_i2c_pins(tmp_path):
    """An I2C sensor on a board without i2c_sda/i2c_scl pins is refused at the sensor's bus."""
    path = tmp_path / "no-i2c.toml"
    path.write_text(VALID.replace("i2c_sda = 21\n", ""))
    with pytest.raises(boards.BoardError, match=r"sensors\[1\]\.bus: i2c needs pins"):
        boards.load_file(path)


def test_soil_probe_calibration_must_be_ordered(tmp_path):
    """A soil probe whose wet reading is not below its dry reading is refused."""
    text = (boards.BOARDS_DIR / "rpi-pico2-w.toml").read_text().replace("wet_raw = 21000", "wet_raw = 60000")
    path = tmp_path / "soil.toml"
    path.write_text(text)
    with pytest.raises(boards.BoardError, match=r"sensors\[0\]\.wet_raw: must be below dry_raw"):
        boards.load_file(path)


def test_an_accelerometer_names_its_part(tmp_path):
    """The firmware picks the driver by part; a missing or unknown part is refused."""
    sht = 'kind = "sht31"\nbus = "i2c"\naddress = 0x44'
    assert sht in VALID
    path = tmp_path / "accel.toml"
    for part, problem in (
        ("", r"sensors\[1\]\.part: missing"),
        ('part = "adxl345"\n', r"sensors\[1\]\.part: one of"),
    ):
        path.write_text(VALID.replace(sht, f'kind = "accelerometer"\n{part}bus = "i2c"\naddress = 0x18'))
        with pytest.raises(boards.BoardError, match=problem):
            boards.load_file(path)
    path.write_text(
        VALID.replace(sht, 'kind = "accelerometer"\npart = "lis3dh"\nbus = "i2c"\naddress = 0x18')
    )
    assert boards.load_file(path).sensors[1]["part"] == "lis3dh"
