"""The board's agent: sample -> price -> sign -> outbox -> send, one period at
a time. Everything that touches hardware comes from `hal`, so the simulator
replaces the HAL and nothing else. The HAL gives:

    hal.storage          a FlashStorage on the board's filesystem
    hal.read_file(name)  raw bytes of a small file (the key written at provisioning)
    hal.open_file(name)  a file opened for reading (the installed firmware, to measure)
    hal.time_s()         wall-clock Unix seconds (RTC, set from NTP or /t)
    hal.ticks_ms(), hal.random_bytes(n)
    hal.udp_socket(), hal.resolve(host, port)
    hal.dbgstat          the EAT debug status (RFC 9711 §4.2.9) the board reports
    hal.report(text)     what needs someone's attention (the console on a board)
    hal.i2c(), hal.sleep_ms(ms)  (firmware/main.py, for the I2C sensors)

What is billed comes from the board's profile object (MeteredBilling here for
energy and distance; firmware/profiles.py for deliveries and soil): the agent
asks it for charges, signs them and tells it what was signed.
"""

try:  # CPython, installed: one copy of each module
    from paymote.crypto import cbor, cose, ed25519, messages
    from paymote.crypto._compat import collect_after_burst, const, heap_bytes
    from paymote.firmware import attest, coap
    from paymote.firmware.counter import SequenceCounter
    from paymote.firmware.outbox import Outbox, OutboxFull
except ImportError:  # on a board
    from crypto import cbor, cose, ed25519, messages
    from crypto._compat import collect_after_burst, const, heap_bytes
    from firmware import attest, coap
    from firmware.counter import SequenceCounter
    from firmware.outbox import Outbox, OutboxFull

# Intents per POST /b. A heap under _SMALL_HEAP_BYTES (an ESP32 without PSRAM:
# 96 KB) sends _SMALL_BATCH, whose verdicts fit coap.LARGE_ANSWER_BYTES_MAX: fragmented by
# the batch, it has no room for a longer answer (with 6, a 96 KB board failed at
# every boot and a 112 KB one once in the simulation; docs/performance.md). The
# others send _DATAGRAM_BATCH, one datagram each way even at the formats' limits: 5
# intents of at most 192 B with their CBOR heads (971 B), and 5 verdicts of at most
# _VERDICT_BYTES_MAX (a receipt of at most 192 B, its code and Max-Age) are under
# coap.MESSAGE_BYTES_MAX. config.json's batch_intents (up to the gateway's 32) sets
# another size; a batch over _DATAGRAM_BATCH goes block-wise (firmware/blockwise.py),
# which costs more exchanges than batches of 5 (bench/catch_up.py).
_SMALL_HEAP_BYTES = const(131072)
_SMALL_BATCH = const(2)
_DATAGRAM_BATCH = const(5)
_GATEWAY_BATCH_MAX = const(32)  # docs/protocol.md: /b takes 1..32 intents
# (heap_bytes() is None on CPython, whose heap is not small)
BATCH_INTENTS_MAX = (
    _SMALL_BATCH if (heap_bytes() or _SMALL_HEAP_BYTES) < _SMALL_HEAP_BYTES else _DATAGRAM_BATCH
)
_VERDICT_BYTES_MAX = const(202)
_PERIODS_PER_BATCH = const(4)  # readings of this many periods go into one reading batch
_REATTEST_S = const(86400)  # a board that stays up answers a fresh nonce at least daily


class MeteredBilling:
    """A cumulative meter priced per 1,000 of its units: Wh at a price per kWh,
    metres at a price per km. read() is what the meter counted since boot."""

    poll = None  # an S0 meter counts on its IRQ: nothing to poll between periods
    sleeps_deeply = False  # ...and so the CPU stays up to take the IRQ (firmware/deep_sleep.py)

    def __init__(self, read, price_minor_per_1000, evidence_kind, name, unit):
        self._read = read
        self._price = price_minor_per_1000
        self._kind = evidence_kind
        self._name = name
        self._unit = unit
        self._billed = read()  # what the meter counted before this boot is billed already
        self.reading = 0  # the reading the last signed intent ended at

    def resume(self, last):
        """Continue the evidence from the last signed intent's payload (or None)."""
        if last is not None and last[8][0] == self._kind:
            self.reading = last[8][2]  # evidence [kind, start, end]

    def charge(self):
        """(amount_minor, evidence) for what is unbilled, if worth a minor unit.
        The amount is the difference of what the whole reading costs after and
        before, in whole minor units: each period's sub-unit remainder carries
        into the next, so over any span the total billed is exactly the
        reading's cost, nothing lost to rounding, nothing billed twice."""
        used = self._read() - self._billed
        price = self._price
        amount_minor = (self.reading + used) * price // 1000 - self.reading * price // 1000
        if amount_minor < 1:
            return None
        return amount_minor, [self._kind, self.reading, self.reading + used]

    def charged(self, evidence):
        self._billed += evidence[2] - evidence[1]
        self.reading = evidence[2]

    def records(self, t):
        """This period's SenML records: the cumulative reading."""
        return [messages.senml(self._name, self._unit, self.reading + self._read() - self._billed, t)]


class Agent:
    def __init__(self, hal, config, product, billing, climate=None):
        """config: the board's config.json; product: the board definition's
        [product]; billing: what the profile charges (charge(), charged(),
        records(), resume()); climate: an SHT31, a BME280 or None."""
        self._hal = hal
        self._product = product
        self._billing = billing
        self._climate = climate
        self._counter = SequenceCounter(hal.storage)
        self.outbox = Outbox(hal.storage)
        # Reading batches: their own queue, numbers and receipts, apart from the intents' chain.
        self._batch_counter = SequenceCounter(hal.storage, name="batch.reserved")
        self.readings = Outbox(hal.storage, folder="readings", tag="r")
        self._records = []  # this batch's SenML records, in RAM until the batch is signed
        self._records_start_s = 0
        self._sampled_periods = 0
        self._periods_per_batch = config.get("periods_per_batch", _PERIODS_PER_BATCH)
        self.sensor_errors = 0
        self._key = ed25519.SigningKey(hal.read_file("key.bin"))
        self._kid = cose.key_id(self._key.public)
        self._kid_hex = self._kid.hex()
        self._payer = config["payer"]
        self._payee = config["payee"]
        self._config = config  # the gateway's address, for connect() (a board's HAL keeps it too)
        self._batch_max = min(config.get("batch_intents", BATCH_INTENTS_MAX), _GATEWAY_BATCH_MAX)
        self._client = None  # the CoAP client, once connect() could make it
        self._polled_ms = hal.ticks_ms()
        last = self._last_signed()
        # Evidence and time continue across reboots from the last signed intent.
        billing.resume(last)
        self._last_time_s = 0 if last is None else last[2]
        self._period_start_s = self._now_s()
        self.stopped = None  # the reason, once the gateway said 4.01 / 4.03
        self.outbox_full = False  # reported once each time it fills
        self.wait_until_s = 0  # a 4.29 / 5.03 Max-Age
        self.answered_batches = 0  # batch uploads the gateway answered
        self.attested = None  # the gateway's answer to this boot's latest attestation
        self._attested_s = None  # when it came; None: attest this period
        self._reattest_s = config.get("reattest_s", _REATTEST_S)
        self._boot()

    def _boot(self):
        """Count this boot and measure what runs (the first period attests it).
        firmware/deep_sleep.py's agent takes up a deep sleep's state instead."""
        self.bootcount = attest.next_bootcount(self._hal.storage)
        self.measurement = attest.measure(self._hal.open_file)

    def connect(self):
        """Whether the gateway can be reached this period: the HAL has the
        network up (it joins Wi-Fi again if it dropped) and the CoAP client is
        made, at the first such period, since a gateway named by a host name
        needs DNS (a board that boots offline must still start)."""
        if not self._hal.connect(self._while_waiting):  # a join can take seconds: the GPS goes on
            return False
        if self._client is None:
            host, port = self._config["gateway"][len("coap://") :].rstrip("/").rsplit(":", 1)
            try:
                address = self._hal.resolve(host, int(port))
            except OSError:  # no DNS yet
                return False
            self._client = coap.Client(
                self._hal.udp_socket(),
                address,
                self._hal.ticks_ms,
                self._hal.random_bytes,
                self._config.get("ack_timeout_ms", coap.ACK_TIMEOUT_MS),  # the simulator shortens it
                self._while_waiting,
            )
        return True

    def _while_waiting(self):
        """The CoAP client's idle hook (at least every 2 s of a wait): feed the
        watchdog, and run the product's once-a-second poll (the GPS UART), so a
        long retransmission loses no fixes."""
        self._hal.feed_watchdog()
        poll = self._billing.poll
        if poll is not None:
            now = self._hal.ticks_ms()
            if self._hal.ticks_diff(now, self._polled_ms) >= 1000:
                self._polled_ms = now
                poll()

    def _last_signed(self):
        """The payload of the newest intent on flash (queued, else retired), or None."""
        data = self._hal.storage.read(self.outbox.newest() or "sent/last")
        return None if data is None else cbor.decode(cose.parse_sign1(data).payload)

    def _now_s(self):
        """Wall-clock time, never earlier than the last signed intent's: a board
        whose RTC lost power or drifted back must not stamp into the past."""
        return max(self._hal.time_s(), self._last_time_s)

    def attest(self):
        """Attest this boot: at boot, each period until the gateway answers, and
        again with a fresh nonce every _REATTEST_S, so a board that runs for
        months still gives the gateway recent evidence of what it runs."""
        try:
            response = attest.attest(
                self._client,
                self._key,
                self._kid,
                self._now_s(),
                self.measurement,
                self.bootcount,
                self._hal.dbgstat,
            )
        except coap.NoAnswerError:
            return  # offline: try again next period
        if response.code == coap.code(4, 1):
            return  # the nonce went stale (say, the gateway restarted after /n): a fresh one next period
        self.attested = response
        self._attested_s = self._now_s()
        if response.action == coap.STOP:
            self._stop("attestation %s" % coap.dotted(response.code))

    def time_from_gateway(self):
        """Set the RTC from the gateway (firmware/clock.py); True once set. The
        open period began on the old clock: its start moves by the same correction."""
        try:
            from paymote.firmware import clock
        except ImportError:
            from firmware import clock
        correction_s = clock.from_gateway(self._client, self._hal, self._last_time_s)
        if correction_s is None:
            return False
        self._period_start_s = max(self._period_start_s + correction_s, self._last_time_s)
        return True

    def period(self):
        """Close the current period: set the clock from the gateway if the HAL
        could not (no NTP), attest if this boot has not been, sign what the
        profile charges (each worth at least one minor unit), then send what
        is queued. While the network is down (the HAL could not join it) the
        period signs and keeps, and sends nothing."""
        online = self.stopped is None and self.connect()
        if online and not getattr(self._hal, "time_synced", True):
            self.time_from_gateway()
        if self._attested_s is not None and self._now_s() - self._attested_s >= self._reattest_s:
            self._attested_s = None  # time for a fresh challenge
        if self._attested_s is None and online:
            self.attest()
        now_s = self._now_s()
        charge = self._billing.charge() if self.stopped is None else None
        if charge is not None:
            collect_after_burst()  # the attestation's and answers' garbage: room for signing
        while charge is not None:
            try:
                self._sign(now_s, charge[0], charge[1])
            except OutboxFull:  # stop producing; what is queued is kept and sent first
                if not self.outbox_full:
                    self.outbox_full = True
                    self._hal.report("outbox full")  # signing waits for the gateway
                break
            self.outbox_full = False
            self._billing.charged(charge[1])
            charge = self._billing.charge()
        collect_after_burst()  # the records kept until the batch is signed go low in the heap
        self._sample(now_s)
        if online:
            collect_after_burst()  # after a reading batch's signing: room for the datagrams
            self.flush(now_s)

    def _sign(self, now_s, amount_minor, evidence):
        self.outbox.check_room()
        seq = self._counter.take()
        payload = messages.intent_payload(
            seq=seq,
            time_s=now_s,
            prev=self.outbox.prev_hash(),
            payer=self._payer,
            payee=self._payee,
            amount_minor=amount_minor,
            currency=self._product["currency"],
            evidence=evidence,
            tariff=list(self._product["tariff"]),
            period_s=max(1, now_s - self._period_start_s),
        )
        self.outbox.put(seq, cose.sign1(payload, self._key, self._kid))
        self._period_start_s = self._last_time_s = now_s

    def _sample(self, now_s):
        """Record this period's readings (SenML, RFC 8428); every few periods,
        sign them as one reading batch. A sensor that fails skips its sample."""
        if not self._records:
            self._records_start_s = now_s
        t = now_s - self._records_start_s  # relative to the batch's base time
        self._records.extend(self._billing.records(t))
        if self._climate is not None:
            try:
                celsius_centi, rh_centi = self._climate.measure()
            except OSError:  # SensorError: the part did not answer or failed its CRC
                self.sensor_errors += 1
            else:
                self._records.append(
                    messages.senml("temp", "Cel", cbor.float_from_decimal(celsius_centi, -2), t)
                )
                self._records.append(
                    messages.senml("humidity", "%RH", cbor.float_from_decimal(rh_centi, -2), t)
                )
        self._sampled_periods += 1
        if self._sampled_periods < self._periods_per_batch or self.stopped is not None:
            return
        self._records[0][messages.SENML_BASE_NAME] = self._kid_hex + ":"
        self._records[0][messages.SENML_BASE_TIME] = self._records_start_s
        seq = self._batch_counter.take()
        payload = messages.reading_batch_payload(seq=seq, time_s=now_s, records=self._records)
        try:
            self.readings.put(seq, cose.sign1(payload, self._key, self._kid))
        except OutboxFull:
            pass  # samples are data, not money: the oldest batch's samples are kept, these dropped
        self._records = []
        self._sampled_periods = 0

    def flush(self, now_s):
        """Send the queues oldest first: intents (one alone, several as a batch),
        then reading batches."""
        self._flush_intents(now_s)
        while self.stopped is None and now_s >= self.wait_until_s:
            queued = self.readings.oldest(1)
            if not queued:
                return
            name, message = queued[0]
            try:
                response = self._client.request(coap.POST, "r", message, cose.CONTENT_FORMAT_SIGN1)
            except (coap.NoAnswerError, MemoryError):  # offline, or no block for it now: next period
                return
            if not self._apply(
                self.readings, name, response.code, response.payload, response.max_age_s, now_s
            ):
                return

    def _flush_intents(self, now_s):
        one_by_one = False
        while self.stopped is None and now_s >= self.wait_until_s:
            queued = self.outbox.oldest(1 if one_by_one else self._batch_max)
            if not queued:
                return
            try:
                verdicts = self._send(queued)
            except coap.NoAnswerError:
                return  # offline: everything stays queued for the next period
            except MemoryError:
                # A fragmented small heap had no block for this batch (its encoding, its
                # answer) just now. Nothing was lost: unanswered, it stays queued, and an
                # intent the gateway did commit is answered 2.04 with its receipt when sent
                # again. The rest of this flush goes one by one, in smaller blocks.
                if len(queued) == 1:
                    return  # next period
                queued = None
                collect_after_burst()
                one_by_one = True
                continue
            for (name, _), (code_, detail, max_age_s) in zip(queued, verdicts):
                if not self._apply(self.outbox, name, code_, detail, max_age_s, now_s):
                    return
            # Let go of this batch's messages and receipts before the next one is read: held
            # while it is, they stay between its blocks and fragment a small heap.
            queued = verdicts = None

    def _send(self, queued):
        """[(code, receipt or diagnostic, Max-Age)] for the queued messages."""
        if len(queued) == 1:
            response = self._client.request(coap.POST, "i", queued[0][1], cose.CONTENT_FORMAT_SIGN1)
            return [(response.code, response.payload, response.max_age_s)]
        payload = cbor.encode([m for _, m in queued])
        answer_bytes_max = len(queued) * _VERDICT_BYTES_MAX + 3  # and the array's head
        if len(queued) > _DATAGRAM_BATCH:
            try:
                from paymote.firmware import blockwise
            except ImportError:
                from firmware import blockwise
            response = blockwise.post(self._client, "b", payload, 60, answer_bytes_max)
        else:
            response = self._client.request(
                coap.POST,
                "b",
                payload,
                60,
                coap.LARGE_ANSWER_BYTES_MAX if len(queued) <= _SMALL_BATCH else coap.MESSAGE_BYTES_MAX,
            )
        self.answered_batches += 1
        if response.code >> 5 == 2:
            items = cbor.decode(response.payload, size_max=answer_bytes_max)
            return [(item[0], item[1], item[2] if len(item) > 2 else 60) for item in items]
        if response.action == coap.DEAD_LETTER:
            # The batch as a whole was refused (4.00, 4.13), not its intents: from now on
            # each goes alone and gets its own verdict, so no intent is dead-lettered for it.
            self._batch_max = 1
            return []
        return [(response.code, response.payload, response.max_age_s)] * len(queued)

    def _stop(self, reason):
        """The gateway said 4.01 / 4.03: send nothing more this boot, and say why."""
        self.stopped = reason
        self._hal.report("stopped: " + reason)

    def _apply(self, outbox, name, code_, detail, max_age_s, now_s):
        """Follow the rule for one answer; False stops this flush."""
        action = coap.action_for(code_)
        if action == coap.DONE:
            outbox.done(name, bytes(detail))
            return True
        if action == coap.DEAD_LETTER:
            reason = "%s %s" % (coap.dotted(code_), _text(detail))
            outbox.dead_letter(name, reason)
            self._hal.report("dead letter %s: %s" % (name, reason))
            return True
        if action == coap.STOP:
            self._stop("%s %s" % (coap.dotted(code_), _text(detail)))
        elif action == coap.WAIT:
            self.wait_until_s = now_s + max_age_s
        return False


def _text(detail):
    return detail if isinstance(detail, str) else bytes(detail).decode()
