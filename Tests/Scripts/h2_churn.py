#!/usr/bin/env python3
"""Opens --connections HTTP/2 connections (h2c) to 127.0.0.1:--port, one after another. On each it sends --pairs
HEADERS + RST_STREAM pairs, then DATA on stream 0, which is a connection error, and reads until the server closes.
Prints one JSON object: {"connections": n, "closed_by_server": k}. Stdlib only; every wait is bounded."""
import argparse
import json
import select
import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS = 0x0, 0x1, 0x3, 0x4
END_STREAM_AND_HEADERS = 0x5
# GET / over http, and :authority "x": static-table indices and one literal without indexing (RFC 7541).
BLOCK = b"\x82\x86\x84\x01\x01x"


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def churn(port, pairs):
    """One connection; returns whether the server closed it within 5 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        payload = b"".join(
            frame(HEADERS, END_STREAM_AND_HEADERS, 2 * i + 1, BLOCK) + frame(RST_STREAM, 0, 2 * i + 1, struct.pack(">I", 8))
            for i in range(pairs))
        connection.sendall(PREFACE + frame(SETTINGS, 0, 0) + payload + frame(DATA, 0, 0, b"x"))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if not select.select([connection], [], [], deadline - time.monotonic())[0]:
                return False
            try:
                if not connection.recv(65536):
                    return True
            except ConnectionResetError:
                return True
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=100)
    args = parser.parse_args()
    closed = sum(churn(args.port, args.pairs) for _ in range(args.connections))
    print(json.dumps({"connections": args.connections, "closed_by_server": closed}))


if __name__ == "__main__":
    main()
