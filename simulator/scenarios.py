"""The simulator's scenarios: which board each runs on and whose accounts it
moves money between. Data only, so the command line can name them without
loading the simulator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    board: str  # the board definition it runs on
    payer: str  # prefix of the payer account
    payee: str


SCENARIOS = {
    "household": Scenario("esp32-devkitc", "hh", "utility"),
    "van": Scenario("esp32-s3-devkitc", "cod", "merchant"),
    "car": Scenario("rpi-pico-w", "car", "insurer"),
    "farm": Scenario("rpi-pico2-w", "farm", "lender"),  # data for credit: never pays
}
