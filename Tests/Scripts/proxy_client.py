#!/usr/bin/env python3
"""A raw HTTP/1.1 client for ProxyDeploymentTests: it talks to tether-demo through nginx or HAProxy (or directly) and
leaves the way a test asks, by FIN, RST or half-close, before, during or after its body, or while a response streams.

Addresses are `tcp:HOST:PORT` or `unix:PATH`. Every command prints one JSON object on its last line. Stdlib only;
every wait is bounded (--timeout seconds a step).

  leave    --connect A --stats A --scenario S --how fin|rst|half [--until FIELD] [--spool DIR] [--source IP]
           Sends scenario S's request to --connect, waits until it is under way (the handler started, by --stats'
           `started`; the first chunks or ticks arrived; or the body is being spooled in --spool), leaves, then polls
           --stats until FIELD rises (`cancelled`, `stream_stopped` or `completed`; `spool_gone`: no spooled body
           left in --spool). Prints {"before", "after", "reached", "underway", "received", "left_ns", ...}.
  scope    --connect A [--source IP] [--header "Name: value"]... [--repeat N]
           GET /scope/; prints {"status", "scope"}. With --repeat, N requests on one keep-alive connection, and
           "scopes" besides.
  workers  --proxy A --direct A --workers N
           Learns the worker pids behind --proxy (concurrent /scope/ requests) and holds one keep-alive connection
           to --direct per worker (each worker's /stats/ is its own), then leaves a GET /slow/ through --proxy by FIN
           and polls until the worker that ran it counts the cancellation.
           Prints {"proxy_pids", "workers", "worker", "before", "after", "reached"}.
  systemd-exec --listen HOST:PORT -- COMMAND...
           Binds and listens on HOST:PORT, makes that socket file descriptor 3 with LISTEN_FDS=1 and LISTEN_PID set,
           as systemd's socket activation does, and becomes COMMAND (exec: same process, same pid).
"""
import argparse
import json
import os
import select
import socket
import struct
import time

SCENARIOS = {
    # name: (method, target, body bytes sent, declared Content-Length, what "under way" means)
    "slow": ("GET", "/slow/?ms=30000", 0, None, "started"),
    "blocking": ("GET", "/blocking/?ms=30000", 0, None, "started"),
    "slow-short": ("GET", "/slow/?ms=1500", 0, None, "started"),
    "post-after-body": ("POST", "/slow/?ms=30000", 100_000, 100_000, "started"),
    "post-mid-body": ("POST", "/slow/?ms=30000", None, 1 << 31, "spooling"),
    "stream": ("GET", "/stream/?chunks=1000&ms=20", 0, None, "chunks"),
    "ws": ("GET", "/ws/ticker/?ms=20", 0, None, "ticks"),
}


def connect(address, source=None, timeout=5):
    kind, _, rest = address.partition(":")
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(rest)
        return sock
    host, _, port = rest.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if source:
        sock.bind((source, 0))
    sock.connect((host, int(port)))
    return sock


def head(method, target, headers=(), content_length=None, keep_alive=False):
    lines = [f"{method} {target} HTTP/1.1", "Host: tether.test"]
    lines += list(headers)
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Reader:
    """Reads one response at a time from a keep-alive connection (Content-Length or chunked)."""

    def __init__(self, sock, timeout=5):
        self.sock, self.buffer, self.timeout = sock, b"", timeout

    def _more(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
            raise TimeoutError("no response in time")
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the response ended")
        self.buffer += data

    def _take(self, size, deadline):
        while len(self.buffer) < size:
            self._more(deadline)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self, deadline):
        while b"\r\n" not in self.buffer:
            self._more(deadline)
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def response(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buffer:
            self._more(deadline)
        raw, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "chunked" in fields.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._line(deadline).split(b";")[0], 16)
                if size == 0:
                    while self._line(deadline):
                        pass
                    return status, fields, body
                body += self._take(size, deadline)
                self._take(2, deadline)
        if "content-length" in fields:
            return status, fields, self._take(int(fields["content-length"]), deadline)
        while True:  # read to the end of the connection
            try:
                self._more(deadline)
            except ConnectionError:
                body, self.buffer = self.buffer, b""
                return status, fields, body


def get(address, target, headers=(), source=None, timeout=5):
    with connect(address, source, timeout) as sock:
        sock.sendall(head("GET", target, headers))
        status, _, body = Reader(sock, timeout).response()
        return status, body


def stats(address):
    status, body = get(address, "/stats/")
    if status != 200:
        raise RuntimeError(f"/stats/ answered {status}")
    return json.loads(body)


def spooled(directory):
    """The spooled request bodies in `directory`, with their sizes."""
    found = {}
    for name in os.listdir(directory):
        if name.startswith("tether-body-"):
            try:
                found[name] = os.path.getsize(os.path.join(directory, name))
            except FileNotFoundError:
                pass
    return found


def poll(predicate, timeout):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.01)


def drain(sock, received):
    """Appends whatever has arrived; returns False once the peer has closed."""
    try:
        while select.select([sock], [], [], 0)[0]:
            data = sock.recv(65536)
            if not data:
                return False
            received.extend(data)
    except (ConnectionError, OSError):
        return False
    return True


def leave_socket(sock, how):
    if how == "rst":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    elif how == "fin":
        # The FIN first, even if more of the response is on its way (a close with unread data would be a RST).
        sock.shutdown(socket.SHUT_WR)
        sock.close()
    else:  # half: the FIN, with the socket still open to read
        sock.shutdown(socket.SHUT_WR)


def leave(args):
    method, target, body_bytes, content_length, underway_kind = SCENARIOS[args.scenario]
    before = stats(args.stats)
    before_spool = spooled(args.spool) if args.spool else {}
    sock = connect(args.connect, args.source)
    headers = []
    if args.scenario == "ws":
        headers = ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                   "Sec-WebSocket-Version: 13"]
    sock.sendall(head(method, target, headers, content_length, keep_alive=args.scenario == "ws"))
    if body_bytes:
        sock.sendall(b"x" * body_bytes)
    received = bytearray()
    sent = 0
    deadline = time.monotonic() + args.timeout
    underway = False
    if underway_kind == "spooling":
        sock.setblocking(False)
        chunk = b"y" * 65536
        while time.monotonic() < deadline and not underway:
            # Never the whole body: the request must stay unfinished, whatever a proxy buffers.
            if sent + len(chunk) < content_length and select.select([], [sock], [], 0.01)[1]:
                try:
                    sent += sock.send(chunk)
                except BlockingIOError:
                    pass
            elif sent + len(chunk) >= content_length:
                time.sleep(0.01)
            underway = any(size > 0 for name, size in spooled(args.spool).items() if name not in before_spool)
        sock.setblocking(True)
    else:
        while time.monotonic() < deadline and not underway:
            if underway_kind == "started":
                underway = stats(args.stats)["started"] > before["started"]
            else:
                drain(sock, received)
                marker = b"chunk 1\n" if underway_kind == "chunks" else b"tick 1"
                underway = marker in received
            if not underway:
                time.sleep(0.005)
    drain(sock, received)
    left_ns = time.monotonic_ns()
    leave_socket(sock, args.how)

    field = args.until
    if field == "spool_gone":
        reached = poll(lambda: not set(spooled(args.spool)) - set(before_spool), args.timeout)
        after = stats(args.stats)
    else:
        latest = {}

        def risen():
            latest["stats"] = stats(args.stats)
            return latest["stats"][field] > before[field]

        reached = poll(risen, args.timeout)
        after = latest["stats"]
    if args.how == "half":
        drain(sock, received)
        sock.close()
    status_line = bytes(received).split(b"\r\n", 1)[0].decode("latin-1") if received else ""
    print(json.dumps({
        "before": before, "after": after, "reached": bool(reached), "underway": underway,
        "status_line": status_line, "received_bytes": len(received), "body_bytes_sent": sent,
        "left_ns": left_ns,
        "latency_ms": (after["last_cancel_ns"] - left_ns) / 1e6 if after["last_cancel_ns"] > left_ns else None,
    }))


def scope(args):
    def parse(body):
        try:
            return json.loads(body)
        except ValueError:
            return body.decode("latin-1")

    if args.repeat == 1:
        status, body = get(args.connect, "/scope/", args.header, args.source, args.timeout)
        print(json.dumps({"status": status, "scope": parse(body)}))
        return
    # --repeat N: N requests, one after another, on one keep-alive connection.
    scopes = []
    with connect(args.connect, args.source, args.timeout) as sock:
        reader = Reader(sock, args.timeout)
        for _ in range(args.repeat):
            sock.sendall(head("GET", "/scope/", args.header, keep_alive=True))
            status, _, body = reader.response()
            scopes.append(parse(body))
    print(json.dumps({"status": status, "scope": scopes[0], "scopes": scopes}))


def workers(args):
    deadline = time.monotonic() + args.timeout
    # The workers behind the proxy: rounds of concurrent requests, so that the proxy opens several upstream
    # connections, which the workers accept from their shared socket.
    proxy_pids = set()
    rounds = 0
    while len(proxy_pids) < args.workers and time.monotonic() < deadline:
        rounds += 1
        socks = [connect(args.proxy) for _ in range(8)]
        for sock in socks:
            sock.sendall(head("GET", "/scope/"))
        for sock in socks:
            with sock:
                status, _, body = Reader(sock).response()
                if status == 200:
                    proxy_pids.add(json.loads(body)["worker"])
    # One keep-alive connection to each worker, to read that worker's own /stats/.
    held = {}
    attempts = 0
    while len(held) < args.workers and time.monotonic() < deadline:
        attempts += 1
        sock = connect(args.direct)
        reader = Reader(sock)
        sock.sendall(head("GET", "/scope/", keep_alive=True))
        status, _, body = reader.response()
        pid = json.loads(body)["worker"] if status == 200 else None
        if pid is None or pid in held:
            sock.close()
        else:
            held[pid] = (sock, reader)

    def worker_stats():
        result = {}
        for pid, (sock, reader) in held.items():
            sock.sendall(head("GET", "/stats/", keep_alive=True))
            result[pid] = json.loads(reader.response()[2])
        return result

    report = {"proxy_pids": sorted(proxy_pids), "rounds": rounds, "workers": sorted(held), "attempts": attempts,
              "worker": None, "before": None, "after": None, "reached": False}
    if len(held) == args.workers:
        before = worker_stats()
        client = connect(args.proxy)
        client.sendall(head("GET", "/slow/?ms=30000"))
        worker = None
        started_deadline = time.monotonic() + args.timeout
        while worker is None and time.monotonic() < started_deadline:
            now = worker_stats()
            worker = next((pid for pid in now if now[pid]["started"] > before[pid]["started"]), None)
            if worker is None:
                time.sleep(0.005)
        leave_socket(client, "fin")
        latest = {}

        def cancelled():
            latest["stats"] = worker_stats()
            return worker is not None and latest["stats"][worker]["cancelled"] > before[worker]["cancelled"]

        reached = poll(cancelled, args.timeout)
        report.update(worker=worker, before={str(k): v for k, v in before.items()},
                      after={str(k): v for k, v in latest["stats"].items()}, reached=bool(reached))
    for sock, _ in held.values():
        sock.close()
    print(json.dumps(report))


def systemd_exec(args):
    host, _, port = args.listen.rpartition(":")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(port)))
    listener.listen(128)
    if listener.fileno() != 3:
        os.dup2(listener.fileno(), 3)  # inheritable
        listener.close()
    else:
        os.set_inheritable(3, True)
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    environment = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="tether.socket")
    os.execve(command[0], command, environment)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("leave")
    one.add_argument("--connect", required=True)
    one.add_argument("--stats", required=True)
    one.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    one.add_argument("--how", choices=["fin", "rst", "half"], default="fin")
    one.add_argument("--until", choices=["cancelled", "stream_stopped", "completed", "spool_gone"],
                     default="cancelled")
    one.add_argument("--spool")
    one.add_argument("--source")
    one.add_argument("--timeout", type=float, default=5)
    two = commands.add_parser("scope")
    two.add_argument("--connect", required=True)
    two.add_argument("--source")
    two.add_argument("--header", action="append", default=[])
    two.add_argument("--timeout", type=float, default=5)
    two.add_argument("--repeat", type=int, default=1)
    three = commands.add_parser("workers")
    three.add_argument("--proxy", required=True)
    three.add_argument("--direct", required=True)
    three.add_argument("--workers", type=int, default=2)
    three.add_argument("--timeout", type=float, default=5)
    four = commands.add_parser("systemd-exec")
    four.add_argument("--listen", required=True)
    four.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    {"leave": leave, "scope": scope, "workers": workers, "systemd-exec": systemd_exec}[args.command](args)


if __name__ == "__main__":
    main()
