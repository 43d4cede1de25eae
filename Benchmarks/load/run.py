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
  h2hello N rounds of seven h2load runs on GET /hello/, one server at a time, each `h2load -c64 -m10 -t1
          -D{seconds} --warm-up-time=2`: tether over h2c (prior knowledge) and hummingbird-h2 likewise; tether and
          hummingbird-h2 over TLS (h2 by ALPN; a self-signed certificate made by openssl at run time, in a temporary
          directory); then tether, baseline and hummingbird-hello over HTTP/1.1 with `--h1 -m1` (no pipelining,
          as wrk). Requests/s, p50 and p99 (from h2load's per-request log), max, the server's CPU time per request
          between the lines where h2load starts and ends its measured run, resident memory; Tether's set against
          Hummingbird's of the same protocol, and the HTTP/1.1 ones against the baseline's, in the same round.
  h2cancel tether: 1,000 streams on GET /slow/?ms=60000 over h2c, one at a time, each reset (RST_STREAM CANCEL)
          20 ms after /stats/ shows its handler started; RST_STREAM -> cancel p50, p99, max (the server's
          last_cancel_ns against CLOCK_MONOTONIC just before the send; h2_probe.py latency), and the cancellation
          reasons. Then a few streams on hummingbird-h2: is a reset stream's handler cancelled at all?
  h2wave  tether: 1,000 streams on GET /slow/?ms=60000 across 10 h2c connections, all started, then every one
          reset at once, one send() per connection; from the first RST_STREAM sent until /stats/ shows 1,000 more
          cancelled (polled), and until the last cancellation by the server's clock (h2_probe.py wave).
  rapidreset tether and hummingbird-h2: 100,000 HEADERS+RST_STREAM pairs on GET /slow/?ms=60000 over h2c from 4
          connections at once, each replaced when the server sends GOAWAY (h2_probe.py rapidreset, a child
          process), made twice on the same server, while GET /hello/ is timed one after another over h2c (and
          HTTP/1.1 where the server speaks it on that port): resident memory before and 1 s after the handlers of
          each attack settle (the first attack's growth is the target's figure; the second's tells memory that
          stays from memory that goes on growing), GOAWAYs, the handlers started and cancelled, hello latency
          before and during the attacks; then whether the server closes a connection after its GOAWAY when the
          client ignores it (h2_probe.py goaway).
  wsecho  N rounds, each of tether-demo, baseline-ws and hummingbird-ws in turn, one server at a time: ws-load (a
          product of the Benchmarks package, SwiftNIO's WebSocket client on one event loop thread) opens 64
          WebSocket connections to /ws/echo/, and each sends a 24-byte text message and waits for its echo before the
          next, 2 s of warm-up discarded, then {seconds} s measured: round trips/s, p50 and p99 round-trip latency,
          the server's CPU time per round trip (between the lines where ws-load says its measured run starts and
          ends), resident memory, and ws-load's own CPU time; each next to the baseline's of the same round.
  wsidle  N rounds of the same three servers, one at a time: 10,000 WebSocket connections to /ws/echo/, handshake
          done, then idle (from several 127.0.0.x source addresses when more than 20,000); resident memory ~1 s and
          ~6 s after the last handshake, minus before; KiB per connection (ws_probe.py idle).
  wscancel tether only: a WebSocket on /ws/ticker/?ms=5 receives 3 ticks, then the client leaves, N times for each
          way of leaving, taking turns: a close frame, a TCP FIN without one, a TCP RST (SO_LINGER 0); from just
          before the client's send (CLOCK_MONOTONIC) until the application's cancellation (the demo's /stats/
          stream_stopped and last_cancel_ns): p50, p99, max per way, and the cancellation reasons (ws_probe.py latency).
  workers N rounds, each of tether-demo --workers 1 (one process), tether-demo --workers 2 (a supervisor and two
          workers, each slot's SO_REUSEPORT socket bound by the supervisor), baseline and hummingbird-hello in turn,
          one server at a time, as hello measures them (a 2 s wrk warm-up discarded, then `wrk -t1 -c64
          -d{seconds}s --latency` on GET /hello/): requests/s, p50, p99, CPU time per request and resident memory
          summed over the server's processes (its children from /proc/PID/task/*/children); wrk's own CPU time (its
          /proc/PID/stat once it has exited, before it is reaped) and the machine's other busy time and steal
          (/proc/stat) over the same window; 2 workers ÷ 1 per round (target ≥ 1.6), and the ratio the CPU left to
          the server would allow.
  proxycancel each round: a fresh tether-demo on a port and one on a Unix socket (--uds), nginx and HAProxy with
          their shipped files of deploy/ (ports and socket path substituted, as ProxyDeploymentTests.swift does) in
          front; close -> cancel of sequential POST /slow/ (disconnect_probe.py latency, /stats/ read from Tether
          directly), --proxycancel-count (300) per round for each route (direct, nginx over TCP, nginx over the Unix
          socket, HAProxy over TCP) and way of leaving (FIN, RST), in turn: p50, p90, p99, max over all rounds
          (target through nginx: p99 ≤ 1 ms), and the cancellation reasons Tether counted.
  proxywave N rounds, each of a wave directly and one through nginx (over TCP), each on a fresh Tether (and nginx):
          --proxywave-count (1,000) clients on GET /slow/?ms=60000, all closed at once; from the first close until
          the last handler is cancelled (target ≤ 100 ms), and how long closing them took the client
          (disconnect_probe.py wave). nginx runs the shipped deploy/nginx.conf (worker_connections 4096, which
          counts the upstream connections too, and worker_rlimit_nofile 8192).
  reload  N rounds, each of tether-demo --workers 2 under `wrk -t1 -c64 -d{reload_seconds}s --latency` on GET
          /hello/, directly and through nginx (over TCP): SIGHUP to the supervisor --reload-hups (3) times during the
          run; wrk's requests, non-2xx and socket errors (target: none failed), nginx's statuses, how long each reload
          took to replace both workers, and whether the worker pids changed.
  observe N rounds of hello (`wrk -t1 -c64`, --seconds) against tether-demo --no-metrics, tether-demo (its
          Prometheus metrics), tether-demo with OTEL_EXPORTER_OTLP_ENDPOINT (metrics and a span per request, exported
          to a receiver in this driver), the same sampling one trace in a hundred, the baseline and Hummingbird,
          interleaved: requests/s and CPU µs per request of each, and each observing run ÷ the run without (target:
          metrics and tracing keep ≥ 0.97).

workers, proxycancel, proxywave and reload write to Benchmarks/load/results-deploy.json when only they are chosen;
observe (hello with metrics and tracing off and on) to Benchmarks/load/results-observe.json.
nginx and HAProxy (Debian's nginx and haproxy) run as child processes, each from a temporary directory of its own with
its shipped file, in the foreground (nginx's workers as root when the driver is root, to reach the run's socket), and
are always stopped at the end, with their workers.

The servers are products of the Benchmarks package (tether-demo through its path dependency on Tether; baseline;
hummingbird-hello and hummingbird-h2 on Hummingbird 2.28.1, the latter its HTTP/2 server, HummingbirdHTTP2, which
serves h2c by prior knowledge only, or TLS with ALPN h2/http1.1, never both on one port; baseline-ws, SwiftNIO's
NIOWebSocket server; hummingbird-ws on HummingbirdWebSocket 2.8.1; and the load generator ws-load), built release the
same way: with the Swift runtime linked statically (--static-swift-stdlib), as servers are deployed, in
Benchmarks/.build-static, and linked dynamically in Benchmarks/.build-dynamic. --linking picks one or both: hello
measures each chosen, the other measurements (the HTTP/2 ones too) use static if chosen, else dynamic.
Every measurement starts a fresh server on a free port of 127.0.0.1 and stops it afterwards, also on errors.
Needs Python 3, wrk, and Linux (/proc); the HTTP/2 measurements also h2load and openssl (Debian's nghttp2-client and
openssl) and the PyPI package h2, which h2_probe.py uses; the rest is stdlib only. Prints a markdown table and
writes a JSON file; draw it with plot.py.

  python3 Benchmarks/load/run.py                       # the full default run, a few minutes after the builds
  python3 Benchmarks/load/run.py --skip-build --rounds 1 --seconds 2 --cancel-count 20 \\
      --wave-count 50 --upload-mib 64                  # a quick check
  python3 Benchmarks/load/run.py --only hello --rounds 1 --seconds 2 --output /tmp/hello.json
                                                       # the three servers, both linkings, briefly
  python3 Benchmarks/load/run.py --only h2hello,h2cancel,h2wave,rapidreset --linking static --output /tmp/h2.json
                                                       # the HTTP/2 measurements alone (~6 min after the builds)
  python3 Benchmarks/load/run.py --only wsecho,wsidle,wscancel --linking static
                                                       # the WebSocket measurements alone, into results-ws.json
                                                       # (~5 min after the builds)
  python3 Benchmarks/load/run.py --only workers,proxycancel,proxywave,reload --linking static --rounds 3
                                                       # several workers and the shipped proxies, into
                                                       # results-deploy.json (~8 min after the builds)
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
PRODUCTS = {"tether": "tether-demo", "baseline": "baseline", "hummingbird": "hummingbird-hello",
            "hummingbird-h2": "hummingbird-h2", "baseline-ws": "baseline-ws", "hummingbird-ws": "hummingbird-ws",
            "ws-load": "ws-load"}
SERVERS = ["tether", "baseline", "hummingbird"]  # the HTTP/1.1 servers of hello and allocs
COMPARED = [kind for kind in SERVERS if kind != "baseline"]  # set against the baseline in each hello round
# How each linking mode is built: release, in a build folder of its own (Benchmarks/.build-MODE), so that the usual
# .build stays as `swift build` and `swift test` leave it. Static is how servers are deployed.
LINKINGS = {"static": ["--static-swift-stdlib"], "dynamic": []}
# The servers each measurement starts: hello in each linking mode chosen, the others in the first.
SECTION_SERVERS = {"hello": SERVERS, "allocs": SERVERS, "cancel": ["tether"], "wave": ["tether"],
                   "upload": ["tether"], "idle": ["tether", "baseline"],
                   "h2hello": ["tether", "baseline", "hummingbird", "hummingbird-h2"],
                   "h2cancel": ["tether", "hummingbird-h2"], "h2wave": ["tether"],
                   "rapidreset": ["tether", "hummingbird-h2"],
                   "wsecho": ["tether", "baseline-ws", "hummingbird-ws"],
                   "wsidle": ["tether", "baseline-ws", "hummingbird-ws"], "wscancel": ["tether"],
                   "workers": SERVERS, "proxycancel": ["tether"], "proxywave": ["tether"], "reload": ["tether"],
                   "observe": SERVERS}
# Programs other than servers that a measurement runs, built like the servers.
SECTION_TOOLS = {"wsecho": ["ws-load"]}
WS_SECTIONS = ["wsecho", "wsidle", "wscancel"]  # their results go to results-ws.json unless --output says otherwise
WS_SERVERS = SECTION_SERVERS["wsecho"]  # in the order each WebSocket round runs them
H2_SECTIONS = ["h2hello", "h2cancel", "h2wave", "rapidreset"]  # these need the PyPI package h2, and h2hello h2load
# Their results go to results-deploy.json unless --output says otherwise; the proxies need nginx and HAProxy.
DEPLOY_SECTIONS = ["workers", "proxycancel", "proxywave", "reload"]
OBSERVE_SECTIONS = ["observe"]  # their results go to results-observe.json unless --output says otherwise
# Counts a server's heap allocations when preloaded (malloc_count.c, built next to the servers).
MALLOC_COUNT_SOURCE = os.path.join(HERE, "malloc_count.c")
SECTIONS = list(SECTION_SERVERS)
HOST = "127.0.0.1"
MIB = 1 << 20

sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ left next to the scripts
import disconnect_probe as probe  # noqa: E402  (the sibling script: latency and wave)
import ws_probe  # noqa: E402  (the sibling script: WebSocket handshakes, idle connections, leave -> cancel latency)


def h2_probe():
    """The sibling script h2_probe.py, imported when first needed: it needs the PyPI package h2, the rest does not."""
    import h2_probe as module

    return module


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


def proc_stat_fields(pid):
    """The fields of /proc/PID/stat after "(comm)" (which may hold spaces): state is [0], ppid [1]."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()


def live_children(pid):
    """The processes whose parent is `pid` and that are not zombies (/proc/PID/task/*/children)."""
    result = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                result += [int(x) for x in f.read().split()]
    alive = []
    for child in sorted(set(result)):
        with contextlib.suppress(OSError, IndexError):
            if proc_stat_fields(child)[0] != "Z":
                alive.append(child)
    return alive


def same_process(pid, parent):
    """Whether `pid` still runs as a child of `parent`, or as an orphan (a worker whose supervisor was killed):
    not a stranger that reused the pid."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = proc_stat_fields(pid)
        return fields[0] != "Z" and int(fields[1]) in (parent, 1)
    return False


def tree_cpu_seconds(pid):
    """CPU time of a process and of its children (a supervisor and its workers): its own utime + stime, those of
    its live children, and cutime + cstime, the time of the children it has already reaped (a replaced worker's
    whole life). Differences of two readings count every worker's time in between, also of workers that came and
    went."""
    fields = proc_stat_fields(pid)
    total = sum(int(fields[i - 3]) for i in (14, 15, 16, 17)) / _CLOCK_TICKS
    for child in live_children(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += cpu_seconds(child)
    return total


def tree_status(pid):
    """VmRSS and VmHWM (KiB) summed over a process and its live children, and how many processes."""
    pids = [pid] + live_children(pid)
    rss = hwm = 0
    for p in pids:
        with contextlib.suppress(OSError, KeyError):
            st = proc_status(p)
            rss, hwm = rss + st["VmRSS"], hwm + st["VmHWM"]
    return {"VmRSS": rss, "VmHWM": hwm, "processes": len(pids)}


def machine_cpu():
    """The first line of /proc/stat in seconds: (busy, steal, total) over all cores; busy counts neither idle nor
    iowait, and steal (time the hypervisor gave to other guests) is shown apart from it."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    total = sum(values[:8])
    return ((user + nice + system + irq + softirq) / _CLOCK_TICKS, steal / _CLOCK_TICKS, total / _CLOCK_TICKS)


def processes_cpu():
    """{pid: (name, parent, own, reaped, start)} of every process: own = utime + stime, reaped = cutime + cstime (its
    children's that it has waited for), in CPU seconds; start = its start time (a pid used again is another)."""
    result = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
                name = text[text.index("(") + 1:text.rindex(")")]
                fields = [int(x) for x in text.rpartition(")")[2].split()[1:20]]  # ppid (field 4) .. starttime (22)
                result[int(entry)] = (name, fields[0], (fields[10] + fields[11]) / _CLOCK_TICKS,
                                      (fields[12] + fields[13]) / _CLOCK_TICKS, fields[18])
    return result


def other_processes(before, after, exclude, wall, top=4):
    """The CPU the processes besides `exclude` used between two processes_cpu() readings, in cores: {"cores": all of
    them, "busiest": [(name, cores)] of the busiest names}. A build's short-lived compilers, gone by the second
    reading, count in the tool that waited for them (its cutime grew by their whole life, less what the first
    reading had already seen of those alive then). Approximate."""
    def alive(pid):
        return pid in after and pid in before and after[pid][4] == before[pid][4]

    gone = {}  # what the processes gone since the first reading had used by then, under the live ancestor that
    for pid, (name, parent, own, reaped, start) in before.items():  # reaped them, possibly through other gone ones
        if not alive(pid):
            seen = {pid}
            while parent in before and not alive(parent) and parent not in seen:
                seen.add(parent)
                parent = before[parent][1]
            gone[parent] = gone.get(parent, 0.0) + own + reaped
    by_name = {}
    for pid, (name, parent, own, reaped, start) in after.items():
        if pid in exclude:
            continue
        if alive(pid):
            used = own - before[pid][2] + max(0.0, reaped - before[pid][3] - gone.get(pid, 0.0))
        else:  # started in between
            used = own + reaped
        if used > 0:
            by_name[name] = by_name.get(name, 0.0) + used
    ranked = sorted(by_name.items(), key=lambda item: -item[1])[:top]
    return {"cores": round(sum(by_name.values()) / wall, 3),
            "busiest": [(name, round(cpu / wall, 3)) for name, cpu in ranked if cpu / wall >= 0.005]}


class OthersWatch:
    """The other processes' CPU over a `with` block (other_processes()), excluding this driver and `pids()`'s
    processes, read when the block ends: `.result`."""

    def __init__(self, pids=lambda: []):
        self.pids, self.result = pids, None

    def __enter__(self):
        self.before, self.started = processes_cpu(), time.monotonic()
        return self

    def __exit__(self, *exc):
        after, wall = processes_cpu(), time.monotonic() - self.started
        self.result = other_processes(self.before, after, {os.getpid()} | set(self.pids()), wall)
        return False


class Server:
    """A server process (tether, baseline, hummingbird or hummingbird-h2, as built for `linking`) on a free port:
    started, awaited until GET /hello/ answers, stopped on exit. `tls` = (certificate, key) PEM files: the port
    speaks TLS (ALPN h2 and http/1.1); hummingbird-h2 without them speaks h2c only. tether only: `uds` = a Unix
    socket's path to listen on instead of a port, `arguments` = more of its options (`--workers 2`: then it is
    awaited until every worker answers, and stopped with the workers it has)."""

    def __init__(self, kind, linking, temporary_directory=None, preload=None, tls=None, patience=None, uds=None,
                 arguments=(), env=None):
        self.kind = kind
        self.tls = tls
        self.uds = uds
        self.patience = patience  # seconds from SIGTERM to SIGKILL, if not the usual
        self.port = None if uds else free_port()
        self.env = dict(os.environ, LD_PRELOAD=preload) if preload else None
        if env:
            self.env = dict(self.env or os.environ, **env)
        self.workers = 1
        if kind == "tether":
            listen = ["--uds", uds] if uds else ["--port", str(self.port)]
            self.argv = [binary(kind, linking), *listen, "--log-level", "warning", *arguments]
            if "--workers" in arguments:
                self.workers = int(arguments[list(arguments).index("--workers") + 1])
            if temporary_directory:
                self.argv += ["--temporary-directory", temporary_directory]
        else:  # the baseline and the Hummingbird servers take the port alone, and log nothing below a warning
            self.argv = [binary(kind, linking), str(self.port)]
        if tls:
            self.argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.proc = None
        self.log_file = None
        self.output = ""
        self.stop_note = None

    @property
    def pid(self):
        return self.proc.pid

    @property
    def address(self):
        """Where disconnect_probe.py reaches it: the port, or "unix:PATH"."""
        return f"unix:{self.uds}" if self.uds else self.port

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
                if self.tls:
                    status, _, body = https_get(self.port, "/hello/", timeout=1.0)
                elif self.kind == "hummingbird-h2":
                    status, body = h2c_get(self.port, "/hello/", timeout=1.0)
                else:
                    status, _, body = http_get(self.address, "/hello/", timeout=1.0)
                if status == 200:
                    if self.workers > 1:
                        self.wait_workers(deadline)
                    return
            except (OSError, TimeoutError, ConnectionError):
                pass
            except Exception as error:  # an h2 protocol error: not ready, or not HTTP/2
                if type(error).__module__.split(".")[0] not in ("h2", "h2_probe"):
                    raise
            time.sleep(0.02)
        raise TimeoutError(f"{self.kind} did not answer GET /hello/ within {timeout} s")

    def wait_workers(self, deadline):
        """Until the supervisor has its N workers and GET /scope/ on new connections has been answered by each (the
        kernel spreads connections among the slots' sockets): their pids."""
        seen = set()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}: {self._read_log()}")
            pids = set(live_children(self.pid))
            if len(pids) == self.workers:
                with contextlib.suppress(OSError, TimeoutError, ConnectionError, ValueError):
                    status, _, body = http_get(self.address, "/scope/", timeout=1.0)
                    if status == 200:
                        seen.add(json.loads(body)["worker"])
                if pids <= seen:
                    return sorted(pids)
            else:
                time.sleep(0.01)
        raise TimeoutError(f"{self.kind}: {self.workers} workers did not all answer: children "
                           f"{live_children(self.pid)}, answered by {sorted(seen)}")

    def _read_log(self):
        self.log_file.seek(0)
        return self.log_file.read().decode(errors="replace")

    def __exit__(self, exc_type, exc, tb):
        if self.proc is None:
            return False
        children = live_children(self.proc.pid) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            # tether-demo drains requests in flight on SIGTERM (up to its 30 s grace period); after an error
            # there may be one (a /slow/ of the probe), so wait less before SIGKILL
            patience = self.patience or (10 if exc_type is None else 3)
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
        # The workers of a supervisor that had to be killed (they drain when they see it gone): not left behind.
        survivors = [pid for pid in children if same_process(pid, self.proc.pid)]
        if survivors:
            deadline = time.monotonic() + 3
            while survivors and time.monotonic() < deadline:
                time.sleep(0.05)
                survivors = [pid for pid in survivors if same_process(pid, self.proc.pid)]
            for pid in survivors:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if survivors:
                self.stop_note = ((self.stop_note + "; ") if self.stop_note else "") + \
                    f"workers {survivors} outlived the supervisor: killed"
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
    """GET over a new connection to a port of 127.0.0.1, or to "unix:PATH" or "tcp:HOST:PORT"."""
    with probe.connect(port, timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_response(s)


def https_get(port, path, timeout=5.0):
    """GET over TLS (ALPN http/1.1), without verifying the certificate: the benchmarks' own, made at run time."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    with socket.create_connection((HOST, port), timeout=timeout) as raw, context.wrap_socket(raw) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_response(s)


def h2c_get(port, path, timeout=5.0):
    """(status, body) of a GET over h2c, prior knowledge (h2_probe.py)."""
    client = h2_probe().H2Client(port, timeout=timeout)
    try:
        return client.get(path, timeout=timeout)
    finally:
        client.close()


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


# ---------------------------------------------------------------- HTTP/2: h2hello (h2load)

# The runs of each h2hello round, in this order: (label, server, TLS, what h2load speaks).
H2HELLO_RUNS = [
    ("tether h2c", "tether", False, "h2c"),
    ("hummingbird h2c", "hummingbird-h2", False, "h2c"),
    ("tether h2 TLS", "tether", True, "h2"),
    ("hummingbird h2 TLS", "hummingbird-h2", True, "h2"),
    ("tether h1", "tether", False, "h1"),
    ("baseline h1", "baseline", False, "h1"),
    ("hummingbird h1", "hummingbird", False, "h1"),
]
H2HELLO_LABELS = [run[0] for run in H2HELLO_RUNS]
# Each Tether run set against Hummingbird's of the same protocol, and the HTTP/1.1 runs against the baseline's.
H2HELLO_VS_HUMMINGBIRD = {"tether h2c": "hummingbird h2c", "tether h2 TLS": "hummingbird h2 TLS",
                          "tether h1": "hummingbird h1"}
H2HELLO_VS_BASELINE = {"tether h1": "baseline h1", "hummingbird h1": "baseline h1"}
H2HELLO_FIGURES = ["requests_per_s", "p50_ms", "p99_ms", "max_ms", "cpu_us_per_request", "errors", "rss_before_mib",
                   "peak_rss_mib"]
H2HELLO_RATIOS = ["requests_per_s", "cpu_us_per_request", "peak_rss_mib"]
H2LOAD_PROTOCOL = {"h2c": "h2c", "h2": "h2", "h1": "http/1.1"}  # what h2load says it negotiated
H2HELLO_COLUMNS = ["<round", "<run", "<protocol", "requests/s", "÷ hummingbird", "÷ baseline", "p50 ms", "p99 ms",
                   "max ms", "CPU µs/request", "CPU ÷ hummingbird", "errors", "RSS before MiB", "peak RSS MiB"]


def make_certificate(directory):
    """A throwaway self-signed ECDSA P-256 certificate for 127.0.0.1, made with openssl: (certificate, key) paths."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


def parse_h2load(text):
    def find(pattern, cast=float, default=None):
        m = re.search(pattern, text, re.MULTILINE)
        return cast(m.group(1)) if m else default

    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, "
                  r"(\d+) timeout", text, re.MULTILINE)
    if m is None or find(r"^finished in [\d.]+\w+, ([\d.]+) req/s") is None:
        raise ValueError(f"could not parse h2load output:\n{text[-3000:]}")
    total, started, done, succeeded, failed, errored, timeout = map(int, m.groups())
    result = {
        "requests_per_s": find(r"^finished in [\d.]+\w+, ([\d.]+) req/s"),
        "requests": done,
        "succeeded": succeeded,
        "failed": failed,
        "errored": errored,
        "timeout": timeout,
        "non_2xx": sum(find(rf"^status codes: .*?(\d+) {c}xx", int, 0) for c in "345"),
        "protocol": find(r"^Application protocol: (\S+)", str),
    }
    m = re.search(r"^time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)",
                  text, re.MULTILINE)
    if m:
        g = m.groups()
        result |= {"min_ms": _to_ms(g[0], g[1]), "max_ms": _to_ms(g[2], g[3]), "mean_ms": _to_ms(g[4], g[5]),
                   "sd_ms": _to_ms(g[6], g[7])}
    return result


def h2load_latencies(log_path):
    """p50 and p99 in ms of the answered requests of an h2load --log-file (start µs, status, µs to the response's end)."""
    elapsed = []
    with open(log_path) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1] != "-1":
                elapsed.append(int(parts[2]))
    if not elapsed:
        return {"p50_ms": None, "p99_ms": None, "logged": 0}
    elapsed.sort()
    p = lambda q: elapsed[min(len(elapsed) - 1, int(q * len(elapsed)))] / 1000
    return {"p50_ms": p(0.5), "p99_ms": p(0.99), "logged": len(elapsed)}


def h2load(url, protocol, pid, args, log_path):
    """One h2load run with a warm-up: its figures, and the server's CPU time between the lines where h2load says its
    measured run starts and ends."""
    cmd = ["h2load", "-c", str(args.h2_connections), "-t", "1", "-D", str(args.seconds),
           f"--warm-up-time={args.h2_warm_up}", f"--log-file={log_path}"]
    cmd += ["--h1", "-m", "1"] if protocol == "h1" else ["-m", str(args.h2_streams)]
    cmd.append(url)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(args.seconds + args.h2_warm_up + 60, proc.kill)
    watchdog.start()
    lines, marks = [], {}

    def mark():
        try:
            return cpu_seconds(pid), proc_status(pid)["VmRSS"]
        except (OSError, KeyError, ValueError, IndexError):  # the server is gone, or a zombie without VmRSS
            return None

    try:
        for line in proc.stdout:  # h2load flushes each of these lines as it happens
            lines.append(line)
            if "Main benchmark duration is started" in line:
                marks["start"] = mark()
            elif "Main benchmark duration is over" in line:
                marks["end"] = mark()
        proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(lines)
    if marks.get("start", 0) is None or marks.get("end", 0) is None:
        raise RuntimeError(f"the server exited during {shlex.join(cmd)}")
    if proc.returncode != 0 or "start" not in marks or "end" not in marks:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}): {text[-3000:]}")
    return parse_h2load(text), marks, shlex.join(cmd)


def h2hello_one(label, kind, tls, protocol, args, certificate, scratch):
    with Server(kind, args.linkings[0], tls=certificate if tls else None) as server:
        rss_idle = proc_status(server.pid)["VmRSS"]
        url = f"{'https' if tls else 'http'}://{HOST}:{server.port}/hello/"
        log_path = os.path.join(scratch, "h2load.log")
        result, marks, command = h2load(url, protocol, server.pid, args, log_path)
        result |= h2load_latencies(log_path)
        os.unlink(log_path)
        st = proc_status(server.pid)
        cpu = marks["end"][0] - marks["start"][0]
        result |= {
            "command": command,
            "errors": result["failed"] + result["errored"] + result["timeout"] + result["non_2xx"],
            "cpu_s": cpu,
            "cpu_us_per_request": cpu / result["requests"] * 1e6 if result["requests"] else None,
            "rss_idle_mib": rss_idle / 1024,
            "rss_before_mib": marks["start"][1] / 1024,  # after the warm-up, as the measured run starts
            "rss_after_mib": marks["end"][1] / 1024,
            "peak_rss_mib": st["VmHWM"] / 1024,
            "threads": st["Threads"],
        }
    result.update(server.notes())
    if result["protocol"] != H2LOAD_PROTOCOL[protocol]:
        result["warning"] = f"h2load spoke {result['protocol']}, not {H2LOAD_PROTOCOL[protocol]}"
    elif result["errors"]:
        result["warning"] = f"{result['errors']} requests failed or were not answered 2xx"
    if "warning" in result:
        log(f"  WARNING: {label}: {result['warning']}")
    return result


def h2hello_ratios(runs):
    def ratio(a, b, f):
        return runs[a][f] / runs[b][f] if runs[a].get(f) is not None and runs[b].get(f) else None

    return {"vs_hummingbird": {a: {f: ratio(a, b, f) for f in H2HELLO_RATIOS} for a, b in H2HELLO_VS_HUMMINGBIRD.items()},
            "vs_baseline": {a: {f: ratio(a, b, f) for f in H2HELLO_RATIOS} for a, b in H2HELLO_VS_BASELINE.items()}}


def h2hello_rows(round_):
    rows = []
    for label, kind, tls, protocol in H2HELLO_RUNS:
        r = round_[label]
        hb = round_["vs_hummingbird"].get(label, {})
        base = round_["vs_baseline"].get(label, {})
        rows.append([round_["round"], label, r.get("protocol") or H2LOAD_PROTOCOL[protocol], fmt(r["requests_per_s"], 0),
                     fmt(hb.get("requests_per_s"), 3) if hb else "", fmt(base.get("requests_per_s"), 3) if base else "",
                     fmt(r["p50_ms"], 3), fmt(r["p99_ms"], 3), fmt(r["max_ms"], 2), fmt(r["cpu_us_per_request"], 1),
                     fmt(hb.get("cpu_us_per_request"), 3) if hb else "", fmt(r["errors"], 0), fmt(r["rss_before_mib"], 1),
                     fmt(r["peak_rss_mib"], 1)])
    return rows


def run_h2hello(args):
    rounds = []
    scratch = tempfile.mkdtemp(prefix="tether-h2-")
    try:
        certificate = make_certificate(scratch)
        log("\n".join(table(None, H2HELLO_COLUMNS, [])))
        for index in range(1, args.rounds + 1):
            round_ = {"round": index, "linking": args.linkings[0]}
            for label, kind, tls, protocol in H2HELLO_RUNS:
                try:
                    round_[label] = h2hello_one(label, kind, tls, protocol, args, certificate, scratch)
                except RuntimeError as error:  # once more, with a new server; the failure stays in the results
                    log(f"  {label}: {error}; once more")
                    round_[label] = h2hello_one(label, kind, tls, protocol, args, certificate, scratch)
                    round_[label]["note"] = f"the first attempt failed: {error}"
            round_ |= h2hello_ratios(round_)
            rounds.append(round_)
            for row in h2hello_rows(round_):
                log(table_row(row))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    medians = {"round": "median", "linking": args.linkings[0], "rounds": len(rounds)}
    medians |= {label: {f: med([r[label].get(f) for r in rounds]) for f in H2HELLO_FIGURES} | {"protocol": rounds[0][label].get("protocol")}
                for label in H2HELLO_LABELS}
    for key in ("vs_hummingbird", "vs_baseline"):
        medians[key] = {a: {f: med([r[key][a][f] for r in rounds]) for f in H2HELLO_RATIOS} for a in rounds[0][key]}
    return {"seconds": args.seconds, "warm_up_s": args.h2_warm_up,
            "h2load": f"h2load -c {args.h2_connections} -m {args.h2_streams} -t 1 -D {args.seconds} "
                      f"--warm-up-time={args.h2_warm_up} (HTTP/1.1: --h1 -m 1, no pipelining)",
            "certificate": "self-signed ECDSA P-256, made by openssl at run time",
            "linking": args.linkings[0], "runs": H2HELLO_LABELS, "rounds": rounds, "medians": medians}


# ---------------------------------------------------------------- HTTP/2: h2cancel, h2wave (h2_probe.py)


def run_h2cancel(args):
    p = h2_probe()
    with Server("tether", args.linkings[0]) as server:
        result = p.latency(server.port, args.h2cancel_count)
    result.update(server.notes())
    result["targets"] = {"p50_ms <= 0.1": result["p50_ms"] <= 0.1, "p99_ms <= 1": result["p99_ms"] <= 1.0}
    problems = []
    if result["cancelled"] != args.h2cancel_count or result["completed"] != 0:
        problems.append(f"expected {args.h2cancel_count} cancelled and 0 completed, server says {result['server_stats']}")
    reasons = result["server_reasons"]
    if reasons is not None and reasons.get("stream_reset", 0) != args.h2cancel_count:
        problems.append(f"cancellation reasons {reasons}, expected stream_reset {args.h2cancel_count}")
    if problems:
        result["warning"] = "; ".join(problems)
        log(f"  WARNING: {result['warning']}")
    log(f"  tether: RST_STREAM -> cancel over {result['count']} streams ({result['connections']} connections): "
        f"p50 {result['p50_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms, max {result['max_ms']:.3f} ms; reasons {reasons}")
    # Hummingbird: is the handler of a reset stream cancelled at all? A few streams, a short wait for each.
    # it keeps the handlers of reset streams sleeping, which its graceful shutdown waits for: 2 s, then SIGKILL
    with Server("hummingbird-h2", args.linkings[0], patience=2) as server:
        try:
            peer = p.latency(server.port, args.h2cancel_peer_count, stats_protocol="h2c", timeout=2.0)
            peer["cancelled_on_reset"] = True
            log(f"  hummingbird-h2: p50 {peer['p50_ms']:.3f} ms, p99 {peer['p99_ms']:.3f} ms over {peer['count']} streams")
        except TimeoutError as error:
            stats = p.Stats(server.port, "h2c")
            peer = {"cancelled_on_reset": False, "server_stats": stats(), "note": f"hummingbird-h2: {error}"}
            stats.close()
            log(f"  hummingbird-h2: the handler of a reset stream was not cancelled within 2 s: {peer['server_stats']}")
    peer.update(server.notes())
    peer.pop("samples_ms", None)
    return {"tether": result, "hummingbird-h2": peer}


def run_h2wave(args):
    p = h2_probe()
    with Server("tether", args.linkings[0]) as server:
        fds_before = open_fds(server.pid)
        result = p.wave(server.port, args.h2wave_count, args.h2wave_connections)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (open_fds(server.pid) or 0) > fds_before + 5:
            time.sleep(0.05)
        result["server_fds_before"], result["server_fds_after"] = fds_before, open_fds(server.pid)
    result.update(server.notes())
    result["targets"] = {"polled_after_first_rst_ms <= 50": result["polled_after_first_rst_ms"] <= 50}
    if result["cancelled"] != args.h2wave_count:
        result["warning"] = f"{result['cancelled']} of {args.h2wave_count} cancelled"
        log(f"  WARNING: {result['warning']}")
    log(f"  tether: {result['count']} streams on {result['connections']} connections reset at once: {result['cancelled']} "
        f"cancelled, the last {result['last_cancel_after_first_rst_ms']:.2f} ms after the first RST_STREAM (server's clock), "
        f"seen by polling /stats/ after {result['polled_after_first_rst_ms']:.2f} ms; reasons {result['server_reasons']}")
    return result


# ---------------------------------------------------------------- HTTP/2: rapidreset


class HelloMonitor(threading.Thread):
    """GET /hello/ one after another, over one h2c connection and (where the server speaks it) one HTTP/1.1 keep-alive
    connection, each made again after an error; each answer's latency is kept under the phase it fell in."""

    def __init__(self, port, http1):
        super().__init__(daemon=True)
        self.port, self.http1 = port, http1
        self.phase = "before"
        self.samples = {}  # (phase, protocol) -> [latency ms]
        self.failures = {}  # (phase, protocol) -> [error]
        self.answered_at = {}  # phase -> [monotonic s of each answer]
        self.stop_event = threading.Event()

    def get_h1(self, state):
        if state.get("h1") is None:
            state["h1"] = socket.create_connection((HOST, self.port), timeout=5)
        state["h1"].sendall(b"GET /hello/ HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = read_response(state["h1"])
        return status

    def get_h2c(self, state):
        if state.get("h2c") is None or not state["h2c"].usable:
            if state.get("h2c") is not None:
                state["h2c"].close()
            state["h2c"] = h2_probe().H2Client(self.port, timeout=5)
        status, _ = state["h2c"].get("/hello/", timeout=5)
        return status

    def run(self):
        state = {}
        protocols = [("h2c", self.get_h2c)] + ([("h1", self.get_h1)] if self.http1 else [])
        try:
            while not self.stop_event.is_set():
                for name, get in protocols:
                    phase = self.phase
                    started = time.perf_counter()
                    try:
                        status = get(state)
                        if status != 200:
                            raise ValueError(f"status {status}")
                        self.samples.setdefault((phase, name), []).append((time.perf_counter() - started) * 1e3)
                        self.answered_at.setdefault(phase, []).append(time.monotonic())
                    except Exception as error:  # noqa: BLE001  (counted; the connection is made again)
                        self.failures.setdefault((phase, name), []).append(f"{type(error).__name__}: {error}")
                        old = state.pop(name, None)
                        with contextlib.suppress(Exception):
                            old.close()
                        time.sleep(0.01)
                self.stop_event.wait(0.005)
        finally:
            for connection in state.values():
                with contextlib.suppress(Exception):
                    connection.close()

    def summary(self, phases, windows=()):
        """Latencies of the answers in these phases; the longest time without an answer within each window."""
        result = {}
        for name in ("h2c", "h1"):
            samples = sorted(x for phase in phases for x in self.samples.get((phase, name), []))
            failures = [x for phase in phases for x in self.failures.get((phase, name), [])]
            if not samples and not failures:
                continue
            p = (lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]) if samples else (lambda q: None)
            result[name] = {"answered": len(samples), "failed": len(failures), "failures": failures[:5],
                            "p50_ms": p(0.5), "p99_ms": p(0.99), "max_ms": samples[-1] if samples else None}
        gaps = []
        for started, ended in windows:
            times = sorted([started, ended] + [t for phase in phases for t in self.answered_at.get(phase, [])
                                               if started <= t <= ended])
            gaps.append(max(b - a for a, b in zip(times, times[1:])) * 1e3)
        if gaps:
            result["longest_gap_ms"] = max(gaps)
        return result


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.stop_event = pid, 0, threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            with contextlib.suppress(OSError):
                self.peak_kib = max(self.peak_kib, proc_status(self.pid)["VmRSS"])
            self.stop_event.wait(0.01)


def rapidreset_one(kind, args):
    p = h2_probe()
    stats_protocol = "h2c" if kind == "hummingbird-h2" else "h1"
    attacks, rss_after, windows = [], [], []
    with Server(kind, args.linkings[0], patience=2 if kind == "hummingbird-h2" else None) as server:
        fds_before = open_fds(server.pid)
        stats = p.Stats(server.port, stats_protocol)
        monitor = HelloMonitor(server.port, http1=kind != "hummingbird-h2")
        sampler = RssSampler(server.pid)
        try:
            monitor.start()
            time.sleep(1.0)  # hello latency before the attack, and the monitor's connections made
            before = stats()
            rss_before = proc_status(server.pid)["VmRSS"]
            sampler.start()
            for repeat in range(1, args.rapidreset_repeats + 1):
                monitor.phase = f"attack {repeat}"
                attack_started = time.monotonic()
                cmd = [sys.executable, os.path.join(HERE, "h2_probe.py"), "rapidreset", "--port", str(server.port),
                       "--count", str(args.rapidreset_pairs), "--connections", str(args.rapidreset_connections), "--json"]
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
                attack_ended = time.monotonic()
                monitor.phase = f"after {repeat}"
                windows.append((attack_started, attack_ended))
                if done.returncode != 0:
                    raise RuntimeError(f"{shlex.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
                attacks.append(json.loads(done.stdout.strip().splitlines()[-1]))
                # every handler the attack started should end: wait (bounded) until none is left running
                deadline = time.monotonic() + 5
                while True:
                    current = stats()
                    running = current["started"] - current["completed"] - current["cancelled"]
                    if running <= 0 or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                attacks[-1]["handlers_settled_after_s"] = time.monotonic() - attack_ended
                time.sleep(1.0)
                rss_after.append(proc_status(server.pid)["VmRSS"])
                log(f"  {kind}: attack {repeat}: {attacks[-1]['pairs_sent']} pairs in {attacks[-1]['seconds']:.2f} s, "
                    f"RSS after {rss_after[-1] / 1024:.1f} MiB")
            after = stats()
            monitor.phase = "goaway check"
            goaway = p.goaway_check(server.port)
        finally:
            monitor.stop_event.set()
            sampler.stop_event.set()
            monitor.join(timeout=10)
            sampler.join(timeout=5)
            stats.close()
        time.sleep(0.5)  # the monitor's connections closed too
        fds_after = open_fds(server.pid)
    goaways = {}
    for attack in attacks:
        for code, count in attack["goaways"].items():
            goaways[code] = goaways.get(code, 0) + count
    repeats = len(attacks)
    result = {
        "attacks": attacks,
        "pairs_sent": sum(a["pairs_sent"] for a in attacks),
        "attack_seconds": sum(a["seconds"] for a in attacks),
        "connections": sum(a["connections"] for a in attacks),
        "goaways": goaways,
        "closed_without_goaway": sum(a["closed_without_goaway"] for a in attacks),
        "server_started": after["started"] - before["started"],
        "server_cancelled": after["cancelled"] - before["cancelled"],
        "server_completed": after["completed"] - before["completed"],
        "handlers_still_running": after["started"] - after["completed"] - after["cancelled"],
        "server_reasons": p.reasons_delta(before, after),
        "rss_before_mib": rss_before / 1024,
        "rss_peak_mib": max([sampler.peak_kib] + rss_after) / 1024,
        "rss_after_each_mib": [x / 1024 for x in rss_after],
        "rss_after_mib": rss_after[0] / 1024,
        "rss_growth_mib": (rss_after[0] - rss_before) / 1024,  # after the first attack: the target's figure
        # each repeat is the same attack again: a server that keeps nothing of an attack grows by ~0 from the second on
        "rss_growth_per_repeat_mib": (rss_after[-1] - rss_after[0]) / 1024 / (repeats - 1) if repeats > 1 else None,
        "server_fds_before": fds_before,
        "server_fds_after": fds_after,
        "goaway_check": goaway,
        "hello_before": monitor.summary(["before"]),
        "hello_during": monitor.summary([f"attack {i}" for i in range(1, repeats + 1)], windows),
        "hello_after": monitor.summary([f"after {i}" for i in range(1, repeats + 1)]),
    }
    result.update(server.notes())
    result["targets"] = {"rss_growth_mib <= 16": result["rss_growth_mib"] <= 16}
    during = result["hello_during"]
    problems = []
    if any(during.get(name, {}).get("failed") for name in ("h2c", "h1")):
        problems.append("hello failed during the attack: " + ", ".join(
            f"{name} {during[name]['failed']}" for name in ("h2c", "h1") if during.get(name, {}).get("failed")))
    if not any(during.get(name, {}).get("answered") for name in ("h2c", "h1")):
        problems.append("hello was not answered during the attack")
    if result["handlers_still_running"] > 0:
        problems.append(f"{result['handlers_still_running']} /slow/ handlers still running 6 s after the attack")
    if result["rss_growth_per_repeat_mib"] is not None and result["rss_growth_per_repeat_mib"] > 2:
        problems.append(f"resident memory grows by {result['rss_growth_per_repeat_mib']:.1f} MiB with each repeat "
                        f"of the attack: {', '.join(f'{x:.1f}' for x in result['rss_after_each_mib'])} MiB")
    if goaway["goaway_received"] and not goaway["closed_by_server"]:
        problems.append(f"after its GOAWAY {goaway['goaways'][0]} the server left the connection open "
                        f"({goaway['waited_s']} s; RFC 9113 5.4.1 has it close the connection)")
    if problems:
        result["warning"] = "; ".join(problems)
        log(f"  WARNING: {kind}: {result['warning']}")
    h2c = during.get("h2c", {})
    log(f"  {kind}: {result['pairs_sent']} pairs in {result['attack_seconds']:.2f} s on {result['connections']} "
        f"connections, GOAWAYs {goaways}, closed without GOAWAY {result['closed_without_goaway']}; handlers started "
        f"{result['server_started']}, cancelled {result['server_cancelled']}, still running "
        f"{result['handlers_still_running']}; RSS {rss_before / 1024:.1f} -> {result['rss_after_mib']:.1f} MiB "
        f"(peak {result['rss_peak_mib']:.1f}); hello h2c during: {h2c.get('answered')} answered, {h2c.get('failed')} "
        f"failed, p50 {fmt(h2c.get('p50_ms'), 3)} ms, p99 {fmt(h2c.get('p99_ms'), 3)} ms, max {fmt(h2c.get('max_ms'), 2)} ms")
    return result


def run_rapidreset(args):
    return {kind: rapidreset_one(kind, args) for kind in SECTION_SERVERS["rapidreset"]}


# ---------------------------------------------------------------- WebSocket: wsecho (ws-load), wsidle, wscancel


WSECHO_FIGURES = ["round_trips_per_s", "p50_ms", "p99_ms", "cpu_us_per_round_trip", "errors", "rss_before_mib",
                  "peak_rss_mib", "server_cores", "load_cores", "load_cpu_us_per_round_trip"]
WSECHO_RATIOS = ["round_trips_per_s", "cpu_us_per_round_trip", "peak_rss_mib"]
WSECHO_COLUMNS = ["<round", "<server", "round trips/s", "÷ baseline", "p50 ms", "p99 ms", "CPU µs/round trip",
                  "CPU ÷ baseline", "errors", "RSS before MiB", "peak RSS MiB", "server cores", "ws-load cores",
                  "ws-load CPU µs/round trip"]


def ws_load(port, pid, args):
    """One ws-load run: its JSON line, and the server's and ws-load's CPU time and the server's resident memory at
    the lines where ws-load says its measured run starts and ends."""
    linking = args.linkings[0]
    cmd = [binary("ws-load", linking), "--port", str(port), "--path", "/ws/echo/",
           "--connections", str(args.ws_connections), "--seconds", str(args.seconds), "--warmup", str(args.ws_warm_up),
           "--size", str(args.ws_message_bytes), "--threads", str(args.ws_load_threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_die_with_parent)
    watchdog = threading.Timer(args.seconds + args.ws_warm_up + 60, proc.kill)
    watchdog.start()
    lines, marks = [], {}

    def mark():
        try:
            return {"server_cpu": cpu_seconds(pid), "server_rss": proc_status(pid)["VmRSS"],
                    "load_cpu": cpu_seconds(proc.pid), "time": time.monotonic()}
        except (OSError, KeyError, ValueError, IndexError):  # the server is gone, or a zombie without VmRSS
            return None

    try:
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == "measuring":
                marks["start"] = mark()
            elif line.strip() == "done":
                marks["end"] = mark()
        proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(lines)
    if marks.get("start", 0) is None or marks.get("end", 0) is None:
        raise RuntimeError(f"the server exited during {shlex.join(cmd)}")
    if proc.returncode != 0 or "start" not in marks or "end" not in marks or not lines[-1].startswith("{"):
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}): {text[-3000:]}")
    return json.loads(lines[-1]), marks, shlex.join(cmd)


def wsecho_one(kind, args):
    with Server(kind, args.linkings[0]) as server:
        rss_idle = proc_status(server.pid)["VmRSS"]
        load, marks, command = ws_load(server.port, server.pid, args)
        st = proc_status(server.pid)
    start, end = marks["start"], marks["end"]
    wall = end["time"] - start["time"]
    cpu, load_cpu, trips = end["server_cpu"] - start["server_cpu"], end["load_cpu"] - start["load_cpu"], load["round_trips"]
    result = {
        "command": command,
        "round_trips": trips,
        "round_trips_per_s": load["round_trips_per_s"],
        "p50_ms": load["p50_us"] / 1000, "p90_ms": load["p90_us"] / 1000, "p99_ms": load["p99_us"] / 1000,
        "max_ms": load["max_us"] / 1000, "mean_ms": load["mean_us"] / 1000,
        "errors": load["wrong_echoes"] + load["closed_early"] + load["stuck"],
        "cpu_s": cpu,                                 # the server's utime + stime during the measured run
        "cpu_us_per_round_trip": cpu / trips * 1e6 if trips else None,
        "server_cores": cpu / wall,                   # of the machine's os.cpu_count()
        "load_cpu_s": load_cpu,                       # ws-load's, from /proc over the same window
        "load_cpu_us_per_round_trip": load_cpu / trips * 1e6 if trips else None,
        "load_cores": load_cpu / wall,
        "rss_idle_mib": rss_idle / 1024,              # after the first GET /hello/
        "rss_before_mib": start["server_rss"] / 1024,  # after the connections and the warm-up
        "rss_after_mib": end["server_rss"] / 1024,
        "peak_rss_mib": st["VmHWM"] / 1024,
        "threads": st["Threads"],
        "ws_load": load,
    }
    result.update(server.notes())
    if result["errors"]:
        result["warning"] = (f"{load['wrong_echoes']} wrong echoes, {load['closed_early']} connections closed early, "
                             f"{load['stuck']} without their last echo")
        log(f"  WARNING: {kind}: {result['warning']}")
    return result


def wsecho_rows(round_):
    rows = []
    for kind in WS_SERVERS:
        r, vs = round_[kind], round_["vs_baseline"].get(kind, {})
        rows.append([round_["round"], kind, fmt(r["round_trips_per_s"], 0),
                     fmt(vs.get("round_trips_per_s"), 3) if vs else "", fmt(r["p50_ms"], 3), fmt(r["p99_ms"], 3),
                     fmt(r["cpu_us_per_round_trip"], 1), fmt(vs.get("cpu_us_per_round_trip"), 3) if vs else "",
                     fmt(r["errors"], 0), fmt(r["rss_before_mib"], 1), fmt(r["peak_rss_mib"], 1),
                     fmt(r["server_cores"], 2), fmt(r["load_cores"], 2), fmt(r["load_cpu_us_per_round_trip"], 1)])
    return rows


def run_wsecho(args):
    rounds = []
    log("\n".join(table(None, WSECHO_COLUMNS, [])))
    for index in range(1, args.rounds + 1):
        round_ = {"round": index, "linking": args.linkings[0]}
        for kind in WS_SERVERS:
            try:
                round_[kind] = wsecho_one(kind, args)
            except RuntimeError as error:  # once more, with a new server; the failure stays in the results
                log(f"  {kind}: {error}; once more")
                round_[kind] = wsecho_one(kind, args)
                round_[kind]["note"] = f"the first attempt failed: {error}"
        base = round_.get("baseline-ws")
        round_["vs_baseline"] = {
            kind: {f: round_[kind][f] / base[f] if round_[kind][f] is not None and base[f] else None
                   for f in WSECHO_RATIOS}
            for kind in WS_SERVERS if kind != "baseline-ws" and base is not None}
        rounds.append(round_)
        for row in wsecho_rows(round_):
            log(table_row(row))

    medians = {"round": "median", "linking": args.linkings[0], "rounds": len(rounds)}
    medians |= {kind: {f: med([r[kind][f] for r in rounds]) for f in WSECHO_FIGURES} for kind in WS_SERVERS}
    medians["vs_baseline"] = {kind: {f: med([r["vs_baseline"][kind][f] for r in rounds]) for f in WSECHO_RATIOS}
                              for kind in rounds[0]["vs_baseline"]}
    log(table_row(["-"] * len(WSECHO_COLUMNS)))
    for row in wsecho_rows(medians):
        log(table_row(row))
    return {"seconds": args.seconds, "warm_up_s": args.ws_warm_up, "connections": args.ws_connections,
            "message_bytes": args.ws_message_bytes, "load_threads": args.ws_load_threads,
            "ws_load": f"ws-load --connections {args.ws_connections} --size {args.ws_message_bytes} --seconds "
                       f"{args.seconds} --warmup {args.ws_warm_up} --threads {args.ws_load_threads} (a text message, "
                       f"its echo awaited before the next, on each connection)",
            "linking": args.linkings[0], "servers": WS_SERVERS, "rounds": rounds, "medians": medians}


def wsidle_one(kind, args):
    count = args.ws_idle_count
    sources = args.ws_idle_sources or max(1, -(-count // 20000))
    sockets = []
    with Server(kind, args.linkings[0]) as server:
        try:
            time.sleep(0.2)
            rss_before = proc_status(server.pid)["VmRSS"]
            fds_before = open_fds(server.pid)
            started = time.monotonic()
            sockets = ws_probe.open_idle(server.port, count, path="/ws/echo/", sources=sources)
            opened = time.monotonic() - started
            time.sleep(1.0)
            st1, fds_idle, closed1 = proc_status(server.pid), open_fds(server.pid), ws_probe.closed_by_server(sockets)
            time.sleep(5.0)
            st6, closed6 = proc_status(server.pid), ws_probe.closed_by_server(sockets)
        finally:
            for s in sockets:
                s.close()
        # the connections should be gone on the server's side too (bounded wait)
        deadline = time.monotonic() + 10
        time.sleep(0.5)
        while time.monotonic() < deadline and (open_fds(server.pid) or 0) > fds_before + 5:
            time.sleep(0.05)
        rss_closed = proc_status(server.pid)["VmRSS"]
        fds_closed = open_fds(server.pid)
    result = {
        "connections": count,
        "source_addresses": sources,
        "open_seconds": opened,
        "rss_before_mib": rss_before / 1024,
        "rss_idle_mib": st1["VmRSS"] / 1024,                      # ~1 s after the last handshake
        "rss_delta_mib": (st1["VmRSS"] - rss_before) / 1024,
        "rss_per_connection_kib": (st1["VmRSS"] - rss_before) / count,
        "rss_idle_6s_mib": st6["VmRSS"] / 1024,                   # ~6 s after
        "rss_per_connection_6s_kib": (st6["VmRSS"] - rss_before) / count,
        "peak_rss_mib": st6["VmHWM"] / 1024,
        "rss_after_close_mib": rss_closed / 1024,
        "closed_by_server_1s": closed1,
        "closed_by_server_6s": closed6,
        "server_fds_before": fds_before,
        "server_fds_idle": fds_idle,
        "server_fds_after_close": fds_closed,
        "threads": st1["Threads"],
    }
    result.update(server.notes())
    log(f"  {kind}: {count} idle WebSocket connections, RSS {rss_before / 1024:.1f} -> {st1['VmRSS'] / 1024:.1f} MiB "
        f"(+{result['rss_delta_mib']:.1f} MiB, {result['rss_per_connection_kib']:.1f} KiB each; "
        f"{result['rss_per_connection_6s_kib']:.1f} KiB after 6 s), after close {rss_closed / 1024:.1f} MiB, "
        f"fds {fds_before} -> {fds_idle} -> {fds_closed}, closed by the server {closed1} / {closed6}, "
        f"opened in {opened:.2f} s")
    if closed1 or closed6:
        result["warning"] = f"the server closed (or wrote to) {closed1} within 1 s, {closed6} within 6 s"
        log(f"  WARNING: {kind}: {result['warning']}")
    return result


WSIDLE_FIGURES = ["rss_before_mib", "rss_idle_mib", "rss_delta_mib", "rss_per_connection_kib",
                  "rss_per_connection_6s_kib", "rss_after_close_mib", "open_seconds"]


def run_wsidle(args):
    rounds = []
    for index in range(1, args.rounds + 1):
        rounds.append({"round": index, "linking": args.linkings[0]} | {kind: wsidle_one(kind, args) for kind in WS_SERVERS})
    medians = {"round": "median", "rounds": len(rounds)}
    medians |= {kind: {f: statistics.median([r[kind][f] for r in rounds]) for f in WSIDLE_FIGURES} for kind in WS_SERVERS}
    return {"connections": args.ws_idle_count, "linking": args.linkings[0], "servers": WS_SERVERS, "rounds": rounds,
            "medians": medians}


def run_wscancel(args):
    with Server("tether", args.linkings[0]) as server:
        result = ws_probe.latency(server.port, args.wscancel_count)
        result["server_stats"] = ws_probe.stats(server.port)
    result.update(server.notes())
    for variant, v in result["variants"].items():
        v["targets"] = {"p50_ms <= 0.1": v["p50_ms"] <= 0.1, "p99_ms <= 1": v["p99_ms"] <= 1.0}
        log(f"  tether: {variant}: leave -> cancel over {v['count']}: p50 {v['p50_ms']:.3f} ms, p99 {v['p99_ms']:.3f} ms, "
            f"max {v['max_ms']:.3f} ms; reasons {v['reasons']}")
    if "warning" in result:
        log(f"  WARNING: {result['warning']}")
    return result


def ws_report(results):
    out = []
    e = results.get("wsecho")
    if e and "rounds" in e:
        out += table(f"wsecho: {e['ws_load']}, {e['linking']} linking; ratios to baseline-ws of the same round",
                     WSECHO_COLUMNS, [row for r in e["rounds"] + [e["medians"]] for row in wsecho_rows(r)])
    i = results.get("wsidle")
    if i and "rounds" in i:
        rows = []
        for r in i["rounds"]:
            for kind in WS_SERVERS:
                x = r[kind]
                rows.append([r["round"], kind, x["connections"], f"{x['rss_before_mib']:.1f}", f"{x['rss_idle_mib']:.1f}",
                             f"{x['rss_delta_mib']:.1f}", f"{x['rss_per_connection_kib']:.1f}",
                             f"{x['rss_per_connection_6s_kib']:.1f}", f"{x['rss_after_close_mib']:.1f}",
                             f"{x['closed_by_server_1s']} / {x['closed_by_server_6s']}",
                             f"{x['server_fds_before']} / {x['server_fds_idle']} / {x['server_fds_after_close']}"])
        for kind in WS_SERVERS:
            m = i["medians"][kind]
            rows.append(["median", kind, i["connections"], f"{m['rss_before_mib']:.1f}", f"{m['rss_idle_mib']:.1f}",
                         f"{m['rss_delta_mib']:.1f}", f"{m['rss_per_connection_kib']:.1f}",
                         f"{m['rss_per_connection_6s_kib']:.1f}", f"{m['rss_after_close_mib']:.1f}", "", ""])
        out += table("wsidle: WebSocket connections on /ws/echo/, handshake done, then idle",
                     ["<round", "<server", "connections", "RSS before MiB", "RSS idle MiB (1 s)", "delta MiB",
                      "KiB/connection (1 s)", "KiB/connection (6 s)", "RSS after close MiB",
                      "<closed by server 1 s / 6 s", "<server fds before / idle / closed"], rows)
    c = results.get("wscancel")
    if c and "variants" in c:
        out += table(f"wscancel: /ws/ticker/?ms={c['ticker_ms']}, {c['ticks_before_leaving']} ticks received, then the "
                     f"client leaves -> application cancelled (one at a time, the ways taking turns)",
                     ["<way of leaving", "samples", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms", "<reasons",
                      "<p50 ≤ 0.1 ms and p99 ≤ 1 ms"],
                     [[variant, v["count"], f"{v['p50_ms']:.3f}", f"{v['p90_ms']:.3f}", f"{v['p99_ms']:.3f}",
                       f"{v['max_ms']:.3f}", f"{v['mean_ms']:.3f}", v["reasons"],
                       "yes" if all(v["targets"].values()) else "no"] for variant, v in c["variants"].items()])
    return out


# ---------------------------------------------------------------- deployment: workers, proxycancel, proxywave, reload


DEPLOY = os.path.join(ROOT, "deploy")
# The shipped proxy configurations' canonical addresses, which a run replaces (as ProxyDeploymentTests.swift does):
# the two front doors (over TCP to Tether, over its Unix socket), Tether's port and its socket's path.
PROXY_FILES = {"nginx": ("nginx.conf", "127.0.0.1:8080", "127.0.0.1:8081"),
               "haproxy": ("haproxy.cfg", "127.0.0.1:8090", "127.0.0.1:8091")}
CANONICAL_UPSTREAM = "127.0.0.1:8000"
CANONICAL_SOCKET = "/run/tether/tether.sock"


def find_tool(name):
    """`name` on the PATH or in the sbin directories (nginx and haproxy live in /usr/sbin)."""
    found = shutil.which(name) or next((os.path.join(d, name) for d in ("/usr/sbin", "/sbin", "/usr/local/sbin")
                                        if os.access(os.path.join(d, name), os.X_OK)), None)
    if found is None:
        raise SystemExit(f"{name} is missing: apt-get install -y nginx haproxy")
    return found


def substituting(replacements, text):
    """`text` with every occurrence of each canonical value replaced; each must occur."""
    for canonical, value in replacements:
        if canonical not in text:
            raise ValueError(f"the shipped file no longer contains {canonical!r}")
        text = text.replace(canonical, value)
    return text


def accepts(port, timeout=0.5):
    with contextlib.suppress(OSError):
        socket.create_connection((HOST, port), timeout=timeout).close()
        return True
    return False


class Proxy:
    """nginx or HAProxy with its shipped file of deploy/, in a fresh temporary directory: only its two front doors'
    ports, Tether's port and its socket's path replaced (`edits`: more (shipped, replacement) pairs, each of which
    must occur), started as a child process in the foreground, awaited until both doors accept, stopped on exit
    with its workers, also on errors."""

    def __init__(self, kind, upstream_port=None, socket_path=None, edits=()):
        self.kind = kind
        self.directory = tempfile.mkdtemp(prefix=f"tether-{kind}-", dir="/tmp")
        os.makedirs(os.path.join(self.directory, "logs"))
        name, tcp_door, unix_door = PROXY_FILES[kind]
        self.tcp_front, self.unix_front = free_port(), free_port()
        while self.unix_front == self.tcp_front:
            self.unix_front = free_port()
        # An upstream no Tether serves in this run still needs a value: a free port, a path in the directory.
        self.replacements = [(tcp_door, f"{HOST}:{self.tcp_front}"), (unix_door, f"{HOST}:{self.unix_front}"),
                             (CANONICAL_UPSTREAM, f"{HOST}:{upstream_port or free_port()}"),
                             (CANONICAL_SOCKET, socket_path or os.path.join(self.directory, "none.sock"))]
        try:
            with open(os.path.join(DEPLOY, name)) as f:
                text = substituting(self.replacements + list(edits), f.read())
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        self.edits = [f"{' '.join(a.split())} -> {' '.join(b.split())}" for a, b in edits]
        self.config = os.path.join(self.directory, name)
        with open(self.config, "w") as f:
            f.write(text)
        self.output_path = os.path.join(self.directory, "logs", f"{kind}.out")
        if kind == "nginx":
            # As root, nginx's workers would run as nobody: as root too here, to reach the run's socket.
            global_ = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
            self.argv = [find_tool("nginx"), "-p", self.directory + "/", "-e", "logs/error.log", "-c", self.config,
                         "-g", global_]
        else:
            self.argv = [find_tool("haproxy"), "-db", "-f", self.config]
        self.proc = None
        self.children = []
        self.stop_note = None

    @property
    def pid(self):
        return self.proc.pid

    def __enter__(self):
        self.output = open(self.output_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.output, stderr=subprocess.STDOUT,
                                     cwd=self.directory, preexec_fn=_die_with_parent)
        try:
            deadline = time.monotonic() + 10
            while not (accepts(self.tcp_front) and accepts(self.unix_front)):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.kind} did not listen ({self.proc.poll()}): {self.log_tail()}")
                time.sleep(0.02)
            self.children = live_children(self.pid)  # nginx's workers
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.proc is not None:
            children = live_children(self.pid) if self.proc.poll() is None else []
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)  # both: a fast shutdown
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
                    self.stop_note = "did not stop within 5 s of SIGTERM: killed"
            for pid in children:  # nginx's workers, should the master have been killed
                if same_process(pid, self.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            self.output.close()
            self.summary = self._summary()
        shutil.rmtree(self.directory, ignore_errors=True)
        return False

    def front(self, upstream):
        """The door that reaches Tether over `upstream` ("tcp" or "unix")."""
        return self.tcp_front if upstream == "tcp" else self.unix_front

    def cpu_seconds(self):
        """The proxy's CPU time so far: the process, its live workers and those it reaped."""
        return tree_cpu_seconds(self.pid)

    def log_paths(self):
        return [self.output_path] + ([os.path.join(self.directory, "logs", n) for n in ("error.log", "access.log")]
                                     if self.kind == "nginx" else [])

    def log_tail(self, chars=2000):
        out = []
        for path in self.log_paths():
            with contextlib.suppress(OSError), open(path, errors="replace") as f:
                out.append(f"{os.path.basename(path)}: {f.read()[-chars:]}")
        return " | ".join(out)

    def statuses(self):
        """The count of each response status in the proxy's log so far (HAProxy: each termination state too)."""
        counts = {}
        if self.kind == "nginx":
            path, pattern = os.path.join(self.directory, "logs", "access.log"), re.compile(r'" (\d{3}) ')
        else:  # httplog: ... status bytes - - TERMINATION conns queues "request"
            path = self.output_path
            pattern = re.compile(r' (-?\d{1,3}) \d+ \S+ \S+ (\S{4}) \d+/\d+/\d+/\d+/\d+ \d+/\d+ "')
        with contextlib.suppress(OSError), open(path, errors="replace") as f:
            for line in f:
                m = pattern.search(line)
                if m:
                    for key in ([m.group(1)] if self.kind == "nginx" else [m.group(1), f"termination {m.group(2)}"]):
                        counts[key] = counts.get(key, 0) + 1
        return counts

    def _summary(self):
        """Its warnings and errors (nginx's error log at warn and above; HAProxy's lines that are not requests')."""
        lines = []
        paths = self.log_paths()[:2] if self.kind == "nginx" else [self.output_path]
        for path in paths:
            with contextlib.suppress(OSError), open(path, errors="replace") as f:
                for line in f:
                    line = line.strip()
                    if not line or (self.kind == "haproxy" and '"' in line and not line.startswith("[")):
                        continue
                    lines.append(line)
        result = {"proxy": self.kind, "proxy_statuses": self.statuses()}
        if self.edits:
            result["proxy_edits"] = self.edits
        if lines:
            result["proxy_log"] = lines[:10] + ([f"... {len(lines) - 10} more lines"] if len(lines) > 10 else [])
            result["proxy_log_lines"] = len(lines)
        if self.stop_note:
            result["proxy_stop"] = self.stop_note
        return result


def run_wrk(url, seconds, connections=64, on_tick=None):
    """`wrk -t1 -cN -dS --latency URL` in a child process: (its output, its own CPU seconds, read from its
    /proc/PID/stat once it has exited and before it is reaped, the wall seconds). `on_tick(elapsed)` is called
    about every 10 ms while it runs."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    with tempfile.TemporaryFile() as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        try:
            deadline = started + seconds + 60
            while True:
                # exited, but not reaped: its /proc entry still holds its CPU time
                info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                if info is not None:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{shlex.join(cmd)} did not end")
                if on_tick is not None:
                    on_tick(time.monotonic() - started)
                time.sleep(0.01)
            wall = time.monotonic() - started
            wrk_cpu = cpu_seconds(proc.pid)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}): {text}")
    return text, wrk_cpu, wall


# workers: the runs of each round, in this order: (label, server, tether's options).
WORKERS_RUNS = [("tether ×1", "tether", ["--workers", "1"]), ("tether ×2", "tether", ["--workers", "2"]),
                ("baseline", "baseline", []), ("hummingbird", "hummingbird", [])]
WORKERS_LABELS = [run[0] for run in WORKERS_RUNS]
WORKERS_FIGURES = ["requests_per_s", "p50_ms", "p99_ms", "cpu_us_per_request", "errors", "rss_before_mib",
                   "peak_rss_mib", "server_cores", "wrk_cores", "wrk_cpu_us_per_request", "other_cores", "steal_cores",
                   "idle_cores"]
WORKERS_COLUMNS = ["<round", "<server", "processes", "requests/s", "÷ tether ×1", "p50 ms", "p99 ms", "CPU µs/request",
                   "errors", "RSS before MiB", "peak RSS MiB", "server cores", "wrk cores", "others' cores",
                   "steal cores", "idle cores"]


def workers_one(kind, arguments, args, env=None):
    with Server(kind, args.linkings[0], arguments=arguments, env=env) as server:
        rss_idle = tree_status(server.pid)["VmRSS"]
        run_wrk(f"http://{HOST}:{server.port}/hello/", 2)  # warm-up, discarded
        before = tree_status(server.pid)
        everyone_before = processes_cpu()
        cpu_before, machine_before = tree_cpu_seconds(server.pid), machine_cpu()
        text, wrk_cpu, wall = run_wrk(f"http://{HOST}:{server.port}/hello/", args.seconds)
        cpu, machine_after = tree_cpu_seconds(server.pid) - cpu_before, machine_cpu()
        everyone_after = processes_cpu()
        st = tree_status(server.pid)
        pids = [server.pid] + live_children(server.pid)
    result = parse_wrk(text)
    busy, steal, total = (b - a for a, b in zip(machine_before, machine_after))
    cores = os.cpu_count()
    result.update({
        "processes": len(pids),
        "pids": pids,
        "errors": sum(result["socket_errors"].values()) + result["non_2xx"],
        "cpu_s": cpu,                                   # the server's (all its processes') utime + stime
        "cpu_us_per_request": cpu / result["requests"] * 1e6 if result["requests"] else None,
        "wall_s": wall,
        "server_cores": cpu / wall,
        "wrk_cpu_s": wrk_cpu,                           # wrk's own, from its /proc/PID/stat
        "wrk_cores": wrk_cpu / wall,
        "wrk_cpu_us_per_request": wrk_cpu / result["requests"] * 1e6 if result["requests"] else None,
        # /proc/stat over the same window: the machine's busy time besides the server's and wrk's (other
        # processes: the builds and tests of others, this driver), the hypervisor's steal, and what was left idle
        "machine_busy_cores": busy / wall,
        "other_cores": max(0.0, busy / wall - cpu / wall - wrk_cpu / wall),
        "steal_cores": steal / wall,
        "idle_cores": max(0.0, cores - (busy + steal) / wall),
        "cores": cores,
        # who the others were: the busiest other processes by name (wrk is gone by the second reading: it counts
        # in this driver's cutime, which is left out with it)
        "other_processes": other_processes(everyone_before, everyone_after, set(pids) | {os.getpid()},
                                           wall)["busiest"],
        "rss_idle_mib": rss_idle / 1024,
        "rss_before_mib": before["VmRSS"] / 1024,       # summed over the processes, after the warm-up
        "rss_after_mib": st["VmRSS"] / 1024,
        "peak_rss_mib": st["VmHWM"] / 1024,             # the sum of each process's VmHWM
    })
    result.update(server.notes())
    if result["errors"]:
        result["warning"] = f"{result['errors']} requests failed: {result['socket_errors']}, non-2xx {result['non_2xx']}"
        log(f"  WARNING: {kind} {arguments}: {result['warning']}")
    return result


def workers_ceiling(one, two):
    """What the CPU left to the two workers allows: the cores not taken by wrk, by other processes and by the
    hypervisor, divided by what a request costs the server and wrk together in the two-worker run; and that
    rate ÷ one worker's measured rate. A single worker is bounded by its one event loop thread's core instead."""
    per_request = (two["cpu_us_per_request"] or 0) + (two["wrk_cpu_us_per_request"] or 0)
    available = two["cores"] - two["other_cores"] - two["steal_cores"]
    if not per_request or not one["requests_per_s"]:
        return None, None
    rate = available / (per_request / 1e6)
    return rate, rate / one["requests_per_s"]


def workers_rows(round_):
    rows = []
    for label in WORKERS_LABELS:
        r = round_[label]
        ratio = round_["ratio_2_to_1"] if label == "tether ×2" else None
        rows.append([round_["round"], label, fmt(r.get("processes"), 0), fmt(r["requests_per_s"], 0), fmt(ratio, 3),
                     fmt(r["p50_ms"], 3), fmt(r["p99_ms"], 3), fmt(r["cpu_us_per_request"], 1), fmt(r["errors"], 0),
                     fmt(r["rss_before_mib"], 1), fmt(r["peak_rss_mib"], 1), fmt(r["server_cores"], 2),
                     fmt(r["wrk_cores"], 2), fmt(r["other_cores"], 2), fmt(r["steal_cores"], 2),
                     fmt(r["idle_cores"], 2)])
    return rows


def run_workers(args):
    rounds = []
    log("\n".join(table(None, WORKERS_COLUMNS, [])))
    for index in range(1, args.rounds + 1):
        round_ = {"round": index, "linking": args.linkings[0]}
        for label, kind, arguments in WORKERS_RUNS:
            round_[label] = workers_one(kind, arguments, args)
        one, two = round_["tether ×1"], round_["tether ×2"]
        round_["ratio_2_to_1"] = two["requests_per_s"] / one["requests_per_s"]
        round_["cpu_ceiling_requests_per_s"], round_["cpu_ceiling_ratio"] = workers_ceiling(one, two)
        rounds.append(round_)
        for row in workers_rows(round_):
            log(table_row(row))

    medians = {"round": "median", "linking": args.linkings[0], "rounds": len(rounds)}
    medians |= {label: {f: med([r[label].get(f) for r in rounds]) for f in WORKERS_FIGURES}
                | {"processes": rounds[0][label]["processes"]} for label in WORKERS_LABELS}
    for key in ("ratio_2_to_1", "cpu_ceiling_requests_per_s", "cpu_ceiling_ratio"):
        medians[key] = med([r[key] for r in rounds])
    log(table_row(["-"] * len(WORKERS_COLUMNS)))
    for row in workers_rows(medians):
        log(table_row(row))
    target = medians["ratio_2_to_1"] >= 1.6
    log(f"  2 workers ÷ 1 worker: {', '.join(fmt(r['ratio_2_to_1'], 3) for r in rounds)} (median "
        f"{medians['ratio_2_to_1']:.3f}; target ≥ 1.6: {'met' if target else 'missed'}); the CPU left to the server "
        f"allows {fmt(medians['cpu_ceiling_ratio'], 2)}×")
    return {"seconds": args.seconds, "wrk": "wrk -t1 -c64 --latency, after a discarded 2 s warm-up",
            "note": "tether --workers 1 is one process (no supervisor); --workers 2 a supervisor and two workers, "
                    "each slot's SO_REUSEPORT socket bound by the supervisor. CPU and memory are summed over the "
                    "server's processes. other_cores: the machine's busy time (/proc/stat) besides the server's and "
                    "wrk's over the same window.",
            "linking": args.linkings[0], "runs": WORKERS_LABELS, "rounds": rounds, "medians": medians,
            "targets": {"ratio_2_to_1 >= 1.6": target}}


# observe: tether without its metrics, with them, and with them and OTLP spans (every trace sampled, or one in a
# hundred), among the baseline and Hummingbird: (label, server, its arguments, the OpenTelemetry settings if spans
# are exported).
SAMPLE_ONE_IN_100 = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"}
OBSERVE_RUNS = [("tether off", "tether", ["--no-metrics"], None), ("tether metrics", "tether", [], None),
                ("tether metrics+tracing", "tether", [], {}),
                ("tether metrics+tracing 1%", "tether", [], SAMPLE_ONE_IN_100),
                ("baseline", "baseline", [], None), ("hummingbird", "hummingbird", [], None)]
OBSERVING = [label for label, _, _, tracing in OBSERVE_RUNS if label.startswith("tether") and label != "tether off"]
OBSERVE_LABELS = [label for label, *_ in OBSERVE_RUNS]
OBSERVE_COLUMNS = ["<round", "<server", "requests/s", "÷ off", "p50 ms", "p99 ms", "CPU µs/request", "CPU ÷ off",
                   "errors", "peak RSS MiB", "other cores", "spans exported"]


class OTLPSink:
    """An OTLP/HTTP receiver on loopback for the tracing run: answers every export with an empty protobuf response,
    and counts the exports and their bytes (their spans are not decoded)."""

    def __enter__(self):
        import http.server

        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.exports += 1
                sink.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass

        self.exports, self.bytes = 0, 0
        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://{HOST}:{self.server.server_address[1]}"
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        return False


def observe_rows(round_):
    rows = []
    off = round_["tether off"]
    for label in OBSERVE_LABELS:
        r = round_[label]
        tether = label.startswith("tether") and label != "tether off"
        rows.append([round_["round"], label, fmt(r["requests_per_s"], 0),
                     fmt(r["requests_per_s"] / off["requests_per_s"], 3) if tether else "",
                     fmt(r["p50_ms"], 3), fmt(r["p99_ms"], 3), fmt(r["cpu_us_per_request"], 1),
                     fmt(r["cpu_us_per_request"] / off["cpu_us_per_request"], 3) if tether else "",
                     fmt(r["errors"], 0), fmt(r["peak_rss_mib"], 1), fmt(r["other_cores"], 2),
                     fmt(r.get("otlp_exports"), 0) if "otlp_exports" in r else ""])
    return rows


def run_observe(args):
    """Hello with observing off and on, in one interleaved run: the cost of the metrics and the spans."""
    rounds = []
    log("\n".join(table(None, OBSERVE_COLUMNS, [])))
    for index in range(1, args.rounds + 1):
        round_ = {"round": index, "linking": args.linkings[0]}
        for label, kind, arguments, tracing in OBSERVE_RUNS:
            if tracing is not None:
                with OTLPSink() as sink:
                    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, **tracing}
                    round_[label] = workers_one(kind, arguments, args, env=env)
                round_[label].update({"otlp_exports": sink.exports, "otlp_bytes": sink.bytes})
            else:
                round_[label] = workers_one(kind, arguments, args)
        off = round_["tether off"]
        round_["ratios"] = {label: {"requests_per_s": round_[label]["requests_per_s"] / off["requests_per_s"],
                                    "cpu_us_per_request": round_[label]["cpu_us_per_request"] / off["cpu_us_per_request"]}
                            for label in OBSERVING}
        rounds.append(round_)
        for row in observe_rows(round_):
            log(table_row(row))
    figures = ["requests_per_s", "p50_ms", "p99_ms", "cpu_us_per_request", "errors", "peak_rss_mib", "other_cores"]
    medians = {"round": "median", "rounds": len(rounds)}
    medians |= {label: {f: med([r[label].get(f) for r in rounds]) for f in figures} for label in OBSERVE_LABELS}
    for label, _, _, tracing in OBSERVE_RUNS:
        if tracing is not None:
            medians[label]["otlp_exports"] = med([r[label]["otlp_exports"] for r in rounds])
    medians["ratios"] = {label: {f: med([r["ratios"][label][f] for r in rounds]) for f in ("requests_per_s", "cpu_us_per_request")}
                         for label in OBSERVING}
    log(table_row(["-"] * len(OBSERVE_COLUMNS)))
    for row in observe_rows(medians | {"tether off": medians["tether off"]}):
        log(table_row(row))
    targets = {}
    for label in OBSERVING:
        kept = medians["ratios"][label]["requests_per_s"]
        targets[f"{label} requests/s ÷ off >= 0.97"] = kept >= 0.97
        log(f"  {label} keeps {kept:.3f} of hello's throughput without observing (target ≥ 0.97: "
            f"{'met' if kept >= 0.97 else 'missed'}); CPU per request ×{medians['ratios'][label]['cpu_us_per_request']:.3f}")
    return {"seconds": args.seconds, "wrk": "wrk -t1 -c64 --latency, after a discarded 2 s warm-up",
            "note": "tether-demo --no-metrics (NOOP swift-metrics, no tracer), then with its Prometheus metrics, then "
                    "also with OTEL_EXPORTER_OTLP_ENDPOINT set: a span per request, exported by swift-otel's batch "
                    "processor (a queue of 2048, batches of 512 every 5 s or when full) to a receiver in this "
                    "driver, every trace sampled or one in a hundred (parentbased_traceidratio 0.01). Request IDs "
                    "are on in all of them.",
            "linking": args.linkings[0], "runs": OBSERVE_LABELS, "rounds": rounds, "medians": medians,
            "targets": targets}


# proxycancel: how the client reaches Tether, in the order each round runs them: (label, proxy or None, upstream).
PROXYCANCEL_ROUTES = [("direct", None, "tcp"), ("nginx tcp", "nginx", "tcp"), ("nginx unix", "nginx", "unix"),
                      ("haproxy tcp", "haproxy", "tcp")]


def reasons_delta(before, after):
    result = {}
    for reason, count in (after.get("reasons") or {}).items():
        if count != (before.get("reasons") or {}).get(reason, 0):
            result[reason] = count - (before.get("reasons") or {}).get(reason, 0)
    return result


def add_counts(total, more):
    for key, value in more.items():
        total[key] = total.get(key, 0) + value
    return total


def latency_summary(samples):
    samples = sorted(samples)
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    return {"count": len(samples), "p50_ms": p(0.5), "p90_ms": p(0.9), "p99_ms": p(0.99), "max_ms": samples[-1],
            "mean_ms": statistics.mean(samples)}


def run_proxycancel(args):
    linking = args.linkings[0]
    samples = {(label, how): [] for label, _, _ in PROXYCANCEL_ROUTES for how in probe.HOWS}
    counts = {key: {"cancelled": 0, "completed": 0, "reasons": {}} for key in samples}
    others_cores = {key: [] for key in samples}  # the other processes' cores during each block
    rounds, notes = [], {}
    for index in range(1, args.rounds + 1):
        socket_dir = tempfile.mkdtemp(prefix="tether-uds-", dir="/tmp")
        socket_path = os.path.join(socket_dir, "tether.sock")
        round_ = {"round": index, "linking": linking}
        try:
            with Server("tether", linking) as tcp, \
                    Server("tether", linking, uds=socket_path, arguments=["--forwarded-allow-ips", "unix"]) as unix, \
                    Proxy("nginx", tcp.port, socket_path) as nginx, \
                    Proxy("haproxy", tcp.port, socket_path) as haproxy:
                proxies = {"nginx": nginx, "haproxy": haproxy}

                def ours():
                    return [p for x in (tcp, unix, nginx, haproxy) for p in [x.pid] + live_children(x.pid)]

                for label, proxy, upstream in PROXYCANCEL_ROUTES:
                    tether = unix if upstream == "unix" else tcp
                    target = tether.address if proxy is None else f"tcp:{HOST}:{proxies[proxy].front(upstream)}"
                    for how in probe.HOWS:
                        before = probe.stats(tether.address)
                        with OthersWatch(ours) as others:
                            result = probe.latency(target, args.proxycancel_count, how, tether.address)
                        after = probe.stats(tether.address)
                        others_cores[(label, how)].append(others.result["cores"])
                        samples[(label, how)] += result["samples_ms"]
                        c = counts[(label, how)]
                        c["cancelled"] += after["cancelled"] - before["cancelled"]
                        c["completed"] += after["completed"] - before["completed"]
                        add_counts(c["reasons"], reasons_delta(before, after))
                        round_[f"{label} {how}"] = {k: result[k] for k in ("count", "p50_ms", "p99_ms", "max_ms")} \
                            | {"others": others.result}
                        log(f"  round {index}: {label:<11} {how}: p50 {result['p50_ms']:.3f} ms, p99 "
                            f"{result['p99_ms']:.3f} ms, max {result['max_ms']:.3f} ms; reasons "
                            f"{reasons_delta(before, after)}")
        finally:
            shutil.rmtree(socket_dir, ignore_errors=True)
        for name, part in (("tether tcp", tcp.notes()), ("tether unix", unix.notes()),
                           ("nginx", nginx.summary), ("haproxy", haproxy.summary)):
            notes.setdefault(name, []).append(part)
        rounds.append(round_)
    routes = {}
    for (label, how), values in samples.items():
        c = counts[(label, how)]
        r = latency_summary(values) | c
        r["others_cores"] = statistics.mean(others_cores[(label, how)])
        r["targets"] = {"p99_ms <= 1": r["p99_ms"] <= 1.0}
        expected = args.proxycancel_count * args.rounds
        if c["cancelled"] != expected or c["completed"]:
            r["warning"] = f"{c['cancelled']} of {expected} cancelled, {c['completed']} completed"
            log(f"  WARNING: {label} {how}: {r['warning']}")
        routes[f"{label} {how}"] = r
    return {"count_per_round": args.proxycancel_count, "rounds_run": rounds, "routes": routes,
            "method": "disconnect_probe.py latency: sequential POST /slow/?ms=10000 with 1 KiB, left 20 ms after "
                      "/stats/ (read from Tether directly) shows the handler started; close -> Tether's "
                      "last_cancel_ns. Each round: a fresh Tether on a port and one on a Unix socket, nginx and "
                      "HAProxy with their shipped files in front; every route and way of leaving in turn.",
            "proxies": {"nginx": proxy_version("nginx"), "haproxy": proxy_version("haproxy")},
            "processes": {name: parts for name, parts in notes.items()}}


def proxy_version(name):
    with contextlib.suppress(Exception):
        done = subprocess.run([find_tool(name), "-v"], capture_output=True, text=True, timeout=10)
        return (done.stderr + done.stdout).strip().splitlines()[0]
    return None


# proxywave: nginx needs two connections per client (the client's and its upstream's), and one worker may take most
# of a wave; the shipped file allows for it, and nothing is changed for the wave.
NGINX_WAVE_EDITS = []


def proxywave_one(route, args):
    with Server("tether", args.linkings[0]) as server:
        proxy = Proxy("nginx", server.port, edits=NGINX_WAVE_EDITS) if route == "nginx" else contextlib.nullcontext()
        with proxy:
            target = server.port if route == "direct" else f"tcp:{HOST}:{proxy.front('tcp')}"
            fds_before = open_fds(server.pid)
            before = probe.stats(server.port)
            ours = [server.pid] + ([proxy.pid] + live_children(proxy.pid) if route == "nginx" else [])
            with OthersWatch(lambda: ours) as others:
                result = probe.wave(target, args.proxywave_count, "fin", server.port)
            after = probe.stats(server.port)
            result["others"] = others.result
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and (open_fds(server.pid) or 0) > fds_before + 5:
                time.sleep(0.05)
            result["server_fds_before"], result["server_fds_after"] = fds_before, open_fds(server.pid)
            result["reasons"] = reasons_delta(before, after)
            result["completed"] = after["completed"] - before["completed"]
    result.update(server.notes())
    if route == "nginx":
        result.update(proxy.summary)
    result["targets"] = {"last_cancel_after_first_close_ms <= 100": result["last_cancel_after_first_close_ms"] <= 100}
    if result["cancelled"] != args.proxywave_count:
        result["warning"] = f"{result['cancelled']} of {args.proxywave_count} cancelled"
        log(f"  WARNING: {route}: {result['warning']}")
    log(f"  {route}: {result['count']} clients left at once: {result['cancelled']} cancelled, the last "
        f"{result['last_cancel_after_first_close_ms']:.2f} ms after the first close (closing them all took the client "
        f"{result['closing_ms']:.2f} ms); reasons {result['reasons']}")
    return result


def run_proxywave(args):
    rounds = []
    for index in range(1, args.rounds + 1):
        rounds.append({"round": index, "linking": args.linkings[0]}
                      | {route: proxywave_one(route, args) for route in ("direct", "nginx")})
    medians = {route: {f: statistics.median([r[route][f] for r in rounds])
                       for f in ("last_cancel_after_first_close_ms", "closing_ms", "cancelled")}
               for route in ("direct", "nginx")}
    return {"count": args.proxywave_count, "rounds": rounds, "medians": medians,
            "nginx_edits": [f"{' '.join(a.split())} -> {' '.join(b.split())}" for a, b in NGINX_WAVE_EDITS]}


# reload: in front of tether --workers 2, in the order each round runs them.
RELOAD_ROUTES = ["direct", "nginx"]


def reload_one(route, args):
    seconds, hups = args.reload_seconds, args.reload_hups
    times = [seconds * (i + 1) / (hups + 2) for i in range(hups)]  # spread over the run, none in its last part
    with Server("tether", args.linkings[0], arguments=["--workers", "2"]) as server:
        proxy = Proxy("nginx", server.port) if route == "nginx" else contextlib.nullcontext()
        with proxy:
            port = server.port if route == "direct" else proxy.front("tcp")
            initial = server.wait_workers(time.monotonic() + 10)
            state = {"sent": 0, "reloads": [], "current": initial}

            def on_tick(elapsed):
                pending = [r for r in state["reloads"] if r["replaced_after_s"] is None]
                for r in pending:  # replaced: the supervisor's two workers, none of those before the signal
                    now = set(live_children(server.pid))
                    if len(now) == 2 and not now & set(r["before"]):
                        r["replaced_after_s"] = time.monotonic() - r["sent_at"]
                        r["after"] = sorted(now)
                        state["current"] = sorted(now)
                if state["sent"] < len(times) and elapsed >= times[state["sent"]]:
                    before = live_children(server.pid)
                    state["reloads"].append({"at_s": round(elapsed, 2), "before": before, "after": None,
                                             "replaced_after_s": None, "sent_at": time.monotonic(),
                                             "previous_not_done": bool(pending)})
                    os.kill(server.pid, signal.SIGHUP)
                    state["sent"] += 1

            cpu_before = tree_cpu_seconds(server.pid)
            text, wrk_cpu, wall = run_wrk(f"http://{HOST}:{port}/hello/", seconds, on_tick=on_tick)
            cpu = tree_cpu_seconds(server.pid) - cpu_before
            # a reload still under way when wrk ended: wait for it (bounded), then for the last one
            deadline = time.monotonic() + 40
            while any(r["replaced_after_s"] is None for r in state["reloads"]) and time.monotonic() < deadline:
                on_tick(seconds)
                time.sleep(0.02)
            final = live_children(server.pid)
            status, _, body = http_get(port, "/scope/")
            answered_by = json.loads(body).get("worker") if status == 200 else None
    result = parse_wrk(text)
    for r in state["reloads"]:
        r.pop("sent_at")
    replaced = all(r["replaced_after_s"] is not None for r in state["reloads"])
    result.update({
        "route": route,
        "failed": sum(result["socket_errors"].values()) + result["non_2xx"],
        "cpu_us_per_request": cpu / result["requests"] * 1e6 if result["requests"] else None,
        "wrk_cores": wrk_cpu / wall,
        "reloads": state["reloads"],
        "workers_initial": initial,
        "workers_final": final,
        "every_reload_replaced_both": replaced,
        "pids_changed": len(final) == 2 and not set(final) & set(initial),
        "after_answered_by": answered_by,
    })
    result.update(server.notes())
    if route == "nginx":
        result.update(proxy.summary)
    result["targets"] = {"failed == 0": result["failed"] == 0}
    problems = []
    if result["failed"]:
        problems.append(f"{result['failed']} failed: socket errors {result['socket_errors']}, non-2xx "
                        f"{result['non_2xx']}")
    if not replaced or not result["pids_changed"]:
        problems.append(f"workers not all replaced: {initial} -> {final}; reloads {state['reloads']}")
    if problems:
        result["warning"] = "; ".join(problems)
        log(f"  WARNING: {route}: {result['warning']}")
    log(f"  {route}: {result['requests']} requests ({result['requests_per_s']:.0f}/s), {result['non_2xx']} non-2xx, "
        f"socket errors {result['socket_errors'] or 'none'}; SIGHUP at "
        f"{', '.join(str(r['at_s']) for r in state['reloads'])} s, both workers replaced after "
        f"{', '.join(fmt(r['replaced_after_s'], 2) for r in state['reloads'])} s; workers {initial} -> {final}")
    return result


def run_reload(args):
    rounds = []
    for index in range(1, args.rounds + 1):
        rounds.append({"round": index, "linking": args.linkings[0]}
                      | {route: reload_one(route, args) for route in RELOAD_ROUTES})
    return {"seconds": args.reload_seconds, "hups": args.reload_hups,
            "wrk": f"wrk -t1 -c64 -d{args.reload_seconds}s --latency on GET /hello/",
            "server": "tether-demo --workers 2 (a supervisor, two workers on SO_REUSEPORT sockets it keeps open)",
            "rounds": rounds,
            "targets": {"failed == 0": all(r[route]["failed"] == 0 for r in rounds for route in RELOAD_ROUTES)}}


def deploy_report(results):
    out = []
    w = results.get("workers")
    if w and "rounds" in w:
        out += table(f"workers: GET /hello/, {w['wrk']}, -d{w['seconds']}s, one server at a time; CPU and memory summed "
                     f"over the server's processes; 2 workers ÷ 1 (target ≥ 1.6)", WORKERS_COLUMNS,
                     [row for r in w["rounds"] + [w["medians"]] for row in workers_rows(r)])
        out.append("")
        out.append(f"2 workers ÷ 1 worker per round: {', '.join(fmt(r['ratio_2_to_1'], 3) for r in w['rounds'])}; "
                   f"the CPU left to the server (the cores less wrk's, others' and steal) allows "
                   f"{', '.join(fmt(r['cpu_ceiling_ratio'], 2) for r in w['rounds'])}")
        for r in w["rounds"]:
            for label in ("tether ×1", "tether ×2"):
                others = r[label].get("other_processes")
                if others:
                    out.append(f"- round {r['round']}, {label}: the other processes' cores: "
                               + ", ".join(f"{name} {cores:.2f}" for name, cores in others))
    c = results.get("proxycancel")
    if c and "routes" in c:
        rows = []
        for key, r in c["routes"].items():
            rows.append([key, r["count"], f"{r['p50_ms']:.3f}", f"{r['p90_ms']:.3f}", f"{r['p99_ms']:.3f}",
                         f"{r['max_ms']:.3f}", f"{r['cancelled']} / {r['completed']}", r["reasons"],
                         fmt(r.get("others_cores"), 2), "yes" if r["p99_ms"] <= 1.0 else "no"])
        out += table("proxycancel: close -> cancel, sequential POST /slow/ with 1 KiB, left 20 ms after the handler "
                     "started, directly and through the shipped proxies (all rounds together)",
                     ["<route and way of leaving", "samples", "p50 ms", "p90 ms", "p99 ms", "max ms",
                      "<cancelled / completed", "<reasons", "others' cores", "<p99 ≤ 1 ms"], rows)
    v = results.get("proxywave")
    if v and "rounds" in v:
        rows = []
        for r in v["rounds"]:
            for route in ("direct", "nginx"):
                x = r[route]
                rows.append([r["round"], route, x["count"], x["cancelled"], f"{x['last_cancel_after_first_close_ms']:.2f}",
                             f"{x['closing_ms']:.2f}", x["reasons"], f"{x['server_fds_before']} / {x['server_fds_after']}",
                             fmt(x.get("others", {}).get("cores"), 2),
                             "yes" if x["last_cancel_after_first_close_ms"] <= 100 else "no"])
        out += table("proxywave: clients on GET /slow/?ms=60000, all closed at once (nginx: "
                     + "; ".join(v["nginx_edits"]) + ")",
                     ["<round", "<route", "clients", "cancelled", "first close -> last cancel ms", "closing took ms",
                      "<reasons", "<server fds before / after", "others' cores", "<≤ 100 ms"], rows)
    r = results.get("reload")
    if r and "rounds" in r:
        rows = []
        for x in r["rounds"]:
            for route in RELOAD_ROUTES:
                y = x[route]
                e = y["socket_errors"] or {}
                rows.append([x["round"], route, y["requests"], f"{y['requests_per_s']:.0f}", y["non_2xx"],
                             " / ".join(str(e.get(k, 0)) for k in ("connect", "read", "write", "timeout")),
                             f"{y['p99_ms']:.2f}",
                             ", ".join(fmt(h["replaced_after_s"], 2) for h in y["reloads"]),
                             "yes" if y["pids_changed"] else "no",
                             ", ".join(f"{k} {n}" for k, n in sorted(y.get("proxy_statuses", {}).items())) or "-",
                             "yes" if y["failed"] == 0 else "no"])
        out += table(f"reload: {r['wrk']} on {r['server']}, SIGHUP {r['hups']} times during the run",
                     ["<round", "<route", "requests", "requests/s", "non-2xx", "<socket errors connect / read / "
                      "write / timeout", "p99 ms", "<both workers replaced after s", "<pids changed",
                      "<nginx's statuses", "<zero failed"], rows)
    return out


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
    uncommitted = None  # tracked files that differ from the commit: the servers were built from the work tree
    with contextlib.suppress(Exception):
        uncommitted = [line[3:] for line in subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                       capture_output=True, text=True, timeout=10).stdout.splitlines() if line.strip()]
    wrk_version = None
    with contextlib.suppress(Exception):
        wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
    h2load_version = None
    with contextlib.suppress(Exception):
        h2load_version = subprocess.run(["h2load", "--version"], capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory,
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "swift": swift,
        "wrk": wrk_version,
        "h2load": h2load_version,
        "commit": commit,
        "uncommitted_changes": uncommitted,
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def med(values):
    """The median of the values that are not None, or None."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


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
    out.append(f"- {m['swift']}; {m['wrk']}; {m.get('h2load')}; commit {m['commit']}"
               + (f" with {len(m['uncommitted_changes'])} files changed in the work tree"
                  if m.get("uncommitted_changes") else ""))
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
    out += h2_report(results)
    out += ws_report(results)
    out += deploy_report(results)
    problems = []
    for name in SECTIONS:
        section = results.get(name)
        if not isinstance(section, dict):
            continue
        if "error" in section:
            problems.append(f"{name}: ERROR {section['error']}")
        for label, part in labelled_parts(name, section):
            for key in ("warning", "note", "server_stop", "proxy_stop"):
                if key in part:
                    problems.append(f"{label}: {part[key]}")
            if "server_output" in part:
                problems.append(f"{label}: server said: " + " | ".join(part["server_output"][:3]))
            if "proxy_log" in part:
                problems.append(f"{label}: {part['proxy']} logged {part['proxy_log_lines']} lines: "
                                + " | ".join(part["proxy_log"][:3]))
    if problems:
        out += ["", "### notes", ""] + [f"- {p}" for p in problems]
    return "\n".join(out)


def h2_report(results):
    out = []
    h = results.get("h2hello")
    if h and "rounds" in h:
        out += table(f"h2hello: GET /hello/, {h['h2load']}, {h['linking']} linking; Tether ÷ Hummingbird of the same "
                     f"protocol, HTTP/1.1 ÷ the baseline, in the same round", H2HELLO_COLUMNS,
                     [row for r in h["rounds"] + [h["medians"]] for row in h2hello_rows(r)])
    c = results.get("h2cancel")
    if c and "p50_ms" in c.get("tether", {}):
        t, peer = c["tether"], c.get("hummingbird-h2", {})
        rows = [["tether", t["count"], t["connections"], f"{t['p50_ms']:.3f}", f"{t['p99_ms']:.3f}", f"{t['max_ms']:.3f}",
                 f"{t['mean_ms']:.3f}", f"{t['cancelled']} / {t['completed']}", t.get("server_reasons"),
                 "yes" if all(t["targets"].values()) else "no"]]
        if peer.get("cancelled_on_reset"):
            rows.append(["hummingbird-h2", peer["count"], peer["connections"], f"{peer['p50_ms']:.3f}", f"{peer['p99_ms']:.3f}",
                         f"{peer['max_ms']:.3f}", f"{peer['mean_ms']:.3f}", f"{peer['cancelled']} / {peer['completed']}", "-", "-"])
        elif peer:
            st = peer.get("server_stats", {})
            rows.append(["hummingbird-h2", "-", "-", "not cancelled", "", "", "",
                         f"{st.get('cancelled')} / {st.get('completed')} (started {st.get('started')})", "-", "-"])
        out += table("h2cancel: RST_STREAM -> handler cancelled, GET /slow/?ms=60000 over h2c one stream at a time",
                     ["<server", "streams", "connections", "p50 ms", "p99 ms", "max ms", "mean ms",
                      "<cancelled / completed", "<reasons", "<p50 ≤ 0.1 ms and p99 ≤ 1 ms"], rows)
    w = results.get("h2wave")
    if w and "cancelled" in w:
        out += table("h2wave: streams on GET /slow/?ms=60000 over h2c, all reset at once (one send per connection)",
                     ["streams", "connections", "cancelled", "first RST -> last cancel ms (server clock)",
                      "first RST -> seen in /stats/ ms", "<≤ 50 ms", "<reasons", "<server fds before / after"],
                     [[w["count"], w["connections"], w["cancelled"], f"{w['last_cancel_after_first_rst_ms']:.2f}",
                       f"{w['polled_after_first_rst_ms']:.2f}", "yes" if all(w["targets"].values()) else "no",
                       w.get("server_reasons"), f"{w['server_fds_before']} / {w['server_fds_after']}"]])
    r = results.get("rapidreset")
    if r and any("attacks" in r.get(kind, {}) for kind in SECTION_SERVERS["rapidreset"]):
        rows = []
        for kind in SECTION_SERVERS["rapidreset"]:
            x = r.get(kind, {})
            if "attacks" not in x:
                continue
            d, b, g = x["hello_during"], x["hello_before"], x["goaway_check"]
            hello = lambda part, name: (f"{part[name]['answered']} ok, {part[name]['failed']} failed, "
                                        f"{fmt(part[name]['p50_ms'], 2)} / {fmt(part[name]['p99_ms'], 2)} / "
                                        f"{fmt(part[name]['max_ms'], 1)}") if name in part else "-"
            rows.append([kind, f"{len(x['attacks'])} × {x['attacks'][0]['pairs_sent']}", f"{x['attack_seconds']:.1f}",
                         x["connections"], ", ".join(f"{k} {v}" for k, v in x["goaways"].items()) or "0",
                         x["closed_without_goaway"],
                         f"{x['server_started']} / {x['server_cancelled']} / {x['handlers_still_running']}",
                         f"{x['rss_before_mib']:.1f} / " + " / ".join(f"{v:.1f}" for v in x["rss_after_each_mib"]),
                         f"{x['rss_growth_mib']:.1f}", fmt(x["rss_growth_per_repeat_mib"], 1),
                         hello(b, "h2c"), hello(d, "h2c"), hello(d, "h1"), fmt(d.get("longest_gap_ms"), 1),
                         ("closes" if g["closed_by_server"] else "left open") if g["goaway_received"] else "no GOAWAY",
                         f"{x['server_fds_before']} / {x['server_fds_after']}"])
        out += table("rapidreset: HEADERS + RST_STREAM pairs on GET /slow/?ms=60000 over h2c, the same attack repeated, "
                     "while GET /hello/ is timed; hello: answered, failed, p50 / p99 / max ms",
                     ["<server", "<attacks × pairs", "seconds", "connections", "<GOAWAYs", "closed without GOAWAY",
                      "<handlers started / cancelled / still running", "<RSS before / after each attack MiB",
                      "growth MiB (≤ 16)", "growth per repeat MiB", "<hello h2c before", "<hello h2c during",
                      "<hello h1 during", "longest hello gap ms", "<after GOAWAY, ignored", "<server fds before / after"],
                     rows)
    return out


# ---------------------------------------------------------------- main


def binaries_needed(only, linkings):
    """(linking, server) of each binary that the chosen measurements start, in build order."""
    wanted = {(linking, kind) for name in only for linking in (linkings if name == "hello" else linkings[:1])
              for kind in SECTION_SERVERS[name] + SECTION_TOOLS.get(name, [])}
    return [(linking, kind) for linking in linkings for kind in PRODUCTS if (linking, kind) in wanted]


def build(needed):
    """One `swift build` at a time, in the Benchmarks package, for each binary needed; and the allocation counter."""
    for linking in sorted({linking for linking, _ in needed}):
        os.makedirs(build_folder(linking), exist_ok=True)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", os.path.join(build_folder(linking), "malloc_count.so"),
                        MALLOC_COUNT_SOURCE], check=True)
    for linking in sorted({linking for linking, _ in needed}):
        # SwiftPM keeps its build plan (release.yaml) while the Benchmarks package's own files are unchanged, and then
        # misses a source file added to Tether (the path dependency): "cannot find 'X' in scope". Planning anew costs
        # seconds, not a rebuild.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(build_folder(linking), "release.yaml"))
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
    parser.add_argument("--h2-connections", type=int, default=64, help="h2hello: h2load connections (default 64)")
    parser.add_argument("--h2-streams", type=int, default=10,
                        help="h2hello: h2load concurrent streams per HTTP/2 connection (default 10; HTTP/1.1 runs 1)")
    parser.add_argument("--h2-warm-up", type=int, default=2, help="h2hello: h2load --warm-up-time seconds (default 2)")
    parser.add_argument("--h2cancel-count", type=int, default=1000, help="h2cancel: streams, one at a time (default 1000)")
    parser.add_argument("--h2cancel-peer-count", type=int, default=5,
                        help="h2cancel: streams reset on hummingbird-h2, to see whether it cancels (default 5)")
    parser.add_argument("--h2wave-count", type=int, default=1000, help="h2wave: streams (default 1000)")
    parser.add_argument("--h2wave-connections", type=int, default=10, help="h2wave: connections (default 10)")
    parser.add_argument("--rapidreset-pairs", type=int, default=100000,
                        help="rapidreset: HEADERS+RST_STREAM pairs per server (default 100000)")
    parser.add_argument("--rapidreset-connections", type=int, default=4,
                        help="rapidreset: attacking connections at once (default 4)")
    parser.add_argument("--rapidreset-repeats", type=int, default=2,
                        help="rapidreset: times the attack is made on the same server, to tell growth that stays "
                             "from growth that goes on (default 2)")
    parser.add_argument("--ws-connections", type=int, default=64, help="wsecho: WebSocket connections (default 64)")
    parser.add_argument("--ws-message-bytes", type=int, default=24,
                        help="wsecho: bytes of each text message, 1 to 125 (default 24)")
    parser.add_argument("--ws-warm-up", type=int, default=2, help="wsecho: seconds of warm-up, discarded (default 2)")
    parser.add_argument("--ws-load-threads", type=int, default=1, help="wsecho: ws-load's event loop threads (default 1)")
    parser.add_argument("--ws-idle-count", type=int, default=10000,
                        help="wsidle: idle WebSocket connections per server (default 10000)")
    parser.add_argument("--ws-idle-sources", type=int, default=0,
                        help="wsidle: source addresses 127.0.0.1 ... 127.0.0.N (default: one per 20,000 connections)")
    parser.add_argument("--ws-servers", default=",".join(WS_SERVERS),
                        help=f"wsecho, wsidle: comma-separated subset of {','.join(WS_SERVERS)} (default all)")
    parser.add_argument("--wscancel-count", type=int, default=300,
                        help="wscancel: samples of each way of leaving (default 300)")
    parser.add_argument("--proxycancel-count", type=int, default=300,
                        help="proxycancel: sequential requests per route and way of leaving, in each round (default 300)")
    parser.add_argument("--proxywave-count", type=int, default=1000,
                        help="proxywave: clients that leave at once, directly and through nginx (default 1000)")
    parser.add_argument("--reload-seconds", type=int, default=20, help="reload: seconds of each wrk run (default 20)")
    parser.add_argument("--reload-hups", type=int, default=3, help="reload: SIGHUPs during each run (default 3)")
    parser.add_argument("--output", default=None,
                        help="JSON results, relative to the repository root unless absolute (default "
                             "Benchmarks/load/results-ws.json when only WebSocket measurements are chosen, "
                             "Benchmarks/load/results-deploy.json when only deployment ones, Benchmarks/load/results-observe.json "
                             "when only observe, else "
                             "Benchmarks/load/results.json)")
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"--only: unknown {unknown}; choose from {SECTIONS}")
    for name in ("rounds", "seconds", "cancel_count", "wave_count", "upload_mib", "idle_count", "h2_connections",
                 "h2_streams", "h2_warm_up", "h2cancel_count", "h2cancel_peer_count", "h2wave_count",
                 "h2wave_connections", "rapidreset_pairs", "rapidreset_connections", "rapidreset_repeats",
                 "ws_connections", "ws_message_bytes", "ws_load_threads", "ws_idle_count", "wscancel_count",
                 "proxycancel_count", "proxywave_count", "reload_seconds", "reload_hups"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    ws_servers = [s.strip() for s in args.ws_servers.split(",") if s.strip()]
    if not ws_servers or any(s not in WS_SERVERS for s in ws_servers):
        parser.error(f"--ws-servers: choose from {WS_SERVERS}")
    WS_SERVERS[:] = [s for s in WS_SERVERS if s in ws_servers]  # in their usual order
    SECTION_SERVERS["wsidle"] = WS_SERVERS
    if args.ws_message_bytes > 125:
        parser.error("--ws-message-bytes must be at most 125")
    if args.output is None:
        args.output = os.path.join("Benchmarks", "load",
                                   "results-ws.json" if set(only) <= set(WS_SECTIONS) else
                                   "results-deploy.json" if set(only) <= set(DEPLOY_SECTIONS) else
                                   "results-observe.json" if set(only) <= set(OBSERVE_SECTIONS) else "results.json")
    output = args.output if os.path.isabs(args.output) else os.path.join(ROOT, args.output)
    args.linkings = [linking for linking in LINKINGS if args.linking in (linking, "both")]
    needed = binaries_needed(only, args.linkings)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that finally blocks stop the servers
    if not args.skip_build:
        build(needed)
    for linking, kind in needed:
        if not os.access(binary(kind, linking), os.X_OK):
            raise SystemExit(f"{binary(kind, linking)} is missing: build it, or drop --skip-build")
    if any(name in only for name in ("hello", "workers", "reload", "observe")) and not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    if "h2hello" in only:
        for tool, package in (("h2load", "nghttp2-client"), ("openssl", "openssl")):
            if not shutil.which(tool):
                raise SystemExit(f"{tool} is missing: apt-get install -y {package}")
    for name, proxies in (("proxycancel", ["nginx", "haproxy"]), ("proxywave", ["nginx"]), ("reload", ["nginx"])):
        if name in only:
            for proxy in proxies:
                find_tool(proxy)  # exits with how to install it when missing
    if any(name in only for name in H2_SECTIONS):
        try:
            h2_probe()
        except ImportError as error:
            raise SystemExit(f"{error}: the HTTP/2 measurements need the PyPI package h2 (pip install h2)")
    raise_nofile(max(args.wave_count, args.idle_count, args.ws_idle_count if "wsidle" in only else 0,
                     args.proxywave_count if "proxywave" in only else 0) + 1024)

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable] + sys.argv),
        "machine": machine(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "settings": {k: v for k, v in vars(args).items()} | {"only": only},
    }
    runners = {"hello": run_hello, "allocs": run_allocs, "cancel": run_cancel, "wave": run_wave, "upload": run_upload,
               "idle": run_idle, "h2hello": run_h2hello, "h2cancel": run_h2cancel, "h2wave": run_h2wave,
               "rapidreset": run_rapidreset, "wsecho": run_wsecho, "wsidle": run_wsidle, "wscancel": run_wscancel,
               "workers": run_workers, "proxycancel": run_proxycancel, "proxywave": run_proxywave,
               "reload": run_reload, "observe": run_observe}
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
