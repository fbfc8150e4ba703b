"""Prints the parse of known NMEA sentences; run on both interpreters and compared."""

try:
    from paymote.firmware import gps
except ImportError:
    from firmware import gps

SENTENCES = (
    "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
    "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48",
    "$GNRMC,235959.00,V,,,,,,,291126,,,N*6D",
    "$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74",
)
for sentence in SENTENCES:
    try:
        fix = gps.parse(sentence)
        if fix is None:
            print("other")
        else:
            print(fix.valid, fix.lat_e7, fix.lon_e7, fix.alt_dm, fix.satellites, fix.speed_mm_s, fix.time_s)
    except gps.NmeaError as e:
        print("error", e)
reader = gps.NmeaReader()
stream = ("junk" * 40 + "\r\n" + SENTENCES[0] + "\r\n" + SENTENCES[1][:20]).encode()
print(len(reader.feed(stream)), reader.rejected)
print(len(reader.feed((SENTENCES[1][20:] + "\r\n").encode())), reader.rejected)
