#!/usr/bin/env python3
"""Keep-alive GET load for a fixed time from several threads; every failure a client would see is counted.

usage: reload_load.py PORT STOPFILE CLIENTS [PATH]
Runs until the file STOPFILE exists (at most 120 s), then prints one JSON object: requests, failures, the first
failures' descriptions, and the worker pids seen (from /scope/ when PATH is /scope/).
"""
import http.client
import json
import sys
import threading
import time

import os

port, stop_file, clients = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
path = sys.argv[4] if len(sys.argv) > 4 else "/scope/"
lock = threading.Lock()
totals = {"requests": 0, "failures": 0, "errors": [], "workers": set()}


def client():
    deadline = time.monotonic() + 120
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    requests = failures = 0
    errors, workers = [], set()
    while time.monotonic() < deadline and not os.path.exists(stop_file):
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            if path == "/scope/":
                workers.add(json.loads(body)["worker"])
            # A response that says it closes the connection: the next request opens a new one, as clients do.
            if response.will_close:
                connection.close()
            requests += 1
        except Exception as error:  # every way a request can fail counts
            failures += 1
            errors.append(f"{type(error).__name__}: {error}")
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    with lock:
        totals["requests"] += requests
        totals["failures"] += failures
        totals["errors"] += errors[:5]
        totals["workers"] |= workers


threads = [threading.Thread(target=client) for _ in range(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
totals["workers"] = sorted(totals["workers"])
totals["errors"] = totals["errors"][:10]
print(json.dumps(totals))
