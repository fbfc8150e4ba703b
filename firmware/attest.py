"""Attestation: what firmware runs, measured from the files on flash.

The measurement is the build manifest's digest (gateway/firmware_build.py)
recomputed from the installed files: SHA-256 over "<sha256 hex>  <path>\\n"
for every file manifest.txt lists (sorted by path), each hash computed anew.
A file changed after the build changes the measurement, whatever the
manifest says. Each file is measured where it is imported from: a board's
ROMFS, mounted at /rom, comes first on sys.path (firmware_build's --romfs
puts lib/ there), then the filesystem.
"""

try:
    from paymote.crypto import cbor, cose, messages
    from paymote.crypto._compat import const, sha256
    from paymote.firmware import coap
except ImportError:
    from crypto import cbor, cose, messages
    from crypto._compat import const, sha256
    from firmware import coap

SOFTWARE_NAME = "paymote-fw"
SOFTWARE_VERSION = "0.1.0"
_BOOTS = "boot.count"
_NONCE_BYTES_MAX = const(64)
_CHUNK_BYTES = const(512)


def measure(open_file):
    """The measurement of the installed firmware; open_file(path) opens a file
    for reading (a path from / as it is: /rom/...). manifest.txt is read a line
    at a time and each file hashed through one 512-byte buffer, so measuring
    needs little heap."""
    buffer = bytearray(_CHUNK_BYTES)
    view = memoryview(buffer)
    lines = sha256()
    with open_file("manifest.txt") as manifest:
        while True:
            line = manifest.readline()
            if not line:
                break
            path = line[66:].strip().decode()  # "<64 hex>  <path>"
            digest = sha256()
            try:
                f = open_file("/rom/" + path)
            except OSError:  # no ROMFS, or not in it
                f = open_file(path)
            with f:
                while True:
                    n = f.readinto(buffer)
                    if not n:
                        break
                    digest.update(view[:n])
            lines.update((digest.digest().hex() + "  " + path + "\n").encode())
    return lines.digest()


def next_bootcount(storage):
    """Count this boot (one flash write per boot) and return the new count."""
    stored = storage.read(_BOOTS)
    count = (int.from_bytes(stored, "big") if stored else 0) + 1
    storage.write(_BOOTS, count.to_bytes(4, "big"))
    return count


def attest(client, key, kid, now_s, measurement, bootcount, dbgstat, location=None):
    """Fetch a fresh nonce (GET /n), sign the EAT and POST it to /a. Returns
    the gateway's Response; raises coap.NoAnswerError when offline."""
    answer = client.request(coap.GET, "n")
    if answer.code != coap.code(2, 5):
        return answer
    nonce = cbor.decode(answer.payload, size_max=_NONCE_BYTES_MAX + 2)
    payload = messages.attestation_payload(
        ueid=messages.ueid_for(key.public),
        nonce=nonce,
        iat=now_s,
        measurement=measurement,
        swname=SOFTWARE_NAME,
        swversion=SOFTWARE_VERSION,
        bootcount=bootcount,
        dbgstat=dbgstat,
        location=location,
    )
    return client.request(coap.POST, "a", cose.sign1(payload, key, kid), cose.CONTENT_FORMAT_SIGN1)
