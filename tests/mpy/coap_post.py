"""The firmware's CoAP client on MicroPython: POST the hex message in FILE to
a gateway on 127.0.0.1:PORT at PATH, print the response code, action and
payload hex. (A file, not an argument: this unix build of MicroPython aborts
with "FATAL: uncaught NLR" on any argument of 256 characters or more.)"""

import os
import socket
import sys
import time

from firmware import coap

port, path = int(sys.argv[1]), sys.argv[2]
with open(sys.argv[3]) as f:
    message = bytes.fromhex(f.read().strip())
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
address = socket.getaddrinfo("127.0.0.1", port)[0][-1]
client = coap.Client(sock, address, time.ticks_ms, os.urandom)
for _ in range(2):  # the second is a retransmission by the agent: the same answer
    response = client.request(coap.POST, path, message, 18)
    print(coap.dotted(response.code), response.action, response.payload.hex())
