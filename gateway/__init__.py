"""paymote's CPython side: the `paymote` command and (later) the CoAP gateway."""
