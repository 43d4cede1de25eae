#!/usr/bin/env python3
"""SIGTERM to tether-demo with 100 requests in flight: they finish within the grace period, or are cancelled
as disconnects when it expires; new connections are refused; the exit status is 0.

Usage: Scripts/graceful_shutdown.py [path to tether-demo]   (default .build/release/tether-demo)
Talks to 127.0.0.1 only; every wait is bounded.
"""
import json
import signal
import socket
import subprocess
import sys
import threading
import time

DEMO = sys.argv[1] if len(sys.argv) > 1 else ".build/release/tether-demo"
PORT = 18473
CLIENTS = 100


def get(path, timeout=5):
    with socket.create_connection(("127.0.0.1", PORT), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def stats():
    return json.loads(get("/stats/").split(b"\r\n\r\n", 1)[1])


def start(grace):
    process = subprocess.Popen([DEMO, "--port", str(PORT), "--log-level", "warning", "--grace-period", str(grace)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            stats()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("tether-demo did not start")


def run(grace, ms, expect_finished):
    process = start(grace)
    before = stats()["started"]
    replies = [None] * CLIENTS

    def client(index):
        try:
            replies[index] = get(f"/slow/?ms={ms}", timeout=grace + 30)
        except OSError as error:
            replies[index] = repr(error).encode()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while stats()["started"] - before < CLIENTS:
        if time.monotonic() > deadline:
            raise SystemExit("the requests did not all start")
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    refused = False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not refused:
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            time.sleep(0.01)
        except ConnectionRefusedError:
            refused = True
    for thread in threads:
        thread.join(timeout=grace + 60)
    status = process.wait(timeout=grace + 60)
    finished = sum(1 for reply in replies if reply and reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"done"))
    cut = sum(1 for reply in replies if reply == b"")
    print(f"grace {grace} s, handlers of {ms} ms: {finished} finished, {cut} cut off at the end of the grace period, "
          f"new connections refused: {refused}, exit status {status}")
    ok = status == 0 and refused and (finished == CLIENTS if expect_finished else cut == CLIENTS)
    return ok


def main():
    ok = run(grace=10, ms=1500, expect_finished=True)
    ok = run(grace=2, ms=60_000, expect_finished=False) and ok
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
