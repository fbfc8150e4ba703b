"""firmware/gps.py: NMEA GGA/RMC with checksums, integers only, bounded reading."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.firmware import gps
from tests.conftest import MPY_SCRIPTS, run_cpython, run_micropython

GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"


def _sentence(body: str) -> str:
    checksum = 0
    for ch in body:
        checksum ^= ord(ch)
    return f"${body}*{checksum:02X}"


def test_the_standard_examples():
    """The NMEA reference GGA and RMC: 48°07.038'N 11°31.000'E, 545.4 m, 22.4 kn, 1994-03-23 12:35:19."""
    gga, rmc = gps.parse(GGA), gps.parse(RMC)
    assert (gga.valid, gga.lat_e7, gga.lon_e7, gga.alt_dm, gga.satellites) == (
        True,
        481173000,
        115166667,
        5454,
        8,
    )
    assert (rmc.lat_e7, rmc.lon_e7, rmc.speed_mm_s) == (481173000, 115166667, 11523)
    assert rmc.time_s == calendar.timegm((1994, 3, 23, 12, 35, 19))


@pytest.mark.parametrize(
    "line",
    [
        GGA[:-2] + "48",  # wrong checksum
        GGA[:-3],  # no checksum
        "GPGGA,123519*47",  # no $
        _sentence("GPRMC,123519,A,4807.038,X,01131.000,E,022.4,084.4,230394,,"),  # hemisphere
        _sentence("GPRMC,123519,A,4861.038,N,01131.000,E,022.4,084.4,230394,,"),  # 61 minutes
        _sentence("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,231394,,"),  # month 13
        "$" + "A" * 90 + "*00",  # longer than NMEA allows
    ],
)
def test_bad_sentences_are_refused(line):
    """Checksum, structure, ranges and length are each checked."""
    with pytest.raises(gps.NmeaError):
        gps.parse(line)


def test_void_fix_and_other_sentences():
    """A receiver without a fix says so (valid False, no position); other types are ignored."""
    void = gps.parse(_sentence("GNRMC,235959.00,V,,,,,,,291126,,,N"))
    assert void.valid is False and void.lat_e7 is None
    assert gps.parse(_sentence("GPGSV,3,1,11,03,03,111,00")) is None


@settings(max_examples=300)
@given(
    st.integers(0, 89),
    st.integers(0, 59_999_999),
    st.sampled_from("NS"),
    st.integers(0, 179),
    st.integers(0, 59_999_999),
    st.sampled_from("EW"),
)
def test_coordinates_round_to_the_nearest_1e7_degree(lat_deg, lat_umin, ns, lon_deg, lon_umin, ew):
    """ddmm.mmmmmm becomes the nearest 1e-7 degree, exactly, with integers only."""
    lat = f"{lat_deg:02d}{lat_umin // 10**6:02d}.{lat_umin % 10**6:06d}"
    lon = f"{lon_deg:03d}{lon_umin // 10**6:02d}.{lon_umin % 10**6:06d}"
    fix = gps.parse(_sentence(f"GPGGA,000000,{lat},{ns},{lon},{ew},1,05,1.0,10.0,M,0,M,,"))
    for got, degrees, micro_minutes, negative in (
        (fix.lat_e7, lat_deg, lat_umin, ns == "S"),
        (fix.lon_e7, lon_deg, lon_umin, ew == "W"),
    ):
        exact_e7 = degrees * 10**7 + micro_minutes / 6
        assert abs(abs(got) - exact_e7) <= 0.5 and (got < 0) == (negative and got != 0)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_noise_on_the_wire_never_raises_and_stays_bounded(data):
    """The reader takes any bytes; it only returns fixes from valid sentences."""
    reader = gps.NmeaReader()
    fixes = reader.feed(data + b"\n" + GGA.encode() + b"\r\n")
    assert fixes and fixes[-1].lat_e7 == 481173000
    assert len(reader._line) <= gps.SENTENCE_CHARS_MAX


def test_same_results_on_micropython(compiled):
    """The parser gives the same integers on the MicroPython interpreter."""
    script = MPY_SCRIPTS / "gps_vectors.py"
    assert run_micropython(script, path=compiled) == run_cpython(script)
