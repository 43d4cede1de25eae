#!/usr/bin/env python3
"""Measures how fast a server cancels the work of a client that leaves, from outside, over plain HTTP.

Speaks to any server that serves the conformance routes of docs/ConformanceRoutes.md on 127.0.0.1:
  latency  N sequential POST /slow/ requests with a body, each closed after 20 ms; the time from the
           client's close (CLOCK_MONOTONIC) to the handler's cancellation (/stats/ last_cancel_ns).
  wave     N concurrent clients on /slow/, all closed at once; the time from the first close until the
           last handler is cancelled.
--how says how the client leaves: fin (a plain close(), the default) or rst (SO_LINGER 0, then close()).
The requests may go to another address than /stats/ is read from: --connect a proxy in front of the server
(tcp:HOST:PORT, or unix:PATH), --stats the server itself (the same forms; both default to 127.0.0.1:--port).
Requests go to 127.0.0.1 or a local Unix socket only; every loop is bounded in count and time.
"""
import argparse
import json
import socket
import statistics
import struct
import sys
import time

HOWS = ("fin", "rst")


def connect(address, timeout=5):
    """A connected socket to `address`: a port of 127.0.0.1, or "tcp:HOST:PORT", or "unix:PATH"."""
    if isinstance(address, str) and address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(address[len("unix:"):])
        except BaseException:
            s.close()
            raise
        return s
    if isinstance(address, str) and address.startswith("tcp:"):
        host, _, port = address[len("tcp:"):].rpartition(":")
        return socket.create_connection((host, int(port)), timeout=timeout)
    return socket.create_connection(("127.0.0.1", int(address)), timeout=timeout)


def leave(s, how):
    """Closes the client's socket: a FIN (a plain close) or a RST (SO_LINGER 0)."""
    if how == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def stats(port):
    with connect(port) as s:
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


def latency(port, count, how="fin", stats_port=None):
    """`count` requests to `port`, one at a time, each left by `how`; /stats/ read from `stats_port` (or `port`)."""
    stats_port = port if stats_port is None else stats_port
    body = b"x" * 1024
    samples = []
    for _ in range(count):
        before = stats(stats_port)
        s = connect(port)
        try:
            s.sendall(b"POST /slow/?ms=10000 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            wait_for(stats_port, lambda st: st["started"] > before["started"])
            time.sleep(0.02)
            closed = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        finally:
            leave(s, how)
        # The server records the time itself: polling /stats/ at once would only compete with the cancellation.
        time.sleep(0.005)
        after = wait_for(stats_port, lambda st: st["cancelled"] > before["cancelled"])
        samples.append((after["last_cancel_ns"] - closed) / 1e6)
    samples.sort()
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    return {"count": count, "how": how, "p50_ms": p(0.5), "p99_ms": p(0.99), "max_ms": samples[-1],
            "mean_ms": statistics.mean(samples), "samples_ms": samples}


def wave(port, count, how="fin", stats_port=None):
    """`count` clients on /slow/ at `port`, all left at once by `how`; /stats/ read from `stats_port` (or `port`)."""
    stats_port = port if stats_port is None else stats_port
    before = stats(stats_port)
    sockets = []
    first_close = last_close = None
    try:
        for _ in range(count):
            s = connect(port, timeout=10)
            sockets.append(s)
            s.sendall(b"GET /slow/?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(stats_port, lambda st: st["started"] >= before["started"] + count, timeout=30)
        first_close = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    finally:
        for s in sockets:
            leave(s, how)
        last_close = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    after = wait_for(stats_port, lambda st: st["cancelled"] >= before["cancelled"] + count, timeout=30)
    return {"count": count, "how": how, "cancelled": after["cancelled"] - before["cancelled"],
            "last_cancel_after_first_close_ms": (after["last_cancel_ns"] - first_close) / 1e6,
            "closing_ms": (last_close - first_close) / 1e6}  # the client's own time to close them all


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["latency", "wave"])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--how", choices=HOWS, default="fin", help="how the client leaves (default fin)")
    parser.add_argument("--connect", help="where the requests go: tcp:HOST:PORT or unix:PATH (default --port)")
    parser.add_argument("--stats", help="where /stats/ is read: tcp:HOST:PORT or unix:PATH (default --port)")
    args = parser.parse_args()
    target = args.connect or args.port
    stats_port = args.stats or args.port
    if args.mode == "latency":
        r = latency(target, args.count, args.how, stats_port)
        print(f"close->cancel ({r['how']}) over {r['count']} requests: p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, max {r['max_ms']:.3f} ms, mean {r['mean_ms']:.3f} ms")
    else:
        r = wave(target, args.count, args.how, stats_port)
        print(f"wave of {r['count']} ({r['how']}): {r['cancelled']} cancelled, the last {r['last_cancel_after_first_close_ms']:.2f} ms after the first close")


if __name__ == "__main__":
    sys.exit(main())
