#!/usr/bin/env python3
"""A client whose network disappears mid-request, without a FIN or an RST: tether-demo must notice and cancel the
request as client_unreachable.

Usage: Tests/Scripts/silent_client.py --server PATH --mode h1|h2

Runs as root and needs iproute2 (`ip`); mode h2 needs the PyPI package h2. It makes two network namespaces,
tether-s-PID and tether-c-PID, joined by a veth pair (10.213.X.1 and 10.213.X.2, a /30), and runs the server in the
first with TCP keepalive, TCP_USER_TIMEOUT and HTTP/2 PINGs turned on. From the second it requests
/slow/?ms=60000 (HTTP/1.1, or HTTP/2 by prior knowledge), lets the connection live through a few keepalive and PING
rounds (nothing may be cancelled then), and sets the client's end of the link down. That makes the client silent:
the client's kernel no longer sends or receives anything on the link, and the server's veth loses its carrier, so
what the server sends is dropped without an ICMP error or a reset, and the client sees nothing either. (tc netem
loss would do as well, but needs the sch_netem module, which many kernels and containers lack.) The script
then polls /stats/ from inside the server's namespace until the cancellation is counted, for at most --notice-limit
seconds.

It prints one line of JSON:
    {"mode": "h1", "cancelled": true, "reasons": {"client_unreachable": 1}, "noticed_after_s": 3.2, ...}
noticed_after_s runs from the cut to the server's last_cancel_ns (both CLOCK_MONOTONIC). Further keys:
cancelled_before_cut (cancellations while the link was up: must be 0), client_saw_after_cut (what reached the
client after the cut: must be "nothing"), client_errors (present only if the connection broke or the request
ended before the cut), server_socket (the server's socket, from ss, before the cut), and on a
failure "error" and the tail of the server's log. The exit status is 0 when the run got as far as the measurement,
2 when it could not (not root, no ip, no h2, the server did not start...).

The namespaces and the server are removed on every exit, and each run first removes the namespaces (and their
processes) of runs whose process has died. All traffic stays in the two namespaces; every wait is bounded.
"""
import argparse
import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PORT = 8000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
NAMESPACE_PATTERN = re.compile(r"^tether-[sc]-(\d+)$")


class Failure(Exception):
    """A run that could not get as far as the measurement."""


def run(*command, check=True):
    result = subprocess.run(command, capture_output=True, text=True, timeout=20)
    if check and result.returncode != 0:
        raise Failure(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result


# Switching namespaces ---------------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if hasattr(os, "setns"):  # Python 3.12
        os.setns(fd, CLONE_NEWNET)
    elif _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@contextlib.contextmanager
def netns(name):
    """Runs the block in network namespace `name`, on this thread only. A socket keeps the namespace it was made
    in, so sockets made in the block talk from inside `name` for their whole life."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def die_with_parent(sig):
    """Asks the kernel for `sig` when this process's parent ends (prctl PR_SET_PDEATHSIG); it survives exec."""
    _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


# Namespaces --------------------------------------------------------------------------------------------------------


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_namespace(name):
    """Kills what runs in the namespace, then deletes it (with the veth end in it)."""
    pids = run("ip", "netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline and run("ip", "netns", "pids", name, check=False).stdout.split():
        time.sleep(0.05)
    run("ip", "netns", "del", name, check=False)


def remove_stale_namespaces():
    listing = run("ip", "netns", "list", check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        match = NAMESPACE_PATTERN.match(name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            remove_namespace(name)


class Link:
    """Two namespaces joined by a veth pair."""

    def __init__(self):
        pid = os.getpid()
        self.server_ns, self.client_ns = f"tether-s-{pid}", f"tether-c-{pid}"
        self.server_veth, self.client_veth = f"tsv{pid}", f"tcv{pid}"
        subnet = pid % 256
        self.server_address, self.client_address = f"10.213.{subnet}.1", f"10.213.{subnet}.2"
        self.made = []

    def make(self):
        for name in (self.server_ns, self.client_ns):
            try:
                run("ip", "netns", "add", name)
            except Failure as failure:
                raise Failure(f"{failure} (a container needs CAP_SYS_ADMIN and CAP_NET_ADMIN: --privileged)")
            self.made.append(name)
        run("ip", "link", "add", self.server_veth, "netns", self.server_ns, "type", "veth",
            "peer", "name", self.client_veth, "netns", self.client_ns)
        for ns, veth, address in ((self.server_ns, self.server_veth, self.server_address),
                                  (self.client_ns, self.client_veth, self.client_address)):
            run("ip", "-n", ns, "addr", "add", f"{address}/30", "dev", veth)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "link", "set", veth, "up")

    def cut(self):
        run("ip", "-n", self.client_ns, "link", "set", self.client_veth, "down")

    def remove(self):
        for name in reversed(self.made):
            remove_namespace(name)
        self.made = []


# HTTP ---------------------------------------------------------------------------------------------------------------


def stats(link, timeout=2.0):
    """GET /stats/ from inside the server's namespace."""
    with netns(link.server_ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        sock.connect((link.server_address, PORT))
        sock.sendall(b"GET /stats/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise Failure(f"/stats/ answered {head[:100]!r}")
    return json.loads(body)


def wait_for(condition, limit, what):
    deadline = time.monotonic() + limit
    while True:
        try:
            value = condition()
            if value is not None:
                return value
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise Failure(f"{what} within {limit} s")
        time.sleep(0.05)


class SilentClient:
    """One request from the client's namespace. Records what ends or disturbs it before the cut (errors), and
    whatever still reaches the client after it (after_cut)."""

    def __init__(self, link, path):
        self.link, self.path = link, path
        with netns(link.client_ns):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect((link.server_address, PORT))
        self.cut = False
        self.errors = []
        self.after_cut = []

    def record(self, what):
        if self.cut:
            self.after_cut.append(what)
        else:
            self.errors.append(f"before the cut: {what}")

    def after_cut_summary(self):
        return ", ".join(self.after_cut) if self.after_cut else "nothing"

    def close(self):
        self.sock.close()


class HTTP1Client(SilentClient):
    def start(self):
        self.sock.sendall(f"GET {self.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.sock.setblocking(False)

    def observe(self):
        """Records what arrived, without waiting: bytes, an end or an error."""
        try:
            data = self.sock.recv(65536, socket.MSG_DONTWAIT)
            self.record(f"{len(data)} bytes" if data else "FIN")
        except BlockingIOError:
            pass
        except OSError as error:
            self.record(errno.errorcode.get(error.errno, str(error.errno)))

    def stop(self):
        pass


class HTTP2Client(SilentClient):
    """HTTP/2 by prior knowledge. A thread reads the connection and answers the server's PINGs (and SETTINGS), as a
    live client does, until the link is cut; after it, it records what arrives."""

    def start(self):
        try:
            import h2.config
            import h2.connection
        except ImportError as error:
            raise Failure(f"mode h2 needs the PyPI package h2 (pip install h2): {error}")
        self.connection = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        with self.lock:
            self.connection.initiate_connection()
            headers = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"),
                       (b":path", self.path.encode())]
            self.connection.send_headers(1, headers, end_stream=True)
            self.sock.sendall(self.connection.data_to_send())
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        while not self.stopping.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as error:
                self.record(errno.errorcode.get(error.errno, str(error.errno)))
                return
            if not data:
                self.record("FIN")
                return
            with self.lock:
                try:
                    events = self.connection.receive_data(data)
                    reply = self.connection.data_to_send()
                    if reply:
                        self.sock.sendall(reply)
                except Exception as error:  # a protocol error or a failed send: the run's report says which
                    self.record(f"{type(error).__name__}: {error}")
                    return
            if self.cut:
                # A PING read just after the cut was sent before it; anything else means the server reached the
                # client (a GOAWAY, a reset, a response).
                names = (type(event).__name__ for event in events)
                self.after_cut.extend(name for name in names if name not in ("PingReceived", "PingAckReceived"))
            else:
                for event in events:
                    if type(event).__name__ in ("StreamReset", "ConnectionTerminated", "StreamEnded"):
                        self.record(str(event))

    def observe(self):
        pass

    def stop(self):
        self.stopping.set()
        if hasattr(self, "thread"):
            self.thread.join(timeout=2)


# The run ------------------------------------------------------------------------------------------------------------


def server_socket(link):
    """The server's side of the connection as ss shows it, with its timer (keepalive, or retransmission)."""
    if not shutil.which("ss"):
        return None
    out = run("ip", "netns", "exec", link.server_ns, "ss", "-tnoH", "state", "established",
              f"( sport = :{PORT} and dst {link.client_address} )", check=False).stdout
    return " ".join(out.split()) or None


def measure(arguments, link, log):
    report = {"mode": arguments.mode}
    link.make()
    command = ["ip", "netns", "exec", link.server_ns, arguments.server, "--host", link.server_address,
               "--port", str(PORT), "--tcp-keepalive", "1", "--tcp-user-timeout", "3",
               "--h2-ping-interval", "1", "--h2-ping-timeout", "2", "--log-level", "warning"]
    # `ip netns exec` execs the server: this process is the server's.
    # It is killed if this script is, even by SIGKILL.
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                              preexec_fn=lambda: die_with_parent(signal.SIGKILL))
    try:
        def answering():
            if server.poll() is not None:
                raise Failure(f"the server exited with status {server.returncode}")
            return stats(link, timeout=1)

        try:
            wait_for(answering, 30, "the server did not answer")
        except Failure:
            if server.poll() is not None:
                raise Failure(f"the server exited with status {server.returncode}")
            raise
        before = stats(link)
        client = (HTTP1Client if arguments.mode == "h1" else HTTP2Client)(link, "/slow/?ms=60000")
        try:
            client.start()
            wait_for(lambda: True if stats(link)["started"] > before["started"] else None, 10,
                     "the request did not start")
            # Keepalive probes and PINGs go back and forth while the client is alive: nothing is cancelled.
            time.sleep(arguments.healthy_seconds)
            alive = stats(link)
            report["cancelled_before_cut"] = alive["cancelled"] - before["cancelled"]
            report["server_socket"] = server_socket(link)
            client.observe()
            if client.errors:
                report["client_errors"] = client.errors
            cut_ns = time.monotonic_ns()
            link.cut()
            client.cut = True
            deadline = time.monotonic() + arguments.notice_limit
            latest = alive
            while time.monotonic() < deadline:
                client.observe()
                with contextlib.suppress(OSError, ValueError):
                    latest = stats(link)
                if latest["cancelled"] > alive["cancelled"]:
                    break
                time.sleep(0.1)
            client.observe()
            client.stop()
            report["cancelled"] = latest["cancelled"] > alive["cancelled"]
            report["reasons"] = latest.get("reasons", {})
            if report["cancelled"]:
                report["noticed_after_s"] = round((latest["last_cancel_ns"] - cut_ns) / 1e9, 3)
            else:
                report["noticed_after_s"] = None
            report["client_saw_after_cut"] = client.after_cut_summary()
            report["stats"] = latest
        finally:
            client.stop()
            client.close()
    finally:
        if server.poll() is None:
            server.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=5)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the tether-demo binary")
    parser.add_argument("--mode", choices=["h1", "h2"], required=True)
    parser.add_argument("--healthy-seconds", type=float, default=4.0,
                        help="how long the connection lives before the cut (past a PING timeout)")
    parser.add_argument("--notice-limit", type=float, default=30.0, help="how long to wait for the cancellation")
    arguments = parser.parse_args()
    # ip lives in /usr/sbin or /sbin, which a test runner's PATH may lack.
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])

    # SIGTERM (a test's time limit) unwinds through the finally blocks that remove the namespaces; so does the end
    # of the parent (a test runner that dies, or the wrapper that a Python version manager puts between them).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    die_with_parent(signal.SIGTERM)
    report = {"mode": arguments.mode}
    status = 0
    link = None
    with tempfile.TemporaryFile() as log:
        try:
            if os.geteuid() != 0:
                raise Failure("must run as root (it makes network namespaces)")
            if not shutil.which("ip"):
                raise Failure("needs iproute2's ip: apt-get install -y iproute2")
            remove_stale_namespaces()
            if not os.access(arguments.server, os.X_OK):
                raise Failure(f"no server binary at {arguments.server}: swift build first")
            link = Link()
            report = measure(arguments, link, log)
        except Failure as failure:
            report["error"] = str(failure)
            status = 2
        finally:
            if link:
                link.remove()
            log.seek(0)
            lines = log.read().decode(errors="replace").splitlines()
            if status != 0 or not report.get("cancelled"):
                report["server_log"] = lines[-20:]
    print(json.dumps(report), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
