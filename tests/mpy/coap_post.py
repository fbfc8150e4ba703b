"""The firmware's CoAP client on MicroPython: POST the hex message in FILE to
PATH on a gateway at PORT, twice, and print each response's code, action and
payload hex. Arguments: PORT PATH FILE, then optionally HOST (for 127.0.0.1;
with a 20 ms ACK timeout) and "no-heap" (each request's first receive finds
the heap locked). The message comes in a file: this unix build of MicroPython
aborts with "FATAL: uncaught NLR" on any argument of 256 characters or more."""

import os
import socket
import sys
import time

import micropython

from firmware import coap

port, path = int(sys.argv[1]), sys.argv[2]
with open(sys.argv[3]) as f:
    message = bytes.fromhex(f.read().strip())
host = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
calls = [0]  # the idle hook's calls this request: a small int, so counting allocates nothing


def no_heap_at_first():
    """The client's idle hook: the first receive of each request finds no heap
    (micropython.heap_lock: every allocation raises MemoryError), as a
    fragmented one may; the hook's next call gives it back. It must allocate
    nothing itself while the heap is locked."""
    calls[0] += 1
    if calls[0] == 1:
        micropython.heap_lock()
    else:
        micropython.heap_unlock()


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
address = socket.getaddrinfo(host, port)[0][-1]
client = coap.Client(
    sock,
    address,
    time.ticks_ms,
    os.urandom,
    20 if len(sys.argv) > 4 else coap.ACK_TIMEOUT_MS,
    no_heap_at_first if sys.argv[5:] == ["no-heap"] else None,
)
for _ in range(2):  # the second is a retransmission by the agent: the same answer
    calls[0] = 0
    try:
        response = client.request(coap.POST, path, message, 18)
    except coap.NoAnswerError:
        print("no answer after", client.retransmissions, "retransmissions")
        break
    print(coap.dotted(response.code), response.action, response.payload.hex())
