#!/usr/bin/env python3
"""Load benchmarks of tether-demo, against the raw SwiftNIO baseline where the comparison makes sense.

  hello   N rounds, each of tether-demo, baseline and hummingbird-hello in turn (per linking mode), one server
          at a time: a 2 s wrk warm-up is discarded, then `wrk -t1 -c64 -d{seconds}s --latency` on GET /hello/:
          requests/s, p50, p99, the server's CPU time per request (utime + stime of /proc/PID/stat over the
          measured run), resident memory; each next to the baseline's of the same round.
  allocs  each server, one at a time, with malloc_count.so preloaded: heap allocations per GET /hello/ over one
          keep-alive connection (wrk -c1 for 2 s after a 1 s warm-up), from the counts before and after.
  cancel  tether only: sequential POST /slow/ with a 1 KiB body, each closed 20 ms after the handler started;
          close->cancel latency p50, p99, max (disconnect_probe.py latency).
  wave    tether only: N concurrent clients on GET /slow/?ms=60000, all closed at once; time from the first
          close until the last handler is cancelled (disconnect_probe.py wave).
  upload  tether only: POST /upload/ of N MiB with Content-Length, 1 MiB sendall() calls from memory, spooled
          to a fresh temporary directory; MB/s (10^6 bytes) and resident memory growth, next to the MB/s of
          writing as much to a new file in that directory from Python (the machine's ceiling).
  idle    tether and baseline, one at a time: 1,000 keep-alive connections that made one GET /hello/ each,
          left idle; resident memory with them open minus before.

The three servers are products of the Benchmarks package (tether-demo through its path dependency on Tether),
built release the same way: with the Swift runtime linked statically (--static-swift-stdlib), as servers are
deployed, in Benchmarks/.build-static, and linked dynamically in Benchmarks/.build-dynamic. --linking picks
one or both: hello measures each chosen, the other measurements use static if chosen, else dynamic.
Every measurement starts a fresh server on a free port of 127.0.0.1 and stops it afterwards, also on errors.
Needs Python 3 (stdlib only), wrk, and Linux (/proc). Prints a markdown table and writes a JSON file;
draw it with plot.py.

  python3 Benchmarks/load/run.py                       # the full default run, a few minutes after the builds
  python3 Benchmarks/load/run.py --skip-build --rounds 1 --seconds 2 --cancel-count 20 \\
      --wave-count 50 --upload-mib 64                  # a quick check
  python3 Benchmarks/load/run.py --only hello --rounds 1 --seconds 2 --output /tmp/hello.json
                                                       # the three servers, both linkings, briefly
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BENCHMARKS = os.path.join(ROOT, "Benchmarks")
# The servers, in the order each hello round runs them, and their products in the Benchmarks package.
PRODUCTS = {"tether": "tether-demo", "baseline": "baseline", "hummingbird": "hummingbird-hello"}
SERVERS = list(PRODUCTS)
COMPARED = [kind for kind in SERVERS if kind != "baseline"]  # set against the baseline in each hello round
# How each linking mode is built: release, in a build folder of its own (Benchmarks/.build-MODE), so that the usual
# .build stays as `swift build` and `swift test` leave it. Static is how servers are deployed.
LINKINGS = {"static": ["--static-swift-stdlib"], "dynamic": []}
# The servers each measurement starts: hello in each linking mode chosen, the others in the first.
SECTION_SERVERS = {"hello": SERVERS, "allocs": SERVERS, "cancel": ["tether"], "wave": ["tether"],
                   "upload": ["tether"], "idle": ["tether", "baseline"]}
# Counts a server's heap allocations when preloaded (malloc_count.c, built next to the servers).
MALLOC_COUNT_SOURCE = os.path.join(HERE, "malloc_count.c")
SECTIONS = list(SECTION_SERVERS)
HOST = "127.0.0.1"
MIB = 1 << 20

sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ left next to the scripts
import disconnect_probe as probe  # noqa: E402  (the sibling script: latency and wave)


def log(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------- processes


def _load_prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except Exception:  # not Linux, or no libc symbol: the try/finally below still stops servers
        return None


_PRCTL = _load_prctl()


def _die_with_parent():
    """In the forked server: SIGKILL when this driver dies, even by SIGKILL (PR_SET_PDEATHSIG = 1)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)


def build_folder(linking):
    return os.path.join(BENCHMARKS, f".build-{linking}")


def binary(kind, linking):
    return os.path.join(build_folder(linking), "release", PRODUCTS[kind])


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_status(pid):
    """VmRSS, VmHWM, Threads... of /proc/PID/status, memory in KiB."""
    result = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                result[key] = int(value.split()[0])
    return result


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User plus system CPU time of the whole process so far (utime + stime of /proc/PID/stat, all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()  # after "(comm)", which may hold spaces: state is field 3
    return (int(fields[14 - 3]) + int(fields[15 - 3])) / _CLOCK_TICKS


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def reset_hwm(pid):
    """`echo 5 > /proc/PID/clear_refs` resets VmHWM to VmRSS; returns whether it did."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    st = proc_status(pid)
    return st["VmHWM"] <= st["VmRSS"] + 1024  # within 1 MiB: the process may have grown in between


class Server:
    """A server process (tether, baseline or hummingbird, as built for `linking`) on a free port: started, awaited
    until GET /hello/ answers, stopped on exit."""

    def __init__(self, kind, linking, temporary_directory=None, preload=None):
        self.kind = kind
        self.port = free_port()
        self.env = dict(os.environ, LD_PRELOAD=preload) if preload else None
        if kind == "tether":
            self.argv = [binary(kind, linking), "--port", str(self.port), "--log-level", "warning"]
            if temporary_directory:
                self.argv += ["--temporary-directory", temporary_directory]
        else:  # the baseline and hummingbird-hello take the port alone, and log nothing below a warning
            self.argv = [binary(kind, linking), str(self.port)]
        self.proc = None
        self.log_file = None
        self.output = ""
        self.stop_note = None

    @property
    def pid(self):
        return self.proc.pid

    def __enter__(self):
        self.log_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, cwd=ROOT, env=self.env, preexec_fn=_die_with_parent)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} before answering: {self._read_log()}")
            try:
                status, _, body = http_get(self.port, "/hello/", timeout=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"{self.kind} did not answer GET /hello/ within {timeout} s")

    def _read_log(self):
        self.log_file.seek(0)
        return self.log_file.read().decode(errors="replace")

    def __exit__(self, exc_type, exc, tb):
        if self.proc is None:
            return False
        if self.proc.poll() is None:
            # tether-demo drains requests in flight on SIGTERM (up to its 30 s grace period); after an error
            # there may be one (a /slow/ of the probe), so wait less before SIGKILL
            patience = 10 if exc_type is None else 3
            started = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=patience)
                elapsed = time.monotonic() - started
                if elapsed > 1.0:
                    self.stop_note = f"SIGTERM took {elapsed:.1f} s"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self.stop_note = f"did not stop within {patience} s of SIGTERM: killed"
        else:
            self.stop_note = f"had already exited with {self.proc.returncode}"
        if self.proc.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL) and self.stop_note is None:
            self.stop_note = f"exit status {self.proc.returncode}"
        self.output = self._read_log()
        self.log_file.close()
        lines = [l for l in self.output.splitlines() if l.strip() and not l.startswith("baseline listening on")]
        if lines:
            log(f"  [{self.kind} output, {len(lines)} lines] " + " | ".join(lines[:5]))
        if self.stop_note:
            log(f"  [{self.kind}] {self.stop_note}")
        return False

    def malloc_count(self, timeout=5.0):
        """The allocations the preloaded counter has seen so far: it answers SIGUSR2 with a line on stderr."""
        seen = self._read_log().count("mallocs ")
        self.proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [l for l in self._read_log().splitlines() if l.startswith("mallocs ")]
            if len(lines) > seen:
                return int(lines[-1].split()[1])
            time.sleep(0.01)
        raise TimeoutError(f"{self.kind} did not report its allocation count")

    def notes(self):
        """What the server said or did out of the ordinary, for the JSON."""
        lines = [l for l in self.output.splitlines()
                 if l.strip() and not l.startswith("baseline listening on") and not l.startswith("mallocs ")]
        result = {}
        if lines:
            result["server_output"] = lines[:20] + ([f"... {len(lines) - 20} more lines"] if len(lines) > 20 else [])
        if self.stop_note:
            result["server_stop"] = self.stop_note
        return result


# ---------------------------------------------------------------- raw HTTP


def read_response(sock, max_head=64 * 1024):
    """One HTTP/1.1 response with a Content-Length: (status, headers, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > max_head:
            raise ValueError("response head too large")
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a whole response head ({len(buf)} bytes)")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise ValueError(f"response without Content-Length: {lines[0]} {headers}")
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(max(65536, length - len(rest)))
        if not chunk:
            raise ConnectionError("connection closed in the middle of a response body")
        rest += chunk
    return status, headers, rest[:length]


def http_get(port, path, timeout=5.0):
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_response(s)


# ---------------------------------------------------------------- hello

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _to_ms(value, unit):
    return float(value) * _UNITS[unit]


def parse_wrk(text):
    def find(pattern, cast=float, default=None):
        m = re.search(pattern, text, re.MULTILINE)
        return cast(m.group(1)) if m else default

    result = {
        "requests_per_s": find(r"^Requests/sec:\s+([\d.]+)"),
        "requests": find(r"^\s*(\d+) requests in", int),
        "non_2xx": find(r"Non-2xx or 3xx responses:\s+(\d+)", int, 0),
    }
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)
        result[f"p{q}_ms"] = _to_ms(*m.groups()) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    result["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m else {}
    if result["requests_per_s"] is None or result["p50_ms"] is None or result["p99_ms"] is None:
        raise ValueError(f"could not parse wrk output:\n{text}")
    return result


def wrk(port, seconds, latency, connections=64):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"] + (["--latency"] if latency else []) + [f"http://{HOST}:{port}/hello/"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def hello_one(kind, linking, seconds):
    with Server(kind, linking) as server:
        rss_idle = proc_status(server.pid)["VmRSS"]
        wrk(server.port, 2, latency=False)  # warm-up, discarded
        rss_before = proc_status(server.pid)["VmRSS"]
        cpu_before = cpu_seconds(server.pid)
        result = parse_wrk(wrk(server.port, seconds, latency=True))
        cpu = cpu_seconds(server.pid) - cpu_before
        st = proc_status(server.pid)
        result.update({
            "errors": sum(result["socket_errors"].values()) + result["non_2xx"],
            "cpu_s": cpu,                             # the server's utime + stime during the measured run
            "cpu_us_per_request": cpu / result["requests"] * 1e6 if result["requests"] else None,
            "rss_idle_mib": rss_idle / 1024,          # after the first GET /hello/, before the warm-up
            "rss_before_mib": rss_before / 1024,      # after the warm-up, before the measured run
            "rss_after_mib": st["VmRSS"] / 1024,
            "peak_rss_mib": st["VmHWM"] / 1024,       # VmHWM: the peak over the process's life
            "threads": st["Threads"],
        })
    result.update(server.notes())
    return result


# The figures of a hello run that medians are taken of, and those that are also set against the baseline's.
HELLO_FIGURES = ["requests_per_s", "p50_ms", "p99_ms", "cpu_us_per_request", "errors", "rss_before_mib", "peak_rss_mib"]
RATIO_FIGURES = ["requests_per_s", "p50_ms", "p99_ms", "cpu_us_per_request", "peak_rss_mib"]
HELLO_COLUMNS = ["<round", "<linking", "<server", "requests/s", "req/s ÷ baseline", "p50 ms", "p99 ms",
                 "CPU µs/request", "CPU ÷ baseline", "errors", "RSS before MiB", "peak RSS MiB"]


def hello_round(index, linking, seconds):
    """Each server in turn, and each figure of the others divided by the baseline's of the same round."""
    result = {"round": index, "linking": linking} | {kind: hello_one(kind, linking, seconds) for kind in SERVERS}
    baseline = result["baseline"]
    result["vs_baseline"] = {
        kind: {f: result[kind][f] / baseline[f] if result[kind][f] is not None and baseline[f] else None
               for f in RATIO_FIGURES}
        for kind in COMPARED}
    return result


def hello_medians(rounds, linking):
    """The median of each figure and of each ratio over the rounds of one linking mode, shaped like a round."""
    mine = [r for r in rounds if r["linking"] == linking]

    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    result = {"round": "median", "linking": linking, "rounds": len(mine)}
    result |= {kind: {f: med([r[kind][f] for r in mine]) for f in HELLO_FIGURES} for kind in SERVERS}
    result["vs_baseline"] = {kind: {f: med([r["vs_baseline"][kind][f] for r in mine]) for f in RATIO_FIGURES}
                             for kind in COMPARED}
    return result


def hello_rows(round_):
    """The table rows of one hello round, or of its medians: one per server."""
    rows = []
    for kind in SERVERS:
        r, vs = round_[kind], round_["vs_baseline"].get(kind, {})  # none for the baseline itself
        rows.append([round_["round"], round_["linking"], kind, fmt(r["requests_per_s"], 0),
                     fmt(vs["requests_per_s"], 3) if vs else "", fmt(r["p50_ms"], 3), fmt(r["p99_ms"], 3),
                     fmt(r["cpu_us_per_request"], 1), fmt(vs["cpu_us_per_request"], 3) if vs else "",
                     fmt(r["errors"], 0), fmt(r["rss_before_mib"], 1), fmt(r["peak_rss_mib"], 1)])
    return rows


def run_hello(args):
    rounds = []
    log("\n".join(table(None, HELLO_COLUMNS, [])))
    for index in range(1, args.rounds + 1):
        for linking in args.linkings:
            rounds.append(hello_round(index, linking, args.seconds))
            for row in hello_rows(rounds[-1]):
                log(table_row(row))
    return {"seconds": args.seconds, "wrk": "wrk -t1 -c64 --latency, after a discarded 2 s warm-up",
            "servers": SERVERS, "linkings": args.linkings, "rounds": rounds,
            "medians": [hello_medians(rounds, linking) for linking in args.linkings]}


# ---------------------------------------------------------------- cancel and wave (disconnect_probe.py)


def allocs_one(kind, linking, seconds):
    """Heap allocations per hello request over one keep-alive connection, counted by malloc_count.so."""
    with Server(kind, linking, preload=os.path.join(build_folder(linking), "malloc_count.so")) as server:
        wrk(server.port, 1, latency=False, connections=1)  # warm-up: caches, pools and the connection's own
        before = server.malloc_count()
        result = parse_wrk(wrk(server.port, seconds, latency=True, connections=1))
        after = server.malloc_count()
    return {"requests": result["requests"], "allocations": after - before,
            "per_request": (after - before) / result["requests"] if result["requests"] else None}


def run_allocs(args):
    return {kind: allocs_one(kind, args.linkings[0], 2) for kind in SECTION_SERVERS["allocs"]}


def run_cancel(args):
    with Server("tether", args.linkings[0]) as server:
        result = probe.latency(server.port, args.cancel_count)
        result["server_stats"] = probe.stats(server.port)
    result.update(server.notes())
    s = result["server_stats"]
    if s["cancelled"] != args.cancel_count or s["completed"] != 0:
        result["warning"] = f"expected {args.cancel_count} cancelled and 0 completed, server says {s}"
        log(f"  WARNING: {result['warning']}")
    return result


def run_wave(args):
    with Server("tether", args.linkings[0]) as server:
        fds_before = open_fds(server.pid)
        result = probe.wave(server.port, args.wave_count)
        result["server_stats"] = probe.stats(server.port)
        # the connections should be gone on the server's side too (bounded wait)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (open_fds(server.pid) or 0) > fds_before + 5:
            time.sleep(0.05)
        result["server_fds_before"], result["server_fds_after"] = fds_before, open_fds(server.pid)
    result.update(server.notes())
    if result["cancelled"] != args.wave_count:
        result["warning"] = f"{result['cancelled']} of {args.wave_count} cancelled"
        log(f"  WARNING: {result['warning']}")
    return result


# ---------------------------------------------------------------- upload


class Sampler(threading.Thread):
    """Polls VmRSS of a process and the size of a directory every 10 ms until stopped (at most `limit` s)."""

    def __init__(self, pid, directory, limit):
        super().__init__(daemon=True)
        self.pid, self.directory, self.limit = pid, directory, limit
        self.stop_event = threading.Event()
        self.peak_rss_kib = 0
        self.samples = 0
        self.peak_spool_bytes = 0
        self.spool_files_seen = set()

    def run(self):
        deadline = time.monotonic() + self.limit
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            try:
                self.peak_rss_kib = max(self.peak_rss_kib, proc_status(self.pid)["VmRSS"])
                size = 0
                for entry in os.scandir(self.directory):
                    self.spool_files_seen.add(entry.name)
                    with contextlib.suppress(OSError):
                        size += entry.stat().st_size
                self.peak_spool_bytes = max(self.peak_spool_bytes, size)
                self.samples += 1
            except OSError:
                pass
            self.stop_event.wait(0.01)


def write_ceiling(directory, mib):
    """MB/s of writing `mib` MiB to a new file in `directory` from this process, as the spool does (no fsync):
    what the machine's page cache allows, the ceiling of any spooling server here."""
    chunk = b"\x5a" * MIB
    path = os.path.join(directory, "ceiling")
    started = time.perf_counter()
    with open(path, "wb", buffering=0) as f:
        for _ in range(mib):
            f.write(chunk)
    seconds = time.perf_counter() - started
    os.unlink(path)
    return mib * MIB / seconds / 1e6


def run_upload(args):
    total = args.upload_mib * MIB
    directory = tempfile.mkdtemp(prefix="tether-upload-", dir="/tmp")
    try:
        # Twice: the first write pays for pages the kernel has not handed out yet; the upload after it does not.
        write_ceiling(directory, args.upload_mib)
        ceiling = write_ceiling(directory, args.upload_mib)
        with Server("tether", args.linkings[0], temporary_directory=directory) as server:
            hwm_reset = reset_hwm(server.pid)
            rss_before = proc_status(server.pid)["VmRSS"]
            chunk = b"\xa5" * MIB
            sampler = Sampler(server.pid, directory, limit=600)
            sampler.start()
            try:
                with socket.create_connection((HOST, server.port), timeout=60) as s:
                    head = (f"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                            f"Content-Length: {total}\r\nConnection: close\r\n\r\n").encode()
                    started = time.perf_counter()
                    s.sendall(head)
                    for _ in range(args.upload_mib):
                        s.sendall(chunk)
                    sent = time.perf_counter()
                    status, _, body = read_response(s)
                    answered = time.perf_counter()
            finally:
                sampler.stop_event.set()
                sampler.join(timeout=5)
            st = proc_status(server.pid)
            answer = json.loads(body) if status == 200 else body.decode(errors="replace")
            # the spooled file is removed when the request ends, just after the response: wait for it (bounded)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and os.listdir(directory):
                time.sleep(0.02)
            left = os.listdir(directory)
        seconds = answered - started
        peak_kib = max(sampler.peak_rss_kib, st["VmHWM"] if hwm_reset else 0)
        result = {
            "mib": args.upload_mib,
            "bytes_sent": total,
            "status": status,
            "answer": answer,
            "bytes_ok": status == 200 and isinstance(answer, dict) and answer.get("bytes") == total,
            "seconds": seconds,
            "send_seconds": sent - started,
            "mb_per_s": total / seconds / 1e6,
            "write_ceiling_mb_per_s": ceiling,
            "rss_before_mib": rss_before / 1024,
            "peak_rss_polled_mib": sampler.peak_rss_kib / 1024,
            "rss_samples": sampler.samples,
            "vmhwm_reset_worked": hwm_reset,
            "peak_rss_vmhwm_mib": st["VmHWM"] / 1024 if hwm_reset else None,
            "peak_rss_mib": peak_kib / 1024,
            "rss_growth_mib": (peak_kib - rss_before) / 1024,
            "rss_after_mib": st["VmRSS"] / 1024,
            "temporary_directory": directory,
            "spool_files_seen": sorted(sampler.spool_files_seen),
            "peak_spool_bytes_seen": sampler.peak_spool_bytes,
            "temporary_directory_empty_after": not left,
            "left_in_temporary_directory": left,
        }
        result.update(server.notes())
        log(f"  {total / MIB:.0f} MiB in {seconds:.2f} s = {result['mb_per_s']:.1f} MB/s "
            f"(writing a file from Python here: {ceiling:.0f} MB/s), answer {answer}, "
            f"RSS {rss_before / 1024:.1f} -> peak {peak_kib / 1024:.1f} MiB, spool peak {sampler.peak_spool_bytes / MIB:.0f} MiB, "
            f"temporary directory empty after: {not left}")
        if not result["bytes_ok"]:
            result["warning"] = f"the server answered {status} {answer}, expected {{'bytes': {total}}}"
        if left:
            result["warning"] = (result.get("warning", "") + f" files left in {directory}: {left}").strip()
        if not sampler.spool_files_seen:
            result["note"] = "no spool file was seen in the temporary directory while uploading"
        if "warning" in result:
            log(f"  WARNING: {result['warning']}")
        return result
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------- idle keep-alive


def idle_one(kind, linking, count):
    request = b"GET /hello/ HTTP/1.1\r\nHost: x\r\n\r\n"
    sockets = []
    with Server(kind, linking) as server:
        try:
            time.sleep(0.2)
            rss_before = proc_status(server.pid)["VmRSS"]
            fds_before = open_fds(server.pid)
            started = time.monotonic()
            for _ in range(count):
                sockets.append(socket.create_connection((HOST, server.port), timeout=10))
            for s in sockets:
                s.sendall(request)
            statuses = {}
            for s in sockets:
                status, headers, _ = read_response(s)
                statuses[status] = statuses.get(status, 0) + 1
                if headers.get("connection", "").lower() == "close":
                    statuses["connection: close"] = statuses.get("connection: close", 0) + 1
            opened = time.monotonic() - started
            # the demo closes idle keep-alive connections after 5 s: measure ~1 s after the last response
            time.sleep(1.0)
            st = proc_status(server.pid)
            fds_idle = open_fds(server.pid)
            measured_after = time.monotonic() - started
            # which connections did the server close meanwhile? (poll: select() stops at fd 1024)
            poller = select.poll()
            for s in sockets:
                poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
            closed_by_server = len(poller.poll(0))
        finally:
            for s in sockets:
                s.close()
        time.sleep(0.5)
        rss_closed = proc_status(server.pid)["VmRSS"]
        fds_closed = open_fds(server.pid)
    result = {
        "connections": count,
        "responses": statuses,
        "open_and_answer_seconds": opened,
        "measured_seconds_after_first_connect": measured_after,
        "closed_by_server_before_measure": closed_by_server,
        "rss_before_mib": rss_before / 1024,
        "rss_idle_mib": st["VmRSS"] / 1024,
        "rss_delta_mib": (st["VmRSS"] - rss_before) / 1024,
        "rss_per_connection_kib": (st["VmRSS"] - rss_before) / count,
        "peak_rss_mib": st["VmHWM"] / 1024,
        "rss_after_close_mib": rss_closed / 1024,
        "server_fds_before": fds_before,
        "server_fds_idle": fds_idle,
        "server_fds_after_close": fds_closed,
        "threads": st["Threads"],
    }
    result.update(server.notes())
    log(f"  {kind}: {count} idle connections, RSS {rss_before / 1024:.1f} -> {st['VmRSS'] / 1024:.1f} MiB "
        f"(+{result['rss_delta_mib']:.1f} MiB, {result['rss_per_connection_kib']:.1f} KiB each), "
        f"fds {fds_before} -> {fds_idle} -> {fds_closed}, responses {statuses}, "
        f"closed by server before the measure {closed_by_server}, opened in {opened:.2f} s")
    if statuses.get(200, 0) != count or closed_by_server:
        result["warning"] = f"responses {statuses}, {closed_by_server} closed by the server"
        log(f"  WARNING: {kind}: {result['warning']}")
    return result


def run_idle(args):
    return {kind: idle_one(kind, args.linkings[0], args.idle_count) for kind in SECTION_SERVERS["idle"]}


# ---------------------------------------------------------------- report


def machine():
    model = None
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / MIB, 1)
    swift = None
    with contextlib.suppress(Exception):
        swift = subprocess.run(["swift", "--version"], capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    commit = None
    with contextlib.suppress(Exception):
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip() or None
    wrk_version = None
    with contextlib.suppress(Exception):
        wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory,
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "swift": swift,
        "wrk": wrk_version,
        "commit": commit,
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def fmt(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table_row(values):
    return "| " + " | ".join(str(v) for v in values) + " |"


def table(title, columns, rows):
    """A markdown table under `### title` (none if `title` is None); a column named with a leading `<` is
    left-aligned, the others right-aligned."""
    head = [] if title is None else ["", f"### {title}", ""]
    return head + [table_row(c.lstrip("<") for c in columns),
                   "|" + "|".join("---" if c.startswith("<") else "---:" for c in columns) + "|"] + [table_row(r) for r in rows]


def labelled_parts(label, value):
    """(label, dict) for a result and for each dict within it, in lists too (hello's rounds: "static 2")."""
    if isinstance(value, dict):
        yield label, value
        for key, inner in value.items():
            yield from labelled_parts(f"{label}/{key}", inner)
    elif isinstance(value, list):
        for index, inner in enumerate(value, 1):
            name = f"{inner['linking']} {inner['round']}" if isinstance(inner, dict) and "round" in inner else index
            yield from labelled_parts(f"{label}/{name}", inner)


def report(results):
    m, out = results["machine"], []
    out.append("## Tether load benchmarks")
    out.append("")
    out.append(f"- date: {results['date']}")
    out.append(f"- command: `{results['command']}`")
    out.append(f"- machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_gib']} GiB, {m['kernel']}")
    out.append(f"- load average at start / end: {results['loadavg_start']} / {results.get('loadavg_end')}")
    out.append(f"- {m['swift']}; {m['wrk']}; commit {m['commit']}")
    linkings = results["settings"]["linkings"]
    out.append(f"- Swift runtime linked {linkings[0]}" if len(linkings) == 1 else
               f"- Swift runtime linked {' and '.join(linkings)} for hello, {linkings[0]} for the other measurements")
    h = results.get("hello")
    if h and "rounds" in h:
        out += table(f"hello: GET /hello/, wrk -t1 -c64 -d{h['seconds']}s; ratios to the baseline of the same round",
                     HELLO_COLUMNS, [row for r in h["rounds"] + h["medians"] for row in hello_rows(r)])
    a = results.get("allocs")
    if a and all("per_request" in a.get(kind, {}) for kind in SECTION_SERVERS["allocs"]):
        out += table("allocs: heap allocations per GET /hello/, one keep-alive connection (malloc_count.so preloaded)",
                     ["<server", "requests", "allocations", "per request"],
                     [[kind, a[kind]["requests"], a[kind]["allocations"], f"{a[kind]['per_request']:.1f}"]
                      for kind in SECTION_SERVERS["allocs"]])
    c = results.get("cancel")
    if c and "p50_ms" in c:
        out += table("cancel: close -> cancel, sequential POST /slow/ with 1 KiB, closed 20 ms after the handler started",
                     ["requests", "p50 ms", "p99 ms", "max ms", "mean ms", "<server cancelled / completed"],
                     [[c["count"], f"{c['p50_ms']:.3f}", f"{c['p99_ms']:.3f}", f"{c['max_ms']:.3f}", f"{c['mean_ms']:.3f}",
                       f"{c['server_stats']['cancelled']} / {c['server_stats']['completed']}"]])
    w = results.get("wave")
    if w and "cancelled" in w:
        out += table("wave: concurrent GET /slow/?ms=60000, all closed at once",
                     ["clients", "cancelled", "first close -> last cancel ms", "<server fds before / after"],
                     [[w["count"], w["cancelled"], f"{w['last_cancel_after_first_close_ms']:.2f}",
                       f"{w['server_fds_before']} / {w['server_fds_after']}"]])
    u = results.get("upload")
    if u and "mb_per_s" in u:
        out += table("upload: POST /upload/ with Content-Length, 1 MiB sendall() calls, spooled to a temporary directory",
                     ["MiB", "seconds", "MB/s", "file write ceiling MB/s", "<answer ok", "RSS before MiB", "peak RSS MiB",
                      "growth MiB", "spool peak MiB", "<temp dir empty after"],
                     [[u["mib"], f"{u['seconds']:.2f}", f"{u['mb_per_s']:.1f}", f"{u['write_ceiling_mb_per_s']:.0f}",
                       u["bytes_ok"], f"{u['rss_before_mib']:.1f}", f"{u['peak_rss_mib']:.1f}", f"{u['rss_growth_mib']:.1f}",
                       f"{u['peak_spool_bytes_seen'] / MIB:.0f}", u["temporary_directory_empty_after"]]])
    i = results.get("idle")
    if i:
        measured = [(name, i[name]) for name in SECTION_SERVERS["idle"] if "rss_delta_mib" in i.get(name, {})]
        if measured:
            out += table("idle: keep-alive connections after one GET /hello/ each, ~1 s idle",
                         ["<server", "connections", "RSS before MiB", "RSS idle MiB", "delta MiB", "KiB/connection",
                          "<server fds before / idle / closed"],
                         [[name, r["connections"], f"{r['rss_before_mib']:.1f}", f"{r['rss_idle_mib']:.1f}",
                           f"{r['rss_delta_mib']:.1f}", f"{r['rss_per_connection_kib']:.1f}",
                           f"{r['server_fds_before']} / {r['server_fds_idle']} / {r['server_fds_after_close']}"]
                          for name, r in measured])
    problems = []
    for name in SECTIONS:
        section = results.get(name)
        if not isinstance(section, dict):
            continue
        if "error" in section:
            problems.append(f"{name}: ERROR {section['error']}")
        for label, part in labelled_parts(name, section):
            for key in ("warning", "note", "server_stop"):
                if key in part:
                    problems.append(f"{label}: {part[key]}")
            if "server_output" in part:
                problems.append(f"{label}: server said: " + " | ".join(part["server_output"][:3]))
    if problems:
        out += ["", "### notes", ""] + [f"- {p}" for p in problems]
    return "\n".join(out)


# ---------------------------------------------------------------- main


def binaries_needed(only, linkings):
    """(linking, server) of each binary that the chosen measurements start, in build order."""
    wanted = {(linking, kind) for name in only for linking in (linkings if name == "hello" else linkings[:1])
              for kind in SECTION_SERVERS[name]}
    return [(linking, kind) for linking in linkings for kind in SERVERS if (linking, kind) in wanted]


def build(needed):
    """One `swift build` at a time, in the Benchmarks package, for each binary needed; and the allocation counter."""
    for linking in sorted({linking for linking, _ in needed}):
        os.makedirs(build_folder(linking), exist_ok=True)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", os.path.join(build_folder(linking), "malloc_count.so"),
                        MALLOC_COUNT_SOURCE], check=True)
    for linking, kind in needed:
        cmd = ["swift", "build", "-c", "release", *LINKINGS[linking],
               "--scratch-path", os.path.relpath(build_folder(linking), BENCHMARKS), "--product", PRODUCTS[kind]]
        log(f"$ (cd {os.path.relpath(BENCHMARKS, os.getcwd())} && {shlex.join(cmd)})")
        subprocess.run(cmd, cwd=BENCHMARKS, check=True)


def raise_nofile(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < needed:
        raise SystemExit(f"ulimit -n is {soft}, {needed} descriptors needed: raise it (ulimit -n {needed})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-build", action="store_true", help="use the release binaries already built")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--linking", choices=["static", "dynamic", "both"], default="both",
                        help="how the Swift runtime is linked into the servers (default both; static first)")
    parser.add_argument("--rounds", "--pairs", type=int, default=3,
                        help="hello: rounds, each server once per linking mode in each (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="hello: seconds of each measured wrk run (default 10)")
    parser.add_argument("--cancel-count", type=int, default=1000, help="cancel: sequential requests (default 1000)")
    parser.add_argument("--wave-count", type=int, default=1000, help="wave: concurrent clients (default 1000)")
    parser.add_argument("--upload-mib", type=int, default=1024, help="upload: MiB to upload (default 1024)")
    parser.add_argument("--idle-count", type=int, default=1000, help="idle: keep-alive connections (default 1000)")
    parser.add_argument("--output", default=os.path.join("Benchmarks", "load", "results.json"),
                        help="JSON results, relative to the repository root unless absolute (default Benchmarks/load/results.json)")
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"--only: unknown {unknown}; choose from {SECTIONS}")
    for name in ("rounds", "seconds", "cancel_count", "wave_count", "upload_mib", "idle_count"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    output = args.output if os.path.isabs(args.output) else os.path.join(ROOT, args.output)
    args.linkings = [linking for linking in LINKINGS if args.linking in (linking, "both")]
    needed = binaries_needed(only, args.linkings)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that finally blocks stop the servers
    if not args.skip_build:
        build(needed)
    for linking, kind in needed:
        if not os.access(binary(kind, linking), os.X_OK):
            raise SystemExit(f"{binary(kind, linking)} is missing: build it, or drop --skip-build")
    if "hello" in only and not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    raise_nofile(max(args.wave_count, args.idle_count) + 1024)

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable] + sys.argv),
        "machine": machine(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "settings": {k: v for k, v in vars(args).items()} | {"only": only},
    }
    runners = {"hello": run_hello, "allocs": run_allocs, "cancel": run_cancel, "wave": run_wave, "upload": run_upload, "idle": run_idle}
    failed = False
    started = time.monotonic()
    for name in SECTIONS:
        if name not in only:
            continue
        log(f"\n== {name}")
        t0 = time.monotonic()
        try:
            results[name] = runners[name](args)
        except Exception as error:  # record it, and go on with the other measurements
            traceback.print_exc()
            results[name] = {"error": f"{type(error).__name__}: {error}"}
            failed = True
        results[name]["elapsed_s"] = round(time.monotonic() - t0, 1)
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["elapsed_s"] = round(time.monotonic() - started, 1)

    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    log("")
    log(report(results))
    log(f"\nresults: {output} ({results['elapsed_s']} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
