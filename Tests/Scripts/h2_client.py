#!/usr/bin/env python3
"""An HTTP/2 client that speaks raw frames to a server on 127.0.0.1, for Tests/TetherServerTests/HTTP2OverSocketTests.

h2c by prior knowledge over a plain TCP socket: the connection preface, then frames. Each subcommand is one
scenario; it prints one JSON object on stdout with what it observed:

    {"scenario": ..., "streams": {"1": {"status": 200, "body": "...", "body_bytes": 5, "ended": true,
     "reset": null, "headers": {...}, "trailers": {...}}, ...}, "goaway": {"error_code": 11,
     "last_stream_id": 1} or null, "closed": true, "reset_by_peer": false, "error": null, "log": [...], ...}

Some scenarios pause until the test writes a line "go" on stdin (the test knows, from inside the server, when the
moment has come); while paused the socket is still read. Every wait is bounded by --timeout seconds, every loop by
a count, and every socket operation by a socket timeout.

The script drives the connection with h2's state machine, which checks what the server sends (flow control, frame
order). Where h2 would refuse to go on (after a GOAWAY) or to send what a scenario needs (a CONTINUATION flood, an
HPACK bomb), frames are read and written with hyperframe and hpack directly.
"""

import argparse
import json
import os
import select
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from h2.connection import ConnectionState
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

CANCEL = 0x8
MAX_LOG = 200
MAX_KEPT_BODY = 4096
MAX_ITERATIONS = 1_000_000


class LooseConnection(h2.connection.H2Connection):
    """h2's client connection, able to open more streams than the server allows (to see it refuse them)."""

    ignores_stream_limit = False

    @property
    def open_outbound_streams(self):
        if self.ignores_stream_limit:
            return 0
        return super().open_outbound_streams


class StreamRecord:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.trailers = None
        self.body = bytearray()
        self.body_bytes = 0
        self.ended = False
        self.reset = None

    def done(self):
        return self.ended or self.reset is not None

    def as_json(self):
        return {
            "status": self.status,
            "headers": self.headers,
            "trailers": self.trailers,
            "body": self.body.decode("utf-8", "replace"),
            "body_bytes": self.body_bytes,
            "ended": self.ended,
            "reset": self.reset,
        }


class Client:
    """One HTTP/2 connection to 127.0.0.1:port and everything seen on it."""

    def __init__(self, port, timeout):
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = LooseConnection(config=config)
        self.raw = False  # frames are read with hyperframe once h2's state machine has closed
        self.pending = bytearray()
        self.block = None  # (stream id, fragments) of a header block awaiting END_HEADERS, in raw mode
        self.streams = {}
        self.goaway = None
        self.closed = False
        self.reset_by_peer = False
        self.write_closed = False  # the client sent FIN: it writes nothing more
        self.error = None
        self.log = []
        self.auto_ack = True
        self.data_received = 0
        self.settings_received = False
        self.settings_acked = False
        self.stdin = bytearray()
        self.stdin_open = True

    # Output

    def note(self, text):
        if len(self.log) < MAX_LOG:
            self.log.append(text)

    def record(self, stream_id):
        return self.streams.setdefault(stream_id, StreamRecord())

    def report(self, scenario, **extra):
        result = {
            "scenario": scenario,
            "streams": {str(k): v.as_json() for k, v in sorted(self.streams.items())},
            "goaway": self.goaway,
            "closed": self.closed,
            "reset_by_peer": self.reset_by_peer,
            "error": self.error,
            "log": self.log,
        }
        result.update(extra)
        return result

    # Writing

    def send_bytes(self, data):
        if self.closed or self.write_closed or not data:
            return not self.closed and not self.write_closed
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError) as e:
            # The server has gone; what it sent before (a GOAWAY) may still wait to be read.
            self.note(f"send failed: {e.__class__.__name__}")
            self.reset_by_peer = self.reset_by_peer or isinstance(e, ConnectionResetError)
            self.write_closed = True
            return False
        except socket.timeout:
            self.note("send timed out")
            return False

    def flush(self):
        return self.send_bytes(self.conn.data_to_send())

    def send_frame(self, frame):
        return self.send_bytes(frame.serialize())

    def start(self, settings=None):
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()

    def handshake(self):
        """Waits for the server's SETTINGS (h2 acknowledges them) and for its acknowledgement of ours."""
        return self.pump(lambda: self.settings_received and self.settings_acked)

    def request(self, path, method="GET", body=None, end=True, headers=()):
        stream_id = self.conn.get_next_available_stream_id()
        fields = [
            (":method", method),
            (":scheme", "http"),
            (":authority", f"127.0.0.1:{self.port}"),
            (":path", path),
        ]
        fields.extend(headers)
        self.conn.send_headers(stream_id, fields, end_stream=end and body is None)
        if body is not None:
            self.conn.send_data(stream_id, body, end_stream=end)
        self.record(stream_id)
        self.flush()
        return stream_id

    # Reading

    def receive(self, wait):
        """Reads what the socket has within `wait` seconds; returns whether anything (or the close) came."""
        if self.closed:
            return False
        readable, _, _ = select.select([self.sock], [], [], max(0.0, wait))
        if not readable:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            self.note("connection reset by peer")
            self.reset_by_peer = True
            self.closed = True
            return True
        except socket.timeout:
            return False
        if not data:
            self.note("closed by peer")
            self.closed = True
            return True
        self.feed(data)
        return True

    def feed(self, data):
        self.pending += data
        while len(self.pending) >= 9:
            length = int.from_bytes(self.pending[:3], "big")
            if len(self.pending) < 9 + length:
                break
            frame_bytes = bytes(self.pending[: 9 + length])
            del self.pending[: 9 + length]
            if self.raw:
                self.receive_raw(frame_bytes)
            else:
                self.receive_h2(frame_bytes)

    def receive_h2(self, frame_bytes):
        try:
            events = self.conn.receive_data(frame_bytes)
        except h2.exceptions.H2Error as e:
            self.error = f"h2: {e.__class__.__name__}: {e}"
            self.note(self.error)
            self.raw = True
            self.receive_raw(frame_bytes)
            return
        for event in events:
            self.handle(event)
        self.flush()
        if self.conn.state_machine.state == ConnectionState.CLOSED:
            self.raw = True

    def handle(self, event):
        if isinstance(event, h2.events.ResponseReceived):
            record = self.record(event.stream_id)
            record.headers = dict(event.headers)
            record.status = int(record.headers.get(":status", "0"))
            self.note(f"HEADERS {event.stream_id} {record.status}")
        elif isinstance(event, h2.events.DataReceived):
            self.take_data(event.stream_id, event.data)
            if self.auto_ack and event.flow_controlled_length:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived):
            self.record(event.stream_id).trailers = dict(event.headers)
            self.note(f"TRAILERS {event.stream_id}")
        elif isinstance(event, h2.events.StreamEnded):
            self.record(event.stream_id).ended = True
            self.note(f"END_STREAM {event.stream_id}")
        elif isinstance(event, h2.events.StreamReset):
            self.record(event.stream_id).reset = int(event.error_code)
            self.note(f"RST_STREAM {event.stream_id} {int(event.error_code)}")
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.take_goaway(int(event.error_code), event.last_stream_id, event.additional_data)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_received = True
            self.note("SETTINGS " + " ".join(f"{int(k)}={v.new_value}" for k, v in event.changed_settings.items()))
        elif isinstance(event, h2.events.SettingsAcknowledged):
            self.settings_acked = True
        elif isinstance(event, h2.events.PingReceived):
            self.note("PING")

    def take_data(self, stream_id, data):
        record = self.record(stream_id)
        record.body_bytes += len(data)
        if len(record.body) < MAX_KEPT_BODY:
            record.body += data[: MAX_KEPT_BODY - len(record.body)]
        self.data_received += len(data)

    def take_goaway(self, error_code, last_stream_id, data):
        if self.goaway is None:
            self.goaway = {
                "error_code": error_code,
                "last_stream_id": last_stream_id,
                "debug": (data or b"").decode("utf-8", "replace"),
            }
        self.note(f"GOAWAY {error_code} last={last_stream_id}")

    def receive_raw(self, frame_bytes):
        try:
            frame, length = Frame.parse_frame_header(memoryview(frame_bytes[:9]))
            frame.parse_body(memoryview(frame_bytes[9 : 9 + length]))
        except Exception as e:  # an unknown or malformed frame: note it and go on
            self.note(f"unparsed frame: {e.__class__.__name__}")
            return
        if isinstance(frame, (HeadersFrame, ContinuationFrame)):
            if isinstance(frame, HeadersFrame):
                self.block = (frame.stream_id, bytearray(frame.data), "END_STREAM" in frame.flags)
            elif self.block is not None:
                self.block[1].extend(frame.data)
            if "END_HEADERS" in frame.flags and self.block is not None:
                stream_id, fragments, ends = self.block
                self.block = None
                try:
                    fields = dict(self.conn.decoder.decode(bytes(fragments), raw=False))
                except Exception as e:
                    self.note(f"HPACK: {e.__class__.__name__}")
                    fields = {}
                record = self.record(stream_id)
                if record.status is None and ":status" in fields:
                    record.headers = fields
                    record.status = int(fields[":status"])
                    self.note(f"HEADERS {stream_id} {record.status}")
                else:
                    record.trailers = fields
                    self.note(f"TRAILERS {stream_id}")
                if ends:
                    record.ended = True
                    self.note(f"END_STREAM {stream_id}")
        elif isinstance(frame, DataFrame):
            self.take_data(frame.stream_id, frame.data)
            if "END_STREAM" in frame.flags:
                self.record(frame.stream_id).ended = True
                self.note(f"END_STREAM {frame.stream_id}")
        elif isinstance(frame, RstStreamFrame):
            self.record(frame.stream_id).reset = frame.error_code
            self.note(f"RST_STREAM {frame.stream_id} {frame.error_code}")
        elif isinstance(frame, GoAwayFrame):
            self.take_goaway(frame.error_code, frame.last_stream_id, frame.additional_data)
        elif isinstance(frame, SettingsFrame):
            if "ACK" in frame.flags:
                self.settings_acked = True
            else:
                self.settings_received = True
                self.note("SETTINGS " + " ".join(f"{int(k)}={v}" for k, v in frame.settings.items()))
                self.send_frame(SettingsFrame(0, flags=["ACK"]))
        elif isinstance(frame, PingFrame):
            if "ACK" not in frame.flags:
                self.note("PING")
                self.send_frame(PingFrame(0, opaque_data=frame.opaque_data, flags=["ACK"]))

    def pump(self, until, timeout=None):
        """Reads until `until()` holds or the connection closes; whether `until()` held, within `timeout` seconds."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(MAX_ITERATIONS):
            if until():
                return True
            remaining = deadline - time.monotonic()
            if self.closed or remaining <= 0:
                break
            self.receive(min(remaining, 0.5))
        return until()

    def drain(self):
        """Reads whatever has already arrived, without waiting."""
        for _ in range(1000):
            if not self.receive(0):
                break

    def until_closed(self, timeout=None):
        return self.pump(lambda: self.closed, timeout)

    def wait_for_go(self):
        """Reads the socket until the test writes "go" on stdin; whether it did, within the timeout."""
        deadline = time.monotonic() + self.timeout
        fd = sys.stdin.fileno()
        for _ in range(MAX_ITERATIONS):
            line_end = self.stdin.find(b"\n")
            if line_end >= 0:
                line = bytes(self.stdin[:line_end]).strip()
                del self.stdin[: line_end + 1]
                if line == b"go":
                    return True
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.stdin_open:
                break
            watched = [fd] if self.closed else [fd, self.sock]
            readable, _, _ = select.select(watched, [], [], min(remaining, 0.5))
            if fd in readable:
                chunk = os.read(fd, 1024)
                if chunk:
                    self.stdin += chunk
                else:
                    self.stdin_open = False
            if self.sock in readable:
                self.receive(0)
        self.note("no go from the test")
        return False

    def go_away(self, error_code=0):
        """Sends GOAWAY; from now on frames are read raw (h2's state machine has closed)."""
        self.conn.close_connection(error_code=error_code)
        self.flush()
        self.raw = True

    def leave(self, how):
        """Closes the socket: "fin" with a normal close, "rst" with SO_LINGER 0 (a TCP reset)."""
        if how == "rst":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.closed = True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# HPACK without touching the dynamic table, for frames written by hand: the server's decoder must stay in step
# with h2's encoder, which knows nothing of these.


def hpack_integer(value, prefix_bits, first_byte):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = bytearray([first_byte | limit])
    value -= limit
    while value >= 128:
        out.append((value % 128) + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack_string(text):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hpack_integer(len(data), 7, 0x00) + data


def literal_without_indexing(name, value):
    """A literal header field never added to the dynamic table, its name a literal too (RFC 7541 §6.2.2)."""
    return b"\x00" + hpack_string(name) + hpack_string(value)


def request_block(port, path, method="GET"):
    block = bytearray()
    block += b"\x82" if method == "GET" else literal_without_indexing(":method", method)
    block += b"\x86"  # :scheme http
    block += literal_without_indexing(":authority", f"127.0.0.1:{port}")
    block += literal_without_indexing(":path", path)
    return bytes(block)


def raw_request(client, stream_id, path):
    frame = HeadersFrame(stream_id, data=request_block(client.port, path), flags=["END_HEADERS", "END_STREAM"])
    client.record(stream_id)
    return client.send_frame(frame)


# Scenarios


def scenario_request(client, args):
    """One stream per --path, all at once; with --body a POST body, with --trailer request trailers."""
    client.start()
    bodies = args.body or []
    trailers = [tuple(t.split(":", 1)) for t in (args.trailer or [])]
    ids = []
    for index, path in enumerate(args.path):
        body = bodies[index].encode() if index < len(bodies) else None
        method = args.method or ("POST" if body is not None else "GET")
        stream_id = client.request(path, method=method, body=body, end=not trailers)
        if trailers:
            client.conn.send_headers(stream_id, trailers, end_stream=True)
            client.flush()
        ids.append(stream_id)
    complete = client.pump(lambda: all(client.record(i).done() for i in ids))
    return client.report("request", complete=complete)


def scenario_reset_sibling(client, args):
    """A slow stream and a sibling; on "go" the slow one is reset; then the sibling ends and a third stream runs."""
    client.start()
    slow = client.request(args.slow)
    sibling = client.request(args.sibling)
    go = client.wait_for_go()
    client.conn.reset_stream(slow, CANCEL)
    client.flush()
    client.note(f"sent RST_STREAM {slow}")
    sibling_done = client.pump(lambda: client.record(sibling).done())
    after = None
    if not client.closed and client.goaway is None:
        after = client.request(args.after)
        client.pump(lambda: client.record(after).done())
    return client.report("reset-sibling", go=go, slow=slow, sibling=sibling, after=after, sibling_done=sibling_done)


def scenario_leave(client, args):
    """--streams streams to --path; on "go" the client leaves by GOAWAY, FIN or RST with all of them open.

    After a GOAWAY the socket stays open until a second "go", so that the server cannot mistake the GOAWAY for
    the connection's loss; then the script waits for the server to close it, and reports whether it did.
    """
    client.start()
    ids = [client.request(args.path) for _ in range(args.streams)]
    go = client.wait_for_go()
    if args.how == "goaway":
        client.go_away(0)
        client.note("sent GOAWAY")
        second_go = client.wait_for_go()
        closed_by_server = client.until_closed()
        client.close()
        return client.report("leave", go=go, second_go=second_go, ids=ids, closed_by_server=closed_by_server)
    if args.how == "fin":
        # A FIN even if bytes are still unread (a close would send RST then); the server's close is awaited.
        client.drain()
        client.sock.shutdown(socket.SHUT_WR)
        client.write_closed = True
        client.note("sent FIN")
        closed_by_server = client.until_closed()
        return client.report("leave", go=go, ids=ids, closed_by_server=closed_by_server)
    client.leave(args.how)
    return client.report("leave", go=go, ids=ids)


def scenario_flow(client, args):
    """A large response to a client that leaves its windows (65,535 bytes) unopened until "go".

    Then, with --then read, it opens both windows and reads the response to its end; with --then reset, it resets
    the stream and runs a /hello/ stream on the same connection.
    """
    client.auto_ack = False
    client.start()
    stream_id = client.request(args.path)
    window = 65535
    # The socket is read while waiting: what arrives before "go" is all the window lets the server send.
    go = client.wait_for_go()
    before_go = client.data_received
    after = None
    if args.then == "read":
        client.auto_ack = True
        increment = 2**31 - 1 - window
        client.conn.increment_flow_control_window(increment)
        client.conn.increment_flow_control_window(increment, stream_id=stream_id)
        if before_go:
            client.conn.acknowledge_received_data(before_go, stream_id)
        client.flush()
        client.pump(lambda: client.record(stream_id).done())
    else:
        client.conn.reset_stream(stream_id, CANCEL)
        # What the reset stream received still counts against the connection's window: give it back.
        client.auto_ack = True
        client.conn.increment_flow_control_window(max(before_go, 1))
        client.flush()
        client.note(f"sent RST_STREAM {stream_id}")
        after = client.request("/hello/")
        client.pump(lambda: client.record(after).done())
    return client.report("flow", go=go, received_before_go=before_go, after=after)


def scenario_rapid_reset(client, args):
    """--count pairs of HEADERS and RST_STREAM(CANCEL), in batches, until the server answers with GOAWAY."""
    client.start()
    client.handshake()
    sent = 0
    batches = 0
    while sent < args.count and client.goaway is None and not client.closed and not client.write_closed:
        for _ in range(min(args.batch, args.count - sent)):
            stream_id = client.conn.get_next_available_stream_id()
            client.conn.send_headers(
                stream_id,
                [
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":authority", f"127.0.0.1:{client.port}"),
                    (":path", args.path),
                ],
                end_stream=True,
            )
            client.conn.reset_stream(stream_id, CANCEL)
            sent += 1
        client.flush()
        batches += 1
        client.drain()
    client.until_closed()
    report = client.report("rapid-reset", sent_pairs=sent, batches=batches)
    # Thousands of reset streams: their count, not their records.
    report["stream_records"] = len(report.pop("streams"))
    report["streams"] = {}
    return report


def scenario_continuation(client, args):
    """HEADERS without END_HEADERS, then --count CONTINUATION frames, none of them ending the block."""
    client.start()
    client.handshake()
    client.raw = True
    client.record(1)
    first = HeadersFrame(1, data=request_block(client.port, "/hello/"), flags=["END_STREAM"])
    client.send_frame(first)
    sent = 0
    while sent < args.count and client.goaway is None and not client.closed and not client.write_closed:
        frames = bytearray()
        for _ in range(min(10, args.count - sent)):
            frames += ContinuationFrame(1, data=literal_without_indexing(f"x-filler-{sent}", "v" * 32)).serialize()
            sent += 1
        if not client.send_bytes(bytes(frames)):
            break
        client.drain()
    client.until_closed()
    return client.report("continuation", sent_continuations=sent)


def scenario_header_list(client, args):
    """A request whose header list is large: one field of --bytes bytes (--mode size) or an HPACK bomb (--mode
    bomb: one 4,000-byte field put in the dynamic table, then --repeat one-byte references to it). Then, if the
    connection lives, a /hello/ stream on it.
    """
    client.start()
    client.handshake()
    if args.mode == "size":
        first = client.request(args.path, headers=[("x-big", "a" * args.bytes)])
    else:
        client.raw = True
        first = 1
        block = bytearray(request_block(client.port, args.path))
        # Literal with incremental indexing, literal name: the entry becomes dynamic index 62.
        block += b"\x40" + hpack_string("x-bomb") + hpack_string("b" * 4000)
        block += b"\xbe" * args.repeat  # indexed field 62
        client.record(first)
        frames = bytearray()
        chunks = [bytes(block[i : i + 16384]) for i in range(0, len(block), 16384)]
        for index, chunk in enumerate(chunks):
            flags = ["END_HEADERS"] if index == len(chunks) - 1 else []
            if index == 0:
                frames += HeadersFrame(first, data=chunk, flags=flags + ["END_STREAM"]).serialize()
            else:
                frames += ContinuationFrame(first, data=chunk, flags=flags).serialize()
        client.send_bytes(bytes(frames))
    client.pump(lambda: client.record(first).done() or client.goaway is not None)
    after = None
    if not client.closed and client.goaway is None:
        if client.raw:
            after = 3
            raw_request(client, after, "/hello/")
        else:
            after = client.request("/hello/")
        client.pump(lambda: client.record(after).done() or client.goaway is not None)
    if client.goaway is not None:
        client.until_closed()
    return client.report("header-list", first=first, after=after)


def scenario_concurrent(client, args):
    """--count streams at once on a connection whose SETTINGS are acknowledged both ways, past the server's
    SETTINGS_MAX_CONCURRENT_STREAMS; the client waits for the refusal, then for "go", then for the others to end.
    """
    client.start()
    handshake = client.handshake()
    advertised = client.conn.remote_settings.max_concurrent_streams
    client.conn.ignores_stream_limit = True
    ids = [client.request(args.path) for _ in range(args.count)]
    refused = client.pump(lambda: any(client.record(i).reset is not None for i in ids))
    go = client.wait_for_go()
    client.pump(lambda: all(client.record(i).done() for i in ids))
    return client.report(
        "concurrent", handshake=handshake, advertised_max_concurrent_streams=advertised, ids=ids, refused=refused,
        go=go,
    )


def scenario_idle(client, args):
    """A connection that opens no stream (or, with --path, one that completes first), until the server closes it."""
    client.start()
    client.handshake()
    if args.path:
        stream_id = client.request(args.path)
        client.pump(lambda: client.record(stream_id).done())
    closed = client.until_closed()
    return client.report("idle", closed_within_timeout=closed)


SCENARIOS = {
    "request": scenario_request,
    "reset-sibling": scenario_reset_sibling,
    "leave": scenario_leave,
    "flow": scenario_flow,
    "rapid-reset": scenario_rapid_reset,
    "continuation": scenario_continuation,
    "header-list": scenario_header_list,
    "concurrent": scenario_concurrent,
    "idle": scenario_idle,
}


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=10.0, help="bound of every wait, in seconds")
    parser.add_argument("--path", action="append", help="request path (request: one stream each)")
    parser.add_argument("--method")
    parser.add_argument("--body", action="append", help="request body, one per --path (request)")
    parser.add_argument("--trailer", action="append", help="name:value request trailer (request)")
    parser.add_argument("--slow", default="/slow/")
    parser.add_argument("--sibling", default="/hello/")
    parser.add_argument("--after", default="/hello/")
    parser.add_argument("--streams", type=int, default=3)
    parser.add_argument("--how", choices=["goaway", "fin", "rst"], default="goaway")
    parser.add_argument("--then", choices=["read", "reset"], default="read")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--mode", choices=["size", "bomb"], default="size")
    parser.add_argument("--bytes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1000)
    args = parser.parse_args(argv)
    single = {"leave", "flow", "rapid-reset", "header-list", "concurrent"}
    if args.scenario in single:
        args.path = (args.path or ["/slow/" if args.scenario == "leave" else "/hello/"])[0]
    elif args.scenario == "idle":
        args.path = (args.path or [None])[0]
    elif not args.path:
        args.path = ["/hello/"]
    return args


def main(argv):
    args = parse(argv)
    try:
        client = Client(args.port, args.timeout)
    except OSError as e:
        print(json.dumps({"scenario": args.scenario, "error": f"connect: {e}", "streams": {}, "closed": True}))
        return 0
    try:
        report = SCENARIOS[args.scenario](client, args)
    except Exception as e:  # report what was seen so far, with the failure
        report = client.report(args.scenario)
        report["error"] = f"{e.__class__.__name__}: {e}"
    finally:
        client.close()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
