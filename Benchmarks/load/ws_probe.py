#!/usr/bin/env python3
"""WebSocket probes of the load benchmarks, from outside, over plain sockets (stdlib only).

Speaks to a server on 127.0.0.1 that serves the demo's WebSocket routes:
  idle     opens N WebSocket connections to /ws/echo/ (handshake done, then idle), in batches, from several
           127.0.0.x source addresses if asked (--sources), and holds them until Enter (or --hold seconds).
  latency  Tether's demo only: N times, a WebSocket on /ws/ticker/?ms=5 that receives a few ticks and then leaves,
           taking turns among the variants: `close` (a close frame, code 1000), `fin` (shutdown(SHUT_WR), a TCP FIN
           without a close frame) and `rst` (SO_LINGER 0, then close(): a TCP RST). The time from just before the
           client's send (CLOCK_MONOTONIC) to the application's cancellation, which the demo records itself in
           /stats/ (`stream_stopped` counts it, `last_cancel_ns` is its CLOCK_MONOTONIC time): p50, p99, max per
           variant, and the cancellation reasons the server gave.
Requests go to 127.0.0.1 only; every loop is bounded in count and time.
"""
import argparse
import base64
import hashlib
import json
import os
import select
import socket
import statistics
import struct
import sys
import time

HOST = "127.0.0.1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
IP_BIND_ADDRESS_NO_PORT = 24  # Linux: bind() a source address without reserving a port until connect()
VARIANTS = ["close", "fin", "rst"]


def monotonic_ns():
    """CLOCK_MONOTONIC, the clock of the demo's last_cancel_ns (clock_gettime(CLOCK_MONOTONIC) in DemoApp.swift)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# ---------------------------------------------------------------- HTTP


def stats(port):
    """The demo's /stats/ counters, over a connection of their own."""
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(b"GET /stats/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def wait_for(port, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = stats(port)
        if predicate(current):
            return current
        time.sleep(0.002)
    raise TimeoutError(f"server state did not change within {timeout} s")


# ---------------------------------------------------------------- WebSocket


class HandshakeError(Exception):
    pass


def handshake_request(path, key):
    return (f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def read_handshake(sock, key):
    """Reads the server's answer to the handshake: 101 with the right Sec-WebSocket-Accept, or HandshakeError.
    Returns the bytes that came after the head (frames already sent)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise HandshakeError(f"connection closed during the handshake ({buf[:200]!r})")
        buf += chunk
        if len(buf) > 65536:
            raise HandshakeError("handshake answer too large")
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if status != 101 or headers.get("sec-websocket-accept") != accept:
        raise HandshakeError(f"not upgraded: {lines[0]} {headers}")
    return rest


def connect(port, path, timeout=10.0, source=None):
    """A socket with the handshake done, and the bytes received after the handshake's answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        if source is not None:
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((source, 0))
        s.connect((HOST, port))
        key = new_key()
        s.sendall(handshake_request(path, key))
        return s, read_handshake(s, key)
    except BaseException:
        s.close()
        raise


def frame(opcode, payload=b""):
    """A client frame: FIN, masked (the key need not be unpredictable for a probe, but it is random anyway)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def close_frame(code=1000):
    return frame(0x8, struct.pack("!H", code))


class FrameReader:
    """Unmasked server frames from a socket: (fin, opcode, payload)."""

    def __init__(self, sock, buffered=b""):
        self.sock = sock
        self.buf = bytearray(buffered)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed in the middle of a frame" if self.buf else "connection closed")
            self.buf += chunk

    def next(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        length, offset = b1 & 0x7F, 2
        if length == 126:
            self._need(4)
            length, offset = struct.unpack_from("!H", self.buf, 2)[0], 4
        elif length == 127:
            self._need(10)
            length, offset = struct.unpack_from("!Q", self.buf, 2)[0], 10
        if b1 & 0x80:
            raise ValueError("the server sent a masked frame")
        self._need(offset + length)
        payload = bytes(self.buf[offset:offset + length])
        del self.buf[:offset + length]
        return bool(b0 & 0x80), b0 & 0x0F, payload


def drain_until_closed(sock, timeout=2.0):
    """Reads and drops whatever comes until the server closes the connection, or `timeout`: whether it closed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            continue
        try:
            if not sock.recv(65536):
                return True
        except OSError:  # reset
            return True
    return False


# ---------------------------------------------------------------- idle


def open_idle(port, count, path="/ws/echo/", sources=1, batch=200):
    """`count` WebSocket connections, handshake done: a batch at a time is connected and sent its handshake, then
    every answer of the batch is read (so that the server's accept queue never holds more than a batch). Source
    addresses 127.0.0.1 ... 127.0.0.{sources}, in turn, each with its own range of ephemeral ports."""
    sockets = []
    try:
        for first in range(0, count, batch):
            pending = []
            for index in range(first, min(count, first + batch)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(s)
                s.settimeout(10)
                if sources > 1:
                    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                    s.bind((f"127.0.0.{1 + index % sources}", 0))
                s.connect((HOST, port))
                key = new_key()
                s.sendall(handshake_request(path, key))
                pending.append((s, key))
            for s, key in pending:
                if read_handshake(s, key):
                    raise HandshakeError("the server sent a frame to an idle connection right after its handshake")
    except BaseException:
        for s in sockets:
            s.close()
        raise
    return sockets


def closed_by_server(sockets):
    """How many of the sockets the server has closed (or sent something to): poll, as select() stops at fd 1024."""
    poller = select.poll()
    for s in sockets:
        poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
    return len(poller.poll(0))


# ---------------------------------------------------------------- close -> cancel latency


def leave(sock, variant):
    """The client leaves: the time (CLOCK_MONOTONIC ns) taken just before its send, and what the server did."""
    if variant == "close":
        data = close_frame(1000)
        sent = monotonic_ns()
        sock.sendall(data)
        closed = drain_until_closed(sock)
        sock.close()
    elif variant == "fin":
        sent = monotonic_ns()
        sock.shutdown(socket.SHUT_WR)
        closed = drain_until_closed(sock)
        sock.close()
    elif variant == "rst":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sent = monotonic_ns()
        sock.close()
        closed = None
    else:
        raise ValueError(variant)
    return sent, closed


def latency(port, count, variants=VARIANTS, ticks=3, interval_ms=5):
    """`count` samples of each variant, taking turns: a ticker that has sent `ticks` messages, then left."""
    samples = {v: [] for v in variants}
    reasons = {v: {} for v in variants}
    server_closed = {v: 0 for v in variants}
    first = stats(port)
    for index in range(count * len(variants)):
        variant = variants[index % len(variants)]
        before = stats(port)
        sock, rest = connect(port, f"/ws/ticker/?ms={interval_ms}", timeout=5)
        try:
            reader = FrameReader(sock, rest)
            received = 0
            while received < ticks:
                fin, opcode, payload = reader.next()
                if opcode == 0x1:
                    received += 1
                elif opcode == 0x8:
                    raise ConnectionError(f"the ticker closed: {payload!r}")
        except BaseException:
            sock.close()
            raise
        sent, closed = leave(sock, variant)
        if closed:
            server_closed[variant] += 1
        # The server records the time itself: polling /stats/ at once would only compete with the cancellation.
        time.sleep(0.005)
        after = wait_for(port, lambda st: st["stream_stopped"] > before["stream_stopped"])
        samples[variant].append((after["last_cancel_ns"] - sent) / 1e6)
        for reason, n in after.get("reasons", {}).items():
            delta = n - before.get("reasons", {}).get(reason, 0)
            if delta:
                reasons[variant][reason] = reasons[variant].get(reason, 0) + delta
    result = {"count": count, "ticks_before_leaving": ticks, "ticker_ms": interval_ms, "variants": {}}
    for variant in variants:
        s = sorted(samples[variant])
        p = lambda q: s[min(len(s) - 1, int(q * len(s)))]
        result["variants"][variant] = {
            "count": len(s), "p50_ms": p(0.5), "p90_ms": p(0.9), "p99_ms": p(0.99), "max_ms": s[-1], "min_ms": s[0],
            "mean_ms": statistics.mean(s), "reasons": reasons[variant],
            "server_closed_within_2s": server_closed[variant] if variant != "rst" else None, "samples_ms": s}
    last = stats(port)
    result["stream_stopped"] = last["stream_stopped"] - first["stream_stopped"]
    if result["stream_stopped"] != count * len(variants):
        result["warning"] = f"stream_stopped moved by {result['stream_stopped']}, not {count * len(variants)}"
    return result


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["idle", "latency"])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--count", type=int, default=200, help="idle: connections; latency: samples per variant")
    parser.add_argument("--sources", type=int, default=1, help="idle: source addresses 127.0.0.1 ... 127.0.0.N")
    parser.add_argument("--hold", type=float, default=None, help="idle: seconds to hold them (default: until Enter)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="latency: comma-separated subset of close,fin,rst")
    args = parser.parse_args()
    if args.mode == "idle":
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < args.count + 64:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.count + 64), hard))
        started = time.monotonic()
        sockets = open_idle(args.port, args.count, sources=args.sources)
        print(f"{len(sockets)} WebSocket connections open in {time.monotonic() - started:.2f} s", flush=True)
        if args.hold is None:
            input("Enter closes them: ")
        else:
            time.sleep(min(args.hold, 3600))
        print(f"closed by the server meanwhile: {closed_by_server(sockets)}")
        for s in sockets:
            s.close()
    else:
        r = latency(args.port, args.count, [v.strip() for v in args.variants.split(",") if v.strip()])
        for variant, v in r["variants"].items():
            print(f"{variant}: leave -> cancel over {v['count']}: p50 {v['p50_ms']:.3f} ms, p99 {v['p99_ms']:.3f} ms, "
                  f"max {v['max_ms']:.3f} ms, mean {v['mean_ms']:.3f} ms; reasons {v['reasons']}")
        if "warning" in r:
            print("WARNING:", r["warning"])


if __name__ == "__main__":
    sys.exit(main())
