"""Board definitions: one TOML file per board, read by the firmware build,
provisioning and the simulator. Validated when loaded; every error names the
file, the key and the problem."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from paymote.crypto.messages import is_account, minor_unit_digits

BOARDS_DIR = Path(__file__).resolve().parent
MCUS = {"esp32", "esp32s3", "rp2040", "rp2350"}
MPY_ARCHS = {"xtensawin", "armv6m", "armv7m", "armv7emsp", "x64"}  # mpy-cross -march
NETWORKS = {"wifi", "ethernet", "lte"}
GPIO_MAX = 48
# The Pico W and Pico 2 W wire their CYW43439 Wi-Fi chip to GPIO 23 (WL_ON), 24 (WL_D),
# 25 (WL_CS) and 29 (WL_CLK) (Raspberry Pi's Pico W datasheet, "Pinout"): a sensor or LED
# there would take the radio down. Their LED is the chip's WL_GPIO0, which MicroPython's
# rp2 port names "LED".
CYW43_GPIOS = {23: "WL_ON", 24: "WL_D", 25: "WL_CS", 29: "WL_CLK"}
LED_BY_NAME = "LED"

# Sensor kinds: their keys (besides "kind") and the product profiles they serve.
SENSOR_KEYS = {
    "pulse_meter": {"pin", "pulses_per_kwh", "debounce_ms"},
    "sht31": {"bus", "address"},
    "bme280": {"bus", "address"},
    "accelerometer": {"bus", "address", "part"},
    "gps": {"uart_tx", "uart_rx", "baud"},
    "soil": {"pin", "dry_raw", "wet_raw"},
}
ACCELEROMETER_PARTS = {"lis3dh", "mpu6050"}  # firmware/motion.py's PARTS
# Product profiles: the sensor each prices from, and its price key (None: no payments).
PROFILES = {
    "energy": ("pulse_meter", "price_minor_per_kwh"),
    "distance": ("gps", "price_minor_per_km"),
    "delivery": ("gps", "price_minor_per_delivery"),
    "soil": ("soil", None),
}
_BOARD_KEYS = {
    "description",
    "mcu",
    "mpy_arch",
    "ram_bytes",
    "heap_bytes",
    "flash_bytes",
    "filesystem_bytes",
    "network",
    "battery",
}


class BoardError(ValueError):
    """A board file the tools refuse: "FILE: KEY: problem"."""


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    mcu: str
    mpy_arch: str
    ram_bytes: int
    heap_bytes: int
    flash_bytes: int
    filesystem_bytes: int
    network: tuple[str, ...]
    battery: bool
    pins: dict[str, int | str]  # GPIO numbers; a pin name ("LED") where the port names it
    sensors: tuple[dict[str, Any], ...]
    product: dict[str, Any]


def names() -> list[str]:
    return sorted(path.stem for path in BOARDS_DIR.glob("*.toml"))


def load(name: str) -> Board:
    """The board called name (the file boards/NAME.toml)."""
    path = BOARDS_DIR / f"{name}.toml"
    if not path.is_file():
        raise BoardError(f"no board {name!r}; known boards: {', '.join(names())}")
    return load_file(path)


def load_file(path: Path) -> Board:
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{path.name}: not valid TOML: {e}") from None
    check = _Checker(path.name)
    check.only(raw, {"board", "pins", "sensors", "product"}, "")
    board = check.table(raw, "board")
    check.only(board, _BOARD_KEYS, "board.")
    mcu = check.choice(board, "board.mcu", MCUS)
    network = board.get("network")
    if not isinstance(network, list) or not network or not set(network) <= NETWORKS:
        check.fail("board.network", f"a non-empty list of {sorted(NETWORKS)}")
    wifi_chip = mcu in ("rp2040", "rp2350") and "wifi" in network  # a Pico W or Pico 2 W
    pins = check.pins(check.table(raw, "pins"), wifi_chip)
    sensors = check.sensors(raw.get("sensors", []), pins)
    product = check.product(check.table(raw, "product"), sensors)
    ram = check.integer(board, "board.ram_bytes", 16384, 1 << 24)
    flash = check.integer(board, "board.flash_bytes", 1 << 20, 1 << 28)
    return Board(
        name=path.stem,
        description=check.text(board, "board.description"),
        mcu=mcu,
        mpy_arch=check.choice(board, "board.mpy_arch", MPY_ARCHS),
        ram_bytes=ram,
        heap_bytes=check.integer(board, "board.heap_bytes", 32768, ram),
        flash_bytes=flash,
        filesystem_bytes=check.integer(board, "board.filesystem_bytes", 65536, flash),
        network=tuple(network),
        battery=check.boolean(board, "board.battery"),
        pins=pins,
        sensors=tuple(sensors),
        product=product,
    )


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, problem: str) -> NoReturn:
        raise BoardError(f"{self.file}: {key}: {problem}")

    def _get(self, table: dict, key: str) -> Any:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in table:
            self.fail(key, "missing")
        return table[leaf]

    def only(self, table: dict, allowed: set[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                self.fail(prefix + key, "unknown key")

    def table(self, raw: dict, key: str) -> dict:
        value = self._get(raw, key)
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return value

    def integer(self, table: dict, key: str, low: int, high: int) -> int:
        value = self._get(table, key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(key, f"an integer from {low} to {high}, not {value!r}")
        return value

    def text(self, table: dict, key: str) -> str:
        value = self._get(table, key)
        if not isinstance(value, str) or not value:
            self.fail(key, "a non-empty string")
        return value

    def boolean(self, table: dict, key: str) -> bool:
        value = self._get(table, key)
        if not isinstance(value, bool):
            self.fail(key, "true or false")
        return value

    def choice(self, table: dict, key: str, allowed: set[Any]) -> Any:
        value = self._get(table, key)
        if value not in allowed:
            self.fail(key, f"one of {sorted(allowed)}, not {value!r}")
        return value

    def pins(self, pins: dict, wifi_chip: bool) -> dict[str, int | str]:
        """GPIO numbers, each used once; status_led may be "LED" where the LED
        is the Wi-Fi chip's (wifi_chip: an RP2040 or RP2350 W board), whose
        own GPIOs are refused."""
        seen: dict[int, str] = {}
        for name in pins:
            if wifi_chip and name == "status_led" and pins[name] == LED_BY_NAME:
                continue
            number = self.integer(pins, f"pins.{name}", 0, GPIO_MAX)
            if wifi_chip and number in CYW43_GPIOS:
                self.fail(f"pins.{name}", f"GPIO {number} is the Wi-Fi chip's {CYW43_GPIOS[number]}")
            if number in seen:
                self.fail(f"pins.{name}", f"GPIO {number} is already pins.{seen[number]}")
            seen[number] = name
        return dict(pins)

    def pin(self, table: dict, key: str, pins: dict[str, int | str]) -> None:
        value = self._get(table, key)
        if value not in pins:
            self.fail(key, f"names no pin in [pins]: {value!r}")
        if not isinstance(pins[value], int):
            self.fail(key, f"pins.{value} is not a GPIO a sensor can use")

    def sensors(self, sensors: Any, pins: dict[str, int | str]) -> list[dict]:
        if not isinstance(sensors, list) or not all(isinstance(s, dict) for s in sensors):
            self.fail("sensors", "an array of [[sensors]] tables")
        for i, sensor in enumerate(sensors):
            at = f"sensors[{i}]"
            kind = self.choice(sensor, f"{at}.kind", set(SENSOR_KEYS))
            self.only(sensor, SENSOR_KEYS[kind] | {"kind"}, f"{at}.")
            if "bus" in SENSOR_KEYS[kind]:
                self.choice(sensor, f"{at}.bus", {"i2c"})
                if not {"i2c_sda", "i2c_scl"} <= set(pins):
                    self.fail(f"{at}.bus", "i2c needs pins.i2c_sda and pins.i2c_scl")
                self.integer(sensor, f"{at}.address", 0x08, 0x77)
            if kind == "accelerometer":
                self.choice(sensor, f"{at}.part", ACCELEROMETER_PARTS)
            if kind == "pulse_meter":
                self.pin(sensor, f"{at}.pin", pins)
                self.integer(sensor, f"{at}.pulses_per_kwh", 1, 100000)
                self.integer(sensor, f"{at}.debounce_ms", 1, 1000)
            elif kind == "gps":
                self.pin(sensor, f"{at}.uart_tx", pins)
                self.pin(sensor, f"{at}.uart_rx", pins)
                self.choice(sensor, f"{at}.baud", {4800, 9600, 38400, 115200})
            elif kind == "soil":
                self.pin(sensor, f"{at}.pin", pins)
                dry = self.integer(sensor, f"{at}.dry_raw", 0, 65535)
                if self.integer(sensor, f"{at}.wet_raw", 0, 65535) >= dry:
                    self.fail(f"{at}.wet_raw", "must be below dry_raw (wetter soil reads lower)")
        return sensors

    def product(self, product: dict, sensors: list[dict]) -> dict:
        profile = self.choice(product, "product.profile", set(PROFILES))
        needed, price_key = PROFILES[profile]
        if not any(s["kind"] == needed for s in sensors):
            self.fail("product.profile", f"{profile} needs a {needed} sensor")
        self.integer(product, "product.interval_s", 10, 86400)
        if price_key is None:
            self.only(product, {"profile", "interval_s"}, "product.")
            return dict(product)
        self.only(product, {"profile", "interval_s", "payee", "currency", "tariff", price_key}, "product.")
        payee = self.text(product, "product.payee")
        if not is_account(payee):
            self.fail("product.payee", "1-32 of a-z 0-9 . : _ -")
        if minor_unit_digits(self._get(product, "product.currency")) is None:
            self.fail("product.currency", "not an accepted ISO 4217 code")
        tariff = self._get(product, "product.tariff")
        if not (
            isinstance(tariff, list)
            and len(tariff) == 2
            and all(isinstance(t, int) and t >= 0 for t in tariff)
        ):
            self.fail("product.tariff", "[id, version], two non-negative integers")
        self.integer(product, f"product.{price_key}", 1, 10**9)
        return dict(product)
