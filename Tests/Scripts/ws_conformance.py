#!/usr/bin/env python3
"""RFC 6455 (WebSocket) and RFC 7692 (permessage-deflate) conformance cases for an echo endpoint.

The endpoint at --url must accept a handshake without a subprotocol and send every text or binary message back
as a message of the same type with the same payload. Each case opens its own connection, sends frames (most of
them crafted byte by byte over a plain socket, so that no client library fixes bad input up), and checks what
the server sends back: an echo byte for byte, a pong with the ping's payload, or a close frame with exactly the
expected code followed by the server closing the TCP connection. Every wait is bounded by --timeout (2 s).

The cases follow the categories of the Autobahn|Testsuite (0 is this script's own: the opening handshake):
0 handshake, 1 framing, 2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close,
9 limits, 12/13 permessage-deflate. docs/WebSocketConformance.md describes every case in plain words.

Prints one line per case, `PASS <id> <description>` or `FAIL <id> <description>: <reason>`, then a summary; with
--json, one JSON object instead. Exits 0 only if every selected case passed. A few RFC requirements can only be
met at some cost (failing on bad UTF-8 before a message is complete, for one); a server that meets them later
than it could passes with a `lenient:` note, which --strict turns into a failure.

`--reference` runs the cases against Python websockets' own server (an echo handler, max_size=--max-message,
compression="deflate") started in this process: a second opinion on what the cases expect. websockets 17 fails
0.6 (no Sec-WebSocket-Version header on its 400) and 7.1.5 (1002 for a close frame between fragments), passes
6.4.x only as lenient (it checks UTF-8 once a message is complete), and differs elsewhere only where RFC 6455
allows it; REFERENCE_DEVIATIONS below lists every case, and --reference shows them in the JSON output.
"""
import argparse
import base64
import hashlib
import json
import logging
import os
import random
import select
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib

try:
    import websockets
    from websockets.frames import Frame, Opcode
except ImportError as error:  # said on stdout, which the Swift test shows
    print(f"FAIL setup: this script needs the websockets package (pip install websockets): {error}")
    sys.exit(2)

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the pure Python fallback websockets ships
    from websockets.utils import apply_mask

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODE_NAMES = {CONT: "continuation", TEXT: "text", BINARY: "binary", CLOSE: "close", PING: "ping", PONG: "pong"}
# Codes a close frame may carry (RFC 6455 §7.4, and 1012-1014, registered with IANA since).
SENDABLE_CODES = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))

# How Python websockets' server (17.x) handles the cases differently; shown with --reference.
REFERENCE_DEVIATIONS = {
    "6.4.1": "checks UTF-8 when a text message is complete, not as its fragments arrive (lenient)",
    "6.4.2": "checks UTF-8 when a text message is complete, not as its fragments arrive (lenient)",
    "6.4.3": "checks UTF-8 when a text message is complete, not as its fragments arrive (lenient)",
    "6.4.4": "checks UTF-8 when a text message is complete, not as its fragments arrive (lenient)",
    "0.6": "refuses Sec-WebSocket-Version: 8 with 400 but without the Sec-WebSocket-Version header RFC 6455 "
           "§4.4 requires (fails)",
    "0.10": "answers an HTTP/1.0 handshake 505",
    "3.3": "fails the connection before its application echoes the valid message sent with the bad frame",
    "3.4": "fails the connection before its application echoes the valid message sent with the bad frame",
    "4.1.3": "fails the connection before its application echoes the valid message sent with the bad frame",
    "4.1.4": "fails the connection before its application echoes the valid message sent with the bad frame",
    "4.1.5": "fails the connection before its application echoes the valid message sent with the bad frame",
    "4.2.3": "fails the connection before its application echoes the valid message sent with the bad frame",
    "4.2.4": "fails the connection before its application echoes the valid message sent with the bad frame",
    "4.2.5": "fails the connection before its application echoes the valid message sent with the bad frame",
    "5.15": "fails the connection before its application echoes the valid message sent with the bad frame",
    "7.1.5": "answers a close frame sent between two fragments of a message with 1002, not 1000 (fails)",
    "13.5": "answers an offer of server_max_window_bits=15 with server_max_window_bits=12 (allowed)",
}


class Fail(Exception):
    """The case failed; the message says why."""


# ---------------------------------------------------------------------------------------------------------------
# Frames


def frame(opcode, payload=b"", fin=True, rsv1=False, rsv2=False, rsv3=False, mask=True, length=None):
    """One frame's bytes, good or bad: any 4-bit opcode, any reserved bits, masked or not, and a length field
    that may announce more (or less) than `payload`. websockets' Frame.serialize() writes the same bytes for a
    well-formed frame (checked at start-up), but refuses bad ones, so the cases use this instead."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0) | opcode
    size = len(payload) if length is None else length
    second = 0x80 if mask else 0
    if size < 126:
        head = bytes([first, second | size])
    elif size < 65536:
        head = struct.pack("!BBH", first, second | 126, size)
    else:
        head = struct.pack("!BBQ", first, second | 127, size)
    if not mask:
        return head + bytes(payload)
    key = os.urandom(4)
    return head + key + apply_mask(bytes(payload), key)


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def check_encoder():
    """The encoder writes what websockets writes for well-formed frames."""
    for opcode, payload in [(Opcode.TEXT, b"hi"), (Opcode.BINARY, b"\xfe" * 126), (Opcode.PING, b""),
                            (Opcode.BINARY, b"\x01" * 65536)]:
        ours = frame(opcode, payload, mask=False)
        theirs = Frame(opcode, payload).serialize(mask=False, extensions=[])
        assert ours == theirs, f"frame encoder disagrees with websockets for {opcode.name}"


def deflate_payload(data, window_bits=15, compressor=None):
    """`data` compressed as one permessage-deflate message (RFC 7692 §7.2.1): raw deflate, flushed with
    Z_SYNC_FLUSH, without the final 00 00 ff ff. A fresh compressor unless one is given (context takeover)."""
    if compressor is None:
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(9, window_bits))
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


# ---------------------------------------------------------------------------------------------------------------
# Payloads


def text_of(size):
    """`size` bytes of ASCII text whose every position differs from its neighbours'."""
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    return (alphabet * (size // len(alphabet) + 1))[:size]


def binary_of(size):
    """`size` bytes covering every byte value, with a period (251) that is not a power of two."""
    block = bytes((i * 7 + 3) % 256 for i in range(251))
    return (block * (size // 251 + 1))[:size]


def compressible_text(size):
    lines = b"".join(b"To be, or not to be, that is the question: %06d\n" % i for i in range(size // 40 + 2))
    return lines[:size]


def wordy_text(size, seed=1):
    words = "the of and to in is was that for on with as by at from his her which or had are this be it an".split()
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words).encode() + b" "
    return bytes(out[:size])


def random_bytes(size, seed=2):
    return random.Random(seed).randbytes(size)


def utf8_text_of(size):
    """`size` bytes of valid UTF-8 mixing 1- to 4-byte characters, padded with ASCII."""
    unit = "aµκό€𝄞😀".encode()
    body = unit * (size // len(unit))
    return body + b"z" * (size - len(body))


# ---------------------------------------------------------------------------------------------------------------
# A raw connection


class Raw:
    """A WebSocket connection over a plain socket: a hand-written upgrade, frames sent as given, and frames read
    and checked strictly (a server frame that breaks RFC 6455 fails the case)."""

    def __init__(self, ctx, offer_deflate=False, extra_headers=(), preamble=b""):
        self.ctx = ctx
        self.buffer = bytearray()
        self.eof = False
        self.fragments = None  # (opcode, [payloads], compressed) of a message in progress
        self.close_sent = False
        self.close_received = False
        self.deflate = None  # the server's permessage-deflate response parameters, once negotiated
        self.inflater = None
        self.sock = socket.create_connection((ctx.host, ctx.port), timeout=ctx.step)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        headers = [f"Host: {ctx.host}:{ctx.port}", "Upgrade: websocket", "Connection: Upgrade",
                   f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if offer_deflate:
            headers.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        headers += list(extra_headers)
        request = f"GET {ctx.path} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
        self.sock.sendall(request.encode() + preamble)
        status, fields, rest = read_response_head(self.sock, ctx.step)
        if status != 101:
            raise Fail(f"handshake answered {status}, not 101")
        self.buffer += rest
        self.headers = fields
        check_switching_headers(fields, key)
        extensions = fields.get("sec-websocket-extensions")
        if extensions:
            if not offer_deflate:
                raise Fail(f"server accepted an extension it was not offered: {extensions}")
            self.deflate = parse_deflate_response(extensions)
            self.inflater = zlib.decompressobj(-15)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    # Sending

    def window_bits(self):
        bits = (self.deflate or {}).get("client_max_window_bits")
        return bits if isinstance(bits, int) else 15

    def send(self, data, chop=None):
        """Sends `data` in pieces of `chop` bytes (64 KiB if None), reading whatever the server sent between
        pieces so that neither side blocks; stops quietly once the server has closed or stopped reading."""
        view = memoryview(data)
        step = chop or 65536
        for start in range(0, len(view), step):
            self.drain()
            if self.eof:
                return False
            try:
                self.sock.settimeout(self.ctx.step)
                self.sock.sendall(view[start:start + step])
            except (socket.timeout, OSError):
                return False
        return True

    def drain(self):
        """Moves what the server has sent so far into the buffer, without waiting."""
        while not self.eof and select.select([self.sock], [], [], 0)[0]:
            try:
                chunk = self.sock.recv(1 << 20)
            except (ConnectionResetError, OSError):
                chunk = b""
            if not chunk:
                self.eof = True
            self.buffer += chunk

    def send_close(self, code=None, reason=b""):
        self.close_sent = True
        self.send(frame(CLOSE, b"" if code is None else close_payload(code, reason)))

    # Receiving

    def fill(self, size, deadline):
        """Whether the buffer holds `size` bytes before EOF; raises TimeoutError at `deadline`."""
        while len(self.buffer) < size:
            if self.eof:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
                raise TimeoutError
            try:
                chunk = self.sock.recv(1 << 20)
            except (ConnectionResetError, OSError):
                chunk = b""
            if not chunk:
                self.eof = True
            self.buffer += chunk
        return True

    def next_event(self, timeout=None):
        """The server's next message, ping, pong or close, or ("eof",) or ("timeout",)."""
        deadline = time.monotonic() + (self.ctx.step if timeout is None else timeout)
        try:
            while True:
                event = self.read_frame(deadline)
                if event is not None:
                    return event
        except TimeoutError:
            return ("timeout",)

    def read_frame(self, deadline):
        if self.close_received:
            if not self.fill(1, deadline):
                return ("eof",)
            raise Fail("server sent bytes after its close frame")
        if not self.fill(2, deadline):
            if self.buffer:
                raise Fail("server closed the connection in the middle of a frame")
            return ("eof",)
        first, second = self.buffer[0], self.buffer[1]
        fin, rsv, opcode = first & 0x80, (first >> 4) & 0x7, first & 0xF
        size, head = second & 0x7F, 2
        if second & 0x80:
            raise Fail("server sent a masked frame")
        if size == 126:
            if not self.fill(4, deadline):
                raise Fail("server closed the connection in the middle of a frame")
            (size,), head = struct.unpack("!H", self.buffer[2:4]), 4
            if size < 126:
                raise Fail(f"server encoded a length of {size} in 16 bits (not the minimal encoding)")
        elif size == 127:
            if not self.fill(10, deadline):
                raise Fail("server closed the connection in the middle of a frame")
            (size,), head = struct.unpack("!Q", self.buffer[2:10]), 10
            if size < 65536 or size >> 63:
                raise Fail(f"server encoded a length of {size} in 64 bits (not minimal, or top bit set)")
        if opcode not in OPCODE_NAMES:
            raise Fail(f"server sent a frame with reserved opcode {opcode}")
        if opcode >= 8 and (not fin or size > 125):
            raise Fail(f"server sent a {'fragmented' if not fin else 'too long'} {OPCODE_NAMES[opcode]} frame")
        compressed = False
        if rsv:
            first_data_frame = opcode in (TEXT, BINARY)
            if rsv == 4 and self.deflate is not None and first_data_frame:
                compressed = True
            else:
                raise Fail(f"server set reserved bits {rsv:03b} on a {OPCODE_NAMES[opcode]} frame")
        if not self.fill(head + size, deadline):
            raise Fail("server closed the connection in the middle of a frame")
        payload = bytes(self.buffer[head:head + size])
        del self.buffer[:head + size]

        if opcode == PING:
            return ("ping", payload)
        if opcode == PONG:
            return ("pong", payload)
        if opcode == CLOSE:
            self.close_received = True
            if len(payload) == 1:
                raise Fail("server sent a close frame with a 1-byte payload")
            if not payload:
                return ("close", None, b"")
            (code,) = struct.unpack("!H", payload[:2])
            if code not in SENDABLE_CODES:
                raise Fail(f"server sent close code {code}, which may not be sent")
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise Fail(f"server sent close {code} with a reason that is not UTF-8") from None
            return ("close", code, payload[2:])
        if opcode in (TEXT, BINARY):
            if self.fragments is not None:
                raise Fail("server started a new message inside a fragmented one")
            self.fragments = (opcode, [payload], compressed)
        else:
            if self.fragments is None:
                raise Fail("server sent a continuation frame outside a fragmented message")
            self.fragments[1].append(payload)
        if not fin:
            return None
        opcode, parts, compressed = self.fragments
        self.fragments = None
        data = b"".join(parts)
        if compressed:
            try:
                data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
            except zlib.error as error:
                raise Fail(f"server sent a compressed message that does not inflate: {error}") from None
            if self.inflater.eof or self.deflate.get("server_no_context_takeover"):
                self.inflater = zlib.decompressobj(-15)
        if opcode == TEXT:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                raise Fail("server sent a text message that is not UTF-8") from None
        return ("message", opcode, data)


def read_response_head(sock, timeout):
    """The status, header fields (lowercased names, repeated fields joined by ", ") and the bytes after the
    head of the HTTP response on `sock`."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
            raise Fail(f"no complete HTTP response head within {timeout:g} s")
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, OSError):
            chunk = b""
        if not chunk:
            raise Fail("connection closed before a complete HTTP response head" + (f": {data[:80]!r}" if data else ""))
        data += chunk
        if len(data) > 65536:
            raise Fail("HTTP response head over 64 KiB")
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise Fail(f"malformed status line {lines[0]!r}")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return int(parts[1]), fields, rest


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def check_switching_headers(fields, key):
    if fields.get("upgrade", "").lower() != "websocket":
        raise Fail(f"101 with Upgrade {fields.get('upgrade')!r}, not websocket")
    if "upgrade" not in [token.strip().lower() for token in fields.get("connection", "").split(",")]:
        raise Fail(f"101 with Connection {fields.get('connection')!r}, without upgrade")
    if fields.get("sec-websocket-accept") != accept_for(key):
        raise Fail(f"Sec-WebSocket-Accept {fields.get('sec-websocket-accept')!r}, expected {accept_for(key)!r}")


def parse_deflate_response(value):
    offers = [part.strip() for part in value.split(",")]
    if len(offers) != 1:
        raise Fail(f"server accepted more than one extension: {value}")
    tokens = [token.strip() for token in offers[0].split(";")]
    if tokens[0] != "permessage-deflate":
        raise Fail(f"server accepted an unknown extension: {value}")
    params = {}
    for token in tokens[1:]:
        name, _, argument = token.partition("=")
        name, argument = name.strip(), argument.strip().strip('"')
        if name in params:
            raise Fail(f"permessage-deflate parameter {name} repeated")
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if argument:
                raise Fail(f"{name} with a value")
            params[name] = True
        elif name in ("server_max_window_bits", "client_max_window_bits"):
            if not argument.isdigit() or not 8 <= int(argument) <= 15:
                raise Fail(f"{name}={argument!r} is not 8 to 15")
            params[name] = int(argument)
        else:
            raise Fail(f"unknown permessage-deflate parameter {name}")
    return params


# ---------------------------------------------------------------------------------------------------------------
# Steps: what a raw case sends and expects, in order


class Send:
    """Frames to send (bytes, or functions of the connection for compressed ones): each frame in its own write,
    or back to back in writes of up to 64 KiB (`together`), or back to back in writes of `chop` bytes; `pause`
    seconds after each write of a frame. Between writes, what the server sent is read, so neither side blocks."""

    def __init__(self, *frames, chop=None, pause=0.0, together=False):
        self.frames, self.chop, self.pause, self.together = frames, chop, pause, together


class Echo:
    """The next thing the server sends is a message of this type with this payload."""

    def __init__(self, opcode, payload):
        self.opcode, self.payload = opcode, payload


class Pong:
    def __init__(self, payload):
        self.payload = payload


class Maybe:
    """`step` may be missing (then `note` is recorded, if given); if present it must be exact."""

    def __init__(self, step, note=None):
        self.step, self.note = step, note


class Closed:
    """The server sends a close frame with one of `codes` (or none if `empty_ok`), then closes TCP. We answer
    its close frame (unless we sent ours first) before waiting for the TCP close."""

    def __init__(self, *codes, empty_ok=False):
        self.codes, self.empty_ok = codes, empty_ok


class Finish:
    """We send close 1000; the server answers close 1000 and closes TCP."""


class Wait:
    def __init__(self, seconds):
        self.seconds = seconds


def describe(event, timeout):
    kind = event[0]
    if kind == "timeout":
        return f"nothing within {timeout:g} s"
    if kind == "eof":
        return "the TCP connection closed (no close frame)"
    if kind == "close":
        reason = event[2][:60].decode("utf-8", "replace")
        return f"close {event[1] if event[1] is not None else '(no code)'}" + (f" {reason!r}" if reason else "")
    if kind in ("ping", "pong"):
        return f"a {kind} with {len(event[1])} bytes"
    return f"a {OPCODE_NAMES[event[1]]} message of {len(event[2])} bytes"


def first_difference(a, b):
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return min(len(a), len(b))


def check_message(event, step, timeout):
    name = OPCODE_NAMES[step.opcode]
    if event[0] != "message":
        raise Fail(f"expected the {name} echo ({len(step.payload)} bytes), got {describe(event, timeout)}")
    if event[1] != step.opcode:
        raise Fail(f"expected a {name} echo, got {describe(event, timeout)}")
    if event[2] != step.payload:
        raise Fail(f"{name} echo differs: {len(event[2])} bytes for {len(step.payload)}, first difference at "
                   f"byte {first_difference(event[2], step.payload)}")


def matches(step, event):
    if isinstance(step, Echo):
        return event[0] == "message" and event[1] == step.opcode
    if isinstance(step, Pong):
        return event[0] == "pong"
    return False


def send_step(c, step):
    frames = [f(c) if callable(f) else f for f in step.frames]
    if step.chop or step.together:
        c.send(b"".join(frames), chop=step.chop)
        if step.pause:
            time.sleep(step.pause)
        return
    for data in frames:
        c.send(data)
        if step.pause:
            time.sleep(step.pause)


def run_steps(ctx, c, steps):
    pending = []

    def next_event():
        return pending.pop() if pending else c.next_event()

    for step in steps:
        if isinstance(step, Send):
            send_step(c, step)
        elif isinstance(step, Wait):
            time.sleep(step.seconds)
        elif isinstance(step, Maybe):
            event = next_event()
            if matches(step.step, event):
                expect(ctx, step.step, event)
            else:
                pending.append(event)
                if step.note:
                    ctx.note(step.note)
        elif isinstance(step, Finish):
            if pending:
                raise Fail(f"expected nothing more before our close, got {describe(pending[0], ctx.step)}")
            c.send_close(1000)
            expect_closed(ctx, c, Closed(1000), c.next_event())
        elif isinstance(step, Closed):
            expect_closed(ctx, c, step, next_event())
        else:
            expect(ctx, step, next_event())


def expect(ctx, step, event):
    if isinstance(step, Echo):
        check_message(event, step, ctx.step)
    elif isinstance(step, Pong):
        if event[0] != "pong":
            raise Fail(f"expected a pong with {len(step.payload)} bytes, got {describe(event, ctx.step)}")
        if event[1] != step.payload:
            raise Fail(f"pong payload {event[1][:40]!r} is not the ping's {step.payload[:40]!r}")


def expect_closed(ctx, c, step, event):
    wanted = " or ".join(str(code) for code in step.codes) + (" or an empty close" if step.empty_ok else "")
    if event[0] != "close":
        raise Fail(f"expected close {wanted}, got {describe(event, ctx.step)}")
    code = event[1]
    if code is None and not step.empty_ok or code is not None and code not in step.codes:
        raise Fail(f"expected close {wanted}, got {describe(event, ctx.step)}")
    if not c.close_sent:
        c.send_close(code)
    after = c.next_event()
    if after[0] != "eof":
        raise Fail(f"after its close frame the server did not close TCP: {describe(after, ctx.step)}")


def raw(steps, offer_deflate=False):
    def run(ctx):
        with Raw(ctx, offer_deflate=offer_deflate) as c:
            if offer_deflate and c.deflate is None:
                raise Fail("server declined permessage-deflate")
            run_steps(ctx, c, steps)
    return run


def fails_with(*codes, frames=(), before=(), together=False, chop=None):
    """Send `before` (expecting their echoes first), then `frames`; the server closes with one of `codes`."""
    steps = []
    for opcode, payload in before:
        steps += [Send(frame(opcode, payload)), Echo(opcode, payload)]
    steps += [Send(*frames, together=together, chop=chop), Closed(*codes)]
    return raw(steps)


def echoes(opcode, payload, chop=None):
    return raw([Send(frame(opcode, payload), chop=chop), Echo(opcode, payload), Finish()])


# ---------------------------------------------------------------------------------------------------------------
# The cases

CASES = []


def case(case_id, description, run):
    CASES.append((case_id, description, run))


def id_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


# Whether a valid message sent in the same write as a bad frame is echoed depends on whether the server's
# application sees it before the connection fails; RFC 6455 allows either.
EARLY_ECHO = "no echo of the valid message sent with the bad frame (the connection failed first)"


def category_0():
    def basic(ctx):
        with Raw(ctx) as c:
            for name in ("sec-websocket-protocol", "sec-websocket-extensions"):
                if name in c.headers:
                    raise Fail(f"101 carries {name} although the client offered none")
            run_steps(ctx, c, [Send(frame(TEXT, b"hello")), Echo(TEXT, b"hello"), Finish()])

    def subprotocols(ctx):
        with Raw(ctx, extra_headers=["Sec-WebSocket-Protocol: chat, superchat"]) as c:
            chosen = c.headers.get("sec-websocket-protocol")
            if chosen is not None and chosen not in ("chat", "superchat"):
                raise Fail(f"server chose subprotocol {chosen!r}, which was not offered")
            if chosen is not None:
                ctx.note(f"server chose {chosen!r}")
            run_steps(ctx, c, [Send(frame(TEXT, b"hello")), Echo(TEXT, b"hello"), Finish()])

    def sample_key(ctx):
        # RFC 6455 §1.3's example: this key must be answered with this accept value.
        request = handshake_request(ctx, key="dGhlIHNhbXBsZSBub25jZQ==")
        status, fields = http_exchange(ctx, request)
        if status != 101 or fields.get("sec-websocket-accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=":
            raise Fail(f"got {status} with Sec-WebSocket-Accept {fields.get('sec-websocket-accept')!r}")

    def mixed_case(ctx):
        with Raw(ctx, extra_headers=[]) as c:
            run_steps(ctx, c, [Send(frame(TEXT, b"x")), Echo(TEXT, b"x"), Finish()])
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {ctx.path} HTTP/1.1\r\nhost: {ctx.host}:{ctx.port}\r\nupgrade: WebSocket\r\n"
                   f"connection: keep-alive, Upgrade\r\nsec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n"
                   "\r\n").encode()
        status, fields = http_exchange(ctx, request)
        if status != 101:
            raise Fail(f"'Upgrade: WebSocket' with 'Connection: keep-alive, Upgrade' answered {status}")
        check_switching_headers(fields, key)

    def pipelined(ctx):
        with Raw(ctx, preamble=frame(TEXT, b"sent with the handshake")) as c:
            run_steps(ctx, c, [Echo(TEXT, b"sent with the handshake"), Finish()])

    def refused(request_of, needs_version_header=False, lenient_if_switched=None, highest=499):
        def run(ctx):
            status, fields = http_exchange(ctx, request_of(ctx))
            if status == 101:
                if lenient_if_switched:
                    ctx.lenient(lenient_if_switched)
                    return
                raise Fail("server switched protocols")
            if not 400 <= status <= highest:
                raise Fail(f"answered {status}, not {'a 4xx' if highest == 499 else 'an error status'}")
            ctx.note(f"answered {status}")
            versions = [v.strip() for v in fields.get("sec-websocket-version", "").split(",")]
            if needs_version_header and "13" not in versions:
                raise Fail(f"{status} without Sec-WebSocket-Version: 13")
        return run

    case("0.1", "a valid upgrade is answered 101 with the right Sec-WebSocket-Accept, no extension or "
         "subprotocol, then echoes", basic)
    case("0.2", "offered subprotocols: 101 without Sec-WebSocket-Protocol (or with one that was offered)",
         subprotocols)
    case("0.3", "RFC 6455's sample key dGhlIHNhbXBsZSBub25jZQ== is accepted as s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
         sample_key)
    case("0.4", "header values are case-insensitive and Connection may list several tokens", mixed_case)
    case("0.5", "a frame sent in the same write as the handshake request is echoed", pipelined)
    case("0.6", "Sec-WebSocket-Version: 8 is refused with a 4xx and Sec-WebSocket-Version: 13",
         refused(lambda ctx: handshake_request(ctx, version="8"), needs_version_header=True))
    case("0.7", "a handshake without Sec-WebSocket-Key is refused with a 4xx",
         refused(lambda ctx: handshake_request(ctx, key=None)))
    case("0.8", "a Sec-WebSocket-Key that is not 16 bytes in base64 is refused with a 4xx",
         refused(lambda ctx: handshake_request(ctx, key="dG9vIHNob3J0"),
                 lenient_if_switched="accepted a Sec-WebSocket-Key that does not decode to 16 bytes"))
    case("0.9", "a POST with the upgrade headers is not switched (a 4xx or 5xx)",
         refused(lambda ctx: handshake_request(ctx, method="POST", body=True), highest=599))
    case("0.10", "a handshake over HTTP/1.0 is not switched (a 4xx or 5xx)",
         refused(lambda ctx: handshake_request(ctx, http="HTTP/1.0"), highest=599,
                 lenient_if_switched="switched protocols for an HTTP/1.0 request"))


def handshake_request(ctx, key="", version="13", method="GET", http="HTTP/1.1", body=False):
    if key == "":
        key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"{method} {ctx.path} {http}", f"Host: {ctx.host}:{ctx.port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Version: {version}"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if body:
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_exchange(ctx, request):
    with socket.create_connection((ctx.host, ctx.port), timeout=ctx.step) as sock:
        sock.sendall(request)
        status, fields, _ = read_response_head(sock, ctx.step)
        return status, fields


def category_1():
    sizes = [0, 125, 126, 127, 128, 65535, 65536]
    for index, size in enumerate(sizes, 1):
        case(f"1.1.{index}", f"text message of {size} bytes echoed", echoes(TEXT, text_of(size)))
    case("1.1.8", "text message of 65536 bytes, sent in 997-byte writes, echoed",
         echoes(TEXT, text_of(65536), chop=997))
    for index, size in enumerate(sizes, 1):
        case(f"1.2.{index}", f"binary message of {size} bytes echoed", echoes(BINARY, binary_of(size)))
    case("1.2.8", "binary message of 65536 bytes, sent in 997-byte writes, echoed",
         echoes(BINARY, binary_of(65536), chop=997))
    case("1.3.1", "unmasked text frame: close 1002", fails_with(1002, frames=[frame(TEXT, b"unmasked", mask=False)]))
    case("1.3.2", "unmasked ping: close 1002", fails_with(1002, frames=[frame(PING, b"unmasked", mask=False)]))
    case("1.3.3", "unmasked close frame: close 1002",
         fails_with(1002, frames=[frame(CLOSE, close_payload(1000), mask=False)]))

    sizes = [0, 125, 126, 65535, 65536, 1000000]
    for index, size in enumerate(sizes, 1):
        case(f"1.4.{index}", f"websockets client: text message of {size} bytes (multi-byte UTF-8) echoed",
             client_echo([utf8_text_of(size).decode()], compression=None))
    for index, size in enumerate(sizes, 1):
        case(f"1.5.{index}", f"websockets client: binary message of {size} bytes echoed",
             client_echo([binary_of(size)], compression=None))


def category_2():
    case("2.1", "ping without payload: pong without payload",
         raw([Send(frame(PING)), Pong(b""), Finish()]))
    case("2.2", "ping with a small text payload: pong with the same payload",
         raw([Send(frame(PING, b"Hello, world!")), Pong(b"Hello, world!"), Finish()]))
    binary = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    case("2.3", "ping with a small binary payload: pong with the same payload",
         raw([Send(frame(PING, binary)), Pong(binary), Finish()]))
    case("2.4", "ping with 125 bytes: pong with the same payload",
         raw([Send(frame(PING, b"\xfe" * 125)), Pong(b"\xfe" * 125), Finish()]))
    case("2.5", "ping with 126 bytes (too long for a control frame): close 1002",
         fails_with(1002, frames=[frame(PING, b"\xfe" * 126)]))
    case("2.6", "ping with 125 bytes sent one byte per write: pong with the same payload",
         raw([Send(frame(PING, binary_of(125)), chop=1), Pong(binary_of(125)), Finish()]))
    case("2.7", "unsolicited pong without payload: ignored",
         raw([Send(frame(PONG)), Finish()]))
    case("2.8", "unsolicited pong with payload: ignored",
         raw([Send(frame(PONG, b"unsolicited pong payload")), Finish()]))
    case("2.9", "unsolicited pong, then ping: only the ping is answered",
         raw([Send(frame(PONG, b"unsolicited"), frame(PING, b"ping payload")), Pong(b"ping payload"), Finish()]))
    case("2.10", "10 pings in a row: pongs in order, each with its ping's payload", many_pings(chop=None))
    case("2.11", "10 pings in a row, one byte per write: pongs in order", many_pings(chop=1))
    parts = [b"first part ", b"second part ", b"third part"]
    case("2.12", "pings between three fragments of a binary message: pongs, then the whole message",
         raw([Send(frame(BINARY, parts[0], fin=False), frame(PING, b"one"), frame(CONT, parts[1], fin=False),
                   frame(PING, b"two"), frame(CONT, parts[2])),
              Pong(b"one"), Pong(b"two"), Echo(BINARY, b"".join(parts)), Finish()]))
    case("2.13", "websockets client: ping with payload answered by a matching pong", client_ping)


def many_pings(chop):
    payloads = [f"payload-{i}".encode() for i in range(10)]

    def run(ctx):
        with Raw(ctx) as c:
            send_step(c, Send(*[frame(PING, p) for p in payloads], chop=chop, together=True))
            received = []
            while payloads[-1] not in received:
                event = c.next_event()
                if event[0] != "pong":
                    raise Fail(f"expected pongs, got {describe(event, ctx.step)} after {len(received)}")
                received.append(event[1])
            positions = [payloads.index(p) if p in payloads else -1 for p in received]
            if -1 in positions or positions != sorted(set(positions)):
                raise Fail(f"pong payloads out of order or unknown: {received}")
            if len(received) < len(payloads):
                # RFC 6455 §5.5.3 allows answering only the latest of several unanswered pings.
                ctx.note(f"{len(received)} pongs for {len(payloads)} pings (RFC 6455 allows answering the latest)")
            run_steps(ctx, c, [Finish()])
    return run


def category_3():
    case("3.1", "text frame with RSV1 set, no extension negotiated: close 1002",
         fails_with(1002, frames=[frame(TEXT, b"Hello, world!", rsv1=True)]))
    case("3.2", "text echoed, then a text frame with RSV2: close 1002",
         fails_with(1002, before=[(TEXT, b"Hello, world!")], frames=[frame(TEXT, b"Hello, world!", rsv2=True)]))
    case("3.3", "text, text with RSV3, ping in one write: the first is echoed, then close 1002 (no pong)",
         raw([Send(frame(TEXT, b"Hello, world!"), frame(TEXT, b"Hello, world!", rsv3=True), frame(PING, b"x"),
                   together=True),
              Maybe(Echo(TEXT, b"Hello, world!"), EARLY_ECHO), Closed(1002)]))
    case("3.4", "text, text with RSV2+RSV3, ping, one byte per write: echo, then close 1002",
         raw([Send(frame(TEXT, b"Hello, world!"), frame(TEXT, b"Hello, world!", rsv2=True, rsv3=True),
                   frame(PING, b"x"), chop=1),
              Maybe(Echo(TEXT, b"Hello, world!"), EARLY_ECHO), Closed(1002)]))
    case("3.5", "binary frame with RSV1+RSV3: close 1002",
         fails_with(1002, frames=[frame(BINARY, binary_of(8), rsv1=True, rsv3=True)]))
    case("3.6", "ping with RSV1+RSV2: close 1002 (no pong)",
         fails_with(1002, frames=[frame(PING, b"Hello, world!", rsv1=True, rsv2=True)]))
    case("3.7", "close frame with all three RSV bits: close 1002",
         fails_with(1002, frames=[frame(CLOSE, close_payload(1000), rsv1=True, rsv2=True, rsv3=True)]))
    case("3.8", "continuation frame with RSV2: close 1002",
         fails_with(1002, frames=[frame(TEXT, b"frag", fin=False), frame(CONT, b"ment", rsv2=True)]))
    case("3.9", "pong with RSV1: close 1002", fails_with(1002, frames=[frame(PONG, b"x", rsv1=True)]))


def category_4():
    def group(prefix, opcodes):
        first, second, third, fourth, fifth = opcodes
        case(f"{prefix}.1", f"frame with reserved opcode {first}, no payload: close 1002",
             fails_with(1002, frames=[frame(first)]))
        case(f"{prefix}.2", f"frame with reserved opcode {second} and a payload: close 1002",
             fails_with(1002, frames=[frame(second, b"reserved opcode payload")]))
        for index, (opcode, chop) in enumerate([(third, None), (fourth, None), (fifth, 1)], 3):
            how = ", one byte per write" if chop else ""
            case(f"{prefix}.{index}", f"text, opcode {opcode}, ping in one write{how}: echo, then close 1002",
                 raw([Send(frame(TEXT, b"Hello, world!"), frame(opcode, b"payload" if index != 3 else b""),
                           frame(PING, b"x"), together=True, chop=chop),
                      Maybe(Echo(TEXT, b"Hello, world!"), EARLY_ECHO), Closed(1002)]))

    group("4.1", [3, 4, 5, 6, 7])
    group("4.2", [11, 12, 13, 14, 15])
    case("4.3.1", "reserved opcode 3 between two fragments of a text message: close 1002",
         fails_with(1002, frames=[frame(TEXT, b"frag", fin=False), frame(3, b"x"), frame(CONT, b"ment")]))


def category_5():
    def fragmented(opcode, parts, ping_after=(), chop=None, pause=0.0):
        frames, pongs = [], []
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            frames.append(frame(opcode if index == 0 else CONT, part, fin=last))
            if index in ping_after:
                payload = f"ping {index}".encode()
                frames.append(frame(PING, payload))
                pongs.append(Pong(payload))
        return raw([Send(*frames, chop=chop, pause=pause)] + pongs + [Echo(opcode, b"".join(parts)), Finish()])

    two = [b"fragment1", b"fragment2"]
    case("5.1", "ping in two fragments: close 1002",
         fails_with(1002, frames=[frame(PING, b"fragment1", fin=False), frame(CONT, b"fragment2")]))
    case("5.2", "pong in two fragments: close 1002",
         fails_with(1002, frames=[frame(PONG, b"fragment1", fin=False), frame(CONT, b"fragment2")]))
    case("5.3", "text in two fragments: echoed as one message", fragmented(TEXT, two))
    case("5.4", "text in two fragments, one byte per write: echoed", fragmented(TEXT, two, chop=1))
    case("5.5", "text in two fragments, 100 ms apart: echoed", fragmented(TEXT, two, pause=0.1))
    case("5.6", "text in two fragments with a ping between: pong, then the message", fragmented(TEXT, two, [0]))
    case("5.7", "the same, one byte per write", fragmented(TEXT, two, [0], chop=1))
    case("5.8", "the same, 100 ms between frames", fragmented(TEXT, two, [0], pause=0.1))
    bad_start = [frame(CONT, b"fragment1"), frame(TEXT, b"fragment2")]
    case("5.9", "final continuation frame with no message started: close 1002", fails_with(1002, frames=bad_start))
    case("5.10", "the same, one byte per write", fails_with(1002, frames=bad_start, chop=1))
    case("5.11", "the same, each frame in its own write 100 ms apart",
         raw([Send(*bad_start, pause=0.1), Closed(1002)]))
    bad_start = [frame(CONT, b"fragment1", fin=False), frame(TEXT, b"fragment2")]
    case("5.12", "non-final continuation frame with no message started: close 1002",
         fails_with(1002, frames=bad_start))
    case("5.13", "the same, one byte per write", fails_with(1002, frames=bad_start, chop=1))
    case("5.14", "the same, each frame in its own write 100 ms apart",
         raw([Send(*bad_start, pause=0.1), Closed(1002)]))
    case("5.15", "a complete fragmented text, then continuation with no start: echo, then close 1002",
         raw([Send(frame(TEXT, b"fragment1", fin=False), frame(CONT, b"fragment2"),
                   frame(CONT, b"fragment3", fin=False), frame(TEXT, b"fragment4"), together=True),
              Maybe(Echo(TEXT, b"fragment1fragment2"), EARLY_ECHO), Closed(1002)]))
    case("5.16", "continuation, text (non-final), continuation, twice: close 1002",
         fails_with(1002, frames=[frame(CONT, b"fragment1", fin=False), frame(TEXT, b"fragment2", fin=False),
                                  frame(CONT, b"fragment3")] * 2, together=True))
    case("5.17", "final continuation, text (non-final), continuation, twice: close 1002",
         fails_with(1002, frames=[frame(CONT, b"fragment1"), frame(TEXT, b"fragment2", fin=False),
                                  frame(CONT, b"fragment3")] * 2, together=True))
    case("5.18", "text (non-final) followed by a new text frame: close 1002",
         fails_with(1002, frames=[frame(TEXT, b"fragment1", fin=False), frame(TEXT, b"fragment2")]))
    five = [b"fragment1", b"fragment2", b"fragment3", b"fragment4", b"fragment5"]
    case("5.19", "text in five fragments 100 ms apart, pings after the 2nd and 4th: pongs, then the message",
         fragmented(TEXT, five, [1, 3], pause=0.1))
    case("5.20", "binary in five fragments with pings, one byte per write: pongs, then the message",
         fragmented(BINARY, five, [1, 3], chop=1))
    case("5.21", "binary (non-final) followed by a final text frame: close 1002",
         fails_with(1002, frames=[frame(BINARY, b"fragment1", fin=False), frame(TEXT, b"fragment2")]))
    case("5.22", "text in 100 fragments of 10 bytes: echoed",
         fragmented(TEXT, [text_of(1000)[i:i + 10] for i in range(0, 1000, 10)]))
    case("5.23", "text with empty fragments around and between: echoed",
         fragmented(TEXT, [b"", b"abc", b"", b"def", b""]))
    case("5.24", "binary message whose two fragments are both empty: an empty binary echo",
         fragmented(BINARY, [b"", b""]))
    case("5.25", "empty ping in two empty fragments: close 1002",
         fails_with(1002, frames=[frame(PING, fin=False), frame(CONT)]))


VALID_UTF8 = [
    ("U+0000 (NUL)", b"\x00"),
    ("U+007F, the last 1-byte character", b"\x7f"),
    ("U+0080, the first 2-byte character", b"\xc2\x80"),
    ("U+07FF, the last 2-byte character", b"\xdf\xbf"),
    ("U+0800, the first 3-byte character", b"\xe0\xa0\x80"),
    ("U+D7FF, just below the surrogates", b"\xed\x9f\xbf"),
    ("U+E000, just above the surrogates", b"\xee\x80\x80"),
    ("U+FEFF (byte order mark)", b"\xef\xbb\xbf"),
    ("U+FFFD (replacement character)", b"\xef\xbf\xbd"),
    ("U+FDD0, a noncharacter (valid UTF-8)", b"\xef\xb7\x90"),
    ("U+FFFE, a noncharacter (valid UTF-8)", b"\xef\xbf\xbe"),
    ("U+FFFF, the last 3-byte character (a noncharacter)", b"\xef\xbf\xbf"),
    ("U+10000, the first 4-byte character", b"\xf0\x90\x80\x80"),
    ("U+1FFFE, a noncharacter (valid UTF-8)", b"\xf0\x9f\xbf\xbe"),
    ("U+10FFFF, the last code point", b"\xf4\x8f\xbf\xbf"),
    ("Greek 'kosme'", "κόσμε".encode()),
    ("mixed 1- to 4-byte text", "Hello-µ@ßöäüàá-UTF-8!! κόσμε €𝄞😀".encode()),
]

KOSME = "κόσμε".encode()
INVALID_UTF8 = [
    ("'kosme' then a surrogate (ED A0 80) then 'edited'", KOSME + b"\xed\xa0\x80edited"),
    ("a lone continuation byte 80", b"\x80"),
    ("a lone continuation byte BF", b"\xbf"),
    ("continuation bytes 80 BF 80 BF", b"\x80\xbf\x80\xbf"),
    ("all 64 continuation bytes 80-BF", bytes(range(0x80, 0xC0))),
    ("a 2-byte start C0 then a space", b"\xc0 "),
    ("a 3-byte start E0 then a space", b"\xe0 "),
    ("a 4-byte start F0 then a space", b"\xf0 "),
    ("a 2-byte sequence missing its last byte, at the end", b"ab\xdf"),
    ("a 3-byte sequence missing its last byte, at the end", b"ab\xef\xbf"),
    ("a 4-byte sequence missing its last byte, at the end", b"ab\xf0\x90\x80"),
    ("'kosme' then a truncated E0 80", KOSME + b"\xe0\x80"),
    ("impossible byte FE", b"\xfe"),
    ("impossible byte FF", b"\xff"),
    ("impossible bytes FE FE FF FF", b"\xfe\xfe\xff\xff"),
    ("overlong '/' in 2 bytes (C0 AF)", b"\xc0\xaf"),
    ("overlong '/' in 3 bytes (E0 80 AF)", b"\xe0\x80\xaf"),
    ("overlong '/' in 4 bytes (F0 80 80 AF)", b"\xf0\x80\x80\xaf"),
    ("overlong '/' in 5 bytes", b"\xf8\x80\x80\x80\xaf"),
    ("largest overlong 2-byte (C1 BF)", b"\xc1\xbf"),
    ("largest overlong 3-byte (E0 9F BF)", b"\xe0\x9f\xbf"),
    ("largest overlong 4-byte (F0 8F BF BF)", b"\xf0\x8f\xbf\xbf"),
    ("overlong NUL (C0 80)", b"\xc0\x80"),
    ("overlong NUL in 3 bytes (E0 80 80)", b"\xe0\x80\x80"),
    ("surrogate U+D800 (ED A0 80)", b"\xed\xa0\x80"),
    ("surrogate U+DB7F (ED AD BF)", b"\xed\xad\xbf"),
    ("surrogate U+DBFF (ED AF BF)", b"\xed\xaf\xbf"),
    ("surrogate U+DC00 (ED B0 80)", b"\xed\xb0\x80"),
    ("surrogate U+DFFF (ED BF BF)", b"\xed\xbf\xbf"),
    ("a surrogate pair U+D800 U+DC00 (CESU-8)", b"\xed\xa0\x80\xed\xb0\x80"),
    ("U+110000, above the last code point (F4 90 80 80)", b"\xf4\x90\x80\x80"),
    ("start byte F5 (above U+10FFFF)", b"\xf5\x80\x80\x80"),
    ("start byte F7 (above U+10FFFF)", b"\xf7\xbf\xbf\xbf"),
    ("a 5-byte sequence (F8 88 80 80 80)", b"\xf8\x88\x80\x80\x80"),
    ("a 6-byte sequence (FC 84 80 80 80 80)", b"\xfc\x84\x80\x80\x80\x80"),
    ("valid text, then C0 AF in the middle", b"Hello \xc0\xaf world"),
]


def category_6():
    case("6.1.1", "empty text message: empty text echo", echoes(TEXT, b""))
    case("6.1.2", "text message of three empty fragments: empty text echo",
         raw([Send(frame(TEXT, fin=False), frame(CONT, fin=False), frame(CONT)), Echo(TEXT, b""), Finish()]))
    case("6.1.3", "empty, 'middle', empty fragments: echo 'middle'",
         raw([Send(frame(TEXT, fin=False), frame(CONT, b"middle", fin=False), frame(CONT)), Echo(TEXT, b"middle"),
              Finish()]))
    hello = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    case("6.2.1", "valid multi-byte text in one frame: echoed", echoes(TEXT, hello))
    case("6.2.2", "the same in two fragments split between characters: echoed",
         raw([Send(frame(TEXT, hello[:12], fin=False), frame(CONT, hello[12:])), Echo(TEXT, hello), Finish()]))
    case("6.2.3", "the same with every byte its own fragment: echoed", one_byte_fragments(hello, None))
    case("6.2.4", "'kosme' with every byte its own fragment: echoed", one_byte_fragments(KOSME, None))
    four = "𝄞😀🀄".encode()
    case("6.2.5", "4-byte characters with every byte its own fragment: echoed", one_byte_fragments(four, None))
    case("6.2.6", "1- to 4-byte text split into two fragments at every byte boundary: every split echoed",
         every_split("aµ€𝄞😀z".encode()))

    for index, (name, data) in enumerate(INVALID_UTF8, 1):
        case(f"6.3.{index}", f"invalid UTF-8 in one frame, {name}: close 1007",
             fails_with(1007, frames=[frame(TEXT, data)]))

    partial = frame(TEXT, KOSME + b"\xed\xa0\x80" + b"x" * 50)  # header (2), mask (4), payload (64)
    fail_fast = [
        ("valid fragment, then a fragment with U+110000, message unfinished",
         [frame(TEXT, KOSME, fin=False), frame(CONT, b"\xf4\x90\x80\x80", fin=False)], frame(CONT, b"edited")),
        ("fragment ending in F4, next fragment starting with 90 (above U+10FFFF), message unfinished",
         [frame(TEXT, KOSME + b"\xf4", fin=False), frame(CONT, b"\x90", fin=False)], frame(CONT, b"\x80\x80edited")),
        ("a surrogate in the first fragment of an unfinished message",
         [frame(TEXT, KOSME + b"\xed\xa0\x80edited", fin=False)], frame(CONT, b"end")),
        ("a surrogate in the first 16 bytes of a 64-byte frame whose rest is not sent yet",
         [partial[:2 + 4 + 16]], partial[2 + 4 + 16:]),
    ]
    for index, (name, first, rest) in enumerate(fail_fast, 1):
        case(f"6.4.{index}", f"fail fast: {name}: close 1007 before the message ends", fails_fast(first, rest))

    for index, (name, data) in enumerate(VALID_UTF8, 1):
        case(f"6.5.{index}", f"valid UTF-8 in one frame, {name}: echoed", echoes(TEXT, data))
    for index, (name, data) in enumerate(VALID_UTF8, 1):
        case(f"6.6.{index}", f"valid UTF-8 with every byte its own fragment, {name}: echoed",
             one_byte_fragments(data, None))
    for index, (name, data) in enumerate(INVALID_UTF8, 1):
        case(f"6.7.{index}", f"invalid UTF-8 with every byte its own fragment, {name}: close 1007",
             one_byte_fragments(data, 1007))
    splits = [("surrogate", "κ".encode() + b"\xed\xa0\x80"), ("U+110000", b"\xf4\x90\x80\x80"),
              ("overlong", b"a\xc0\xaf"), ("truncated at the end", b"ab\xe2\x82")]
    index = 0
    for name, data in splits:
        for cut in range(1, len(data)):
            index += 1
            case(f"6.8.{index}", f"invalid UTF-8 ({name}) split into two fragments after byte {cut}: close 1007",
                 fails_with(1007, frames=[frame(TEXT, data[:cut], fin=False), frame(CONT, data[cut:])]))


def one_byte_fragments(data, close_code):
    if not data:
        frames = [frame(TEXT)]
    else:
        frames = [frame(TEXT if i == 0 else CONT, data[i:i + 1], fin=i == len(data) - 1) for i in range(len(data))]
    if close_code is None:
        return raw([Send(*frames, together=True), Echo(TEXT, data), Finish()])
    return raw([Send(*frames, together=True), Closed(close_code)])


def every_split(data):
    def run(ctx):
        with Raw(ctx) as c:
            for cut in range(1, len(data)):
                run_steps(ctx, c, [Send(frame(TEXT, data[:cut], fin=False), frame(CONT, data[cut:])),
                                   Echo(TEXT, data)])
            run_steps(ctx, c, [Finish()])
    return run


def fails_fast(first, rest):
    """Sends `first` and waits for close 1007; if none comes, sends `rest` (which completes the message) and then
    requires it: a lenient pass."""
    def run(ctx):
        with Raw(ctx) as c:
            for data in first:
                c.send(data)
            event = c.next_event(timeout=min(1.0, ctx.step))
            if event[0] == "timeout":
                c.send(rest)
                ctx.lenient("close 1007 came only once the message was complete")
                event = c.next_event()
            expect_closed(ctx, c, Closed(1007), event)
    return run


def category_7():
    case("7.1.1", "text echoed, then a normal close", raw([Send(frame(TEXT, b"Hello, world!")),
                                                          Echo(TEXT, b"Hello, world!"), Finish()]))
    case("7.1.2", "close sent twice: one close 1000 back, then TCP closed",
         raw([Send(frame(CLOSE, close_payload(1000)), frame(CLOSE, close_payload(1000)), together=True),
              Closed(1000)]))
    case("7.1.3", "ping after our close: ignored (no pong), close 1000",
         raw([Send(frame(CLOSE, close_payload(1000)), frame(PING, b"after close"), together=True), Closed(1000)]))
    case("7.1.4", "text after our close: ignored (no echo), close 1000",
         raw([Send(frame(CLOSE, close_payload(1000)), frame(TEXT, b"after close"), together=True), Closed(1000)]))
    case("7.1.5", "close between two fragments of a text message: close 1000, the message dropped",
         raw([Send(frame(TEXT, b"fragment1", fin=False), frame(CLOSE, close_payload(1000)),
                   frame(CONT, b"fragment2"), together=True), Closed(1000)]))
    big = text_of(262144)
    case("7.1.6", "256 KiB text, close, ping in one write: maybe the echo, then close 1000 (no pong)",
         raw([Send(frame(TEXT, big), frame(CLOSE, close_payload(1000)), frame(PING, b"x"), together=True),
              Maybe(Echo(TEXT, big)), Closed(1000)]))

    def closes(payload, *codes, empty_ok=False):
        return raw([Send(frame(CLOSE, payload)), Closed(*codes, empty_ok=empty_ok)])

    case("7.3.1", "close without payload: answered with an empty close or 1000", closes(b"", 1000, empty_ok=True))
    case("7.3.2", "close with a 1-byte payload: close 1002", closes(b"\x03", 1002))
    case("7.3.3", "close 1000 without reason: close 1000", closes(close_payload(1000), 1000))
    case("7.3.4", "close 1000 with a reason: close 1000", closes(close_payload(1000, b"Hello World!"), 1000))
    case("7.3.5", "close 1000 with a 123-byte reason (the most that fits): close 1000",
         closes(close_payload(1000, b"*" * 123), 1000))
    case("7.3.6", "close 1000 with a 124-byte reason (payload of 126 bytes): close 1002",
         closes(close_payload(1000, b"*" * 124), 1002))
    case("7.3.7", "close 1000 with a multi-byte UTF-8 reason: close 1000",
         closes(close_payload(1000, "κόσμε 𝄞".encode()), 1000))
    case("7.5.1", "close reason with a surrogate (invalid UTF-8): close 1007",
         closes(close_payload(1000, KOSME + b"\xed\xa0\x80edited"), 1007))
    case("7.5.2", "close reason with a truncated character at the end: close 1007",
         closes(close_payload(1000, b"bye \xce"), 1007))
    case("7.5.3", "close reason with an overlong encoding: close 1007", closes(close_payload(1000, b"\xc0\xaf"), 1007))
    valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
    for index, code in enumerate(valid, 1):
        answer = "1000" if code == 1000 else f"1000 or {code}"
        case(f"7.7.{index}", f"close with valid code {code}: answered with {answer}",
             closes(close_payload(code, b"reason"), *sorted({1000, code})))
    invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
    for index, code in enumerate(invalid, 1):
        case(f"7.9.{index}", f"close with invalid code {code}: close 1002", closes(close_payload(code), 1002))


def category_9(max_message):
    over = max_message + 1
    sixteenth = max_message // 16

    def split(opcode, data, count):
        size = -(-len(data) // count)
        pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
        return [frame(opcode if i == 0 else CONT, piece, fin=i == len(pieces) - 1) for i, piece in enumerate(pieces)]

    case("9.1.1", f"text message of exactly --max-message ({max_message} bytes): echoed",
         echoes(TEXT, text_of(max_message)))
    case("9.1.2", f"binary message of exactly {max_message} bytes: echoed", echoes(BINARY, binary_of(max_message)))
    case("9.1.3", f"binary message of {max_message} bytes in 16 fragments: echoed",
         raw([Send(*split(BINARY, binary_of(max_message), 16)), Echo(BINARY, binary_of(max_message)), Finish()]))
    case("9.1.4", f"text message of {over} bytes in one frame: close 1009",
         fails_with(1009, frames=[frame(TEXT, text_of(over))]))
    case("9.1.5", f"binary message of {over} bytes in one frame: close 1009",
         fails_with(1009, frames=[frame(BINARY, binary_of(over))]))
    case("9.1.6", f"binary message of {over} bytes in 17 fragments, each under the limit: close 1009",
         fails_with(1009, frames=split(BINARY, binary_of(over), 17)))
    case("9.1.7", f"a frame header announcing {over} bytes, payload not sent: close 1009 without waiting for it",
         fails_with(1009, frames=[frame(BINARY, b"", length=over)]))
    case("9.1.8", "a frame header announcing 2^32 bytes: close 1009",
         fails_with(1009, frames=[frame(BINARY, b"", length=1 << 32)]))
    case("9.1.9", "a frame header whose 64-bit length has its top bit set: close 1002 or 1009",
         fails_with(1002, 1009, frames=[bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 63) + os.urandom(4)]))
    # The server's frame decoder counts a frame once its payload is in: the payload is sent, not only its header.
    case("9.1.10", f"a fragment taking the message past the limit ({sixteenth} bytes, then "
         f"{max_message - sixteenth + 1}): close 1009",
         fails_with(1009, frames=[frame(BINARY, binary_of(sixteenth), fin=False),
                                  frame(CONT, binary_of(max_message - sixteenth + 1))]))

    small = [text_of(16)[i:] + text_of(i) for i in range(16)]
    messages = [small[i % 16] + b"%04d" % i for i in range(1000)]
    case("9.2.1", "1000 small text messages in one write: all echoed in order",
         raw([Send(*[frame(TEXT, m) for m in messages], together=True)] + [Echo(TEXT, m) for m in messages]
             + [Finish()]))
    blobs = [binary_of(65536 + i) for i in range(50)]
    case("9.2.2", "50 binary messages of 64 KiB back to back: all echoed in order",
         raw([Send(*[frame(BINARY, b) for b in blobs], together=True)] + [Echo(BINARY, b) for b in blobs]
             + [Finish()]))
    case("9.2.3", "256 KiB text sent in 997-byte writes: echoed", echoes(TEXT, utf8_text_of(262144), chop=997))
    case("9.2.4", "8 connections at once, 50 messages each: all echoed", concurrent(8, 50))


def concurrent(connections, count):
    def run(ctx):
        errors = []

        def one(number):
            try:
                messages = [b"connection %d message %d " % (number, i) + text_of(i * 37) for i in range(count)]
                with Raw(ctx) as c:
                    steps = []
                    for m in messages:
                        steps += [Send(frame(TEXT, m)), Echo(TEXT, m)]
                    run_steps(ctx, c, steps + [Finish()])
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(f"connection {number}: {error}")

        threads = [threading.Thread(target=one, args=(n,)) for n in range(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise Fail("; ".join(errors[:3]))
    return run


def category_12(max_message):
    sizes = [16, 256, 4096, 65536, 262144]
    kinds = [("12.1", "compressible text", lambda n: compressible_text(n).decode()),
             ("12.2", "compressible binary", compressible_text),
             ("12.3", "text of random words", lambda n: wordy_text(n).decode()),
             ("12.4", "incompressible random binary", random_bytes)]
    for prefix, name, make in kinds:
        for index, size in enumerate(sizes, 1):
            messages = [make(size)[i:] + make(size)[:i] for i in range(10)]
            case(f"{prefix}.{index}", f"websockets client with permessage-deflate: 10 messages of {size} bytes of "
                 f"{name} echoed", client_echo(messages, compression="deflate", require_deflate=True))

    def compressed(opcode, data, fin=True, rsv1=True):
        return lambda c: frame(opcode, deflate_payload(data, c.window_bits()), fin=fin, rsv1=rsv1)

    text = compressible_text(4096)
    case("12.5.1", "a compressed text frame (RSV1): echoed",
         raw([Send(compressed(TEXT, text)), Echo(TEXT, text), Finish()], offer_deflate=True))

    def fragments_of(opcode, data, count, ping=False):
        def build(c):
            body = deflate_payload(data, c.window_bits())
            size = -(-len(body) // count)
            pieces = [body[i:i + size] for i in range(0, len(body), size)]
            frames = []
            for i, piece in enumerate(pieces):
                frames.append(frame(opcode if i == 0 else CONT, piece, fin=i == len(pieces) - 1, rsv1=i == 0))
                if ping and i == 0:
                    frames.append(frame(PING, b"between"))
            return b"".join(frames)
        return build

    case("12.5.2", "a compressed text message in 3 fragments, RSV1 on the first only: echoed",
         raw([Send(fragments_of(TEXT, text, 3)), Echo(TEXT, text), Finish()], offer_deflate=True))
    case("12.5.3", "an uncompressed text frame (RSV1 clear) on a deflate connection: echoed",
         raw([Send(frame(TEXT, text)), Echo(TEXT, text), Finish()], offer_deflate=True))
    case("12.5.4", "a compressed binary message with a ping between its fragments: pong, then the message",
         raw([Send(fragments_of(BINARY, binary_of(20000), 2, ping=True)), Pong(b"between"),
              Echo(BINARY, binary_of(20000)), Finish()], offer_deflate=True))
    case("12.5.5", "10 compressed messages with context takeover (one compressor): all echoed",
         context_takeover([compressible_text(3000 + i) for i in range(10)]))
    case("12.5.6", f"a compressed text message inflating to exactly --max-message ({max_message} bytes): echoed",
         raw([Send(compressed(TEXT, compressible_text(max_message))), Echo(TEXT, compressible_text(max_message)),
              Finish()], offer_deflate=True))
    case("12.5.7", "an empty compressed message (payload 00): empty echo",
         raw([Send(lambda c: frame(TEXT, b"\x00", rsv1=True)), Echo(TEXT, b""), Finish()], offer_deflate=True))

    def deflate_fails(*codes, build):
        return raw([Send(build), Closed(*codes)], offer_deflate=True)

    def rsv1_on_continuation(c):
        body = deflate_payload(text, c.window_bits())
        return frame(TEXT, body[:10], fin=False, rsv1=True) + frame(CONT, body[10:], rsv1=True)

    case("12.6.1", "RSV1 on a continuation frame: close 1002", deflate_fails(1002, build=rsv1_on_continuation))
    case("12.6.2", "RSV1 on a ping: close 1002", deflate_fails(1002, build=lambda c: frame(PING, b"x", rsv1=True)))
    case("12.6.3", "RSV1 on a close frame: close 1002",
         deflate_fails(1002, build=lambda c: frame(CLOSE, close_payload(1000), rsv1=True)))
    case("12.6.4", "RSV2 on a compressed text frame: close 1002",
         deflate_fails(1002, build=lambda c: frame(TEXT, deflate_payload(text, c.window_bits()), rsv1=True, rsv2=True)))
    case("12.6.5", f"a compression bomb: {8 * max_message} zero bytes in a ~8 KiB frame: close 1009",
         deflate_fails(1009, build=compressed(BINARY, bytes(8 * max_message))))
    case("12.6.6", f"a compressed text message inflating to {max_message + 1} bytes: close 1009",
         deflate_fails(1009, build=compressed(TEXT, compressible_text(max_message + 1))))
    case("12.6.7", f"a compressed message in 8 fragments inflating to {4 * max_message} bytes: close 1009",
         deflate_fails(1009, build=fragments_of(BINARY, bytes(4 * max_message), 8)))
    case("12.6.8", "RSV1 with data that is not deflate (reserved block type): close 1002 or 1007",
         deflate_fails(1002, 1007, build=lambda c: frame(BINARY, b"\xff\xff\xff\xff", rsv1=True)))
    case("12.6.9", "a compressed text message that inflates to invalid UTF-8: close 1007",
         deflate_fails(1007, build=compressed(TEXT, KOSME + b"\xed\xa0\x80edited" * 20)))


def context_takeover(messages):
    def run(ctx):
        with Raw(ctx, offer_deflate=True) as c:
            if c.deflate is None:
                raise Fail("server declined permessage-deflate")
            if c.deflate.get("client_no_context_takeover"):
                ctx.note("server asked for client_no_context_takeover: each message compressed on its own")
                compressor = None
            else:
                compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(9, c.window_bits()))
            steps = []
            for m in messages:
                payload = deflate_payload(m, c.window_bits(), compressor)
                steps += [Send(frame(TEXT, payload, rsv1=True))]
            steps += [Echo(TEXT, m) for m in messages] + [Finish()]
            run_steps(ctx, c, steps)
    return run


def category_13():
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory as Offer

    offers = [
        ("the default offer (client_max_window_bits)", dict(), True),
        ("client_no_context_takeover", dict(client_no_context_takeover=True), False),
        ("server_no_context_takeover", dict(server_no_context_takeover=True), False),
        ("server_max_window_bits=9", dict(server_max_window_bits=9), False),
        ("server_max_window_bits=15", dict(server_max_window_bits=15), False),
        ("client_max_window_bits=9", dict(client_max_window_bits=9), False),
        ("no parameters at all", dict(client_max_window_bits=None), True),
        ("all four parameters, windows of 9 bits",
         dict(server_no_context_takeover=True, client_no_context_takeover=True, server_max_window_bits=9,
              client_max_window_bits=9), False),
    ]
    messages = ([compressible_text(16384 + i).decode() for i in range(5)] + [wordy_text(1024, seed=i) for i in range(5)]
                + [compressible_text(100000)])
    for index, (name, params, required) in enumerate(offers, 1):
        case(f"13.{index}", f"websockets client offering permessage-deflate with {name}: 11 messages echoed"
             + ("" if required else " (the server may decline the offer)"),
             client_echo(messages, extensions=[Offer(**params)], require_deflate=required))


# ---------------------------------------------------------------------------------------------------------------
# Cases through websockets' own client


def client_connect(ctx, **kwargs):
    """websockets' client connected to --url (use it in a `with`); no proxy, no keepalive pings, no size limit."""
    from websockets.sync.client import connect
    try:
        return connect(ctx.url, open_timeout=ctx.step, close_timeout=ctx.step, ping_interval=None, max_size=None,
                       proxy=None, **kwargs)
    except Exception as error:  # noqa: BLE001 - any failure to connect fails the case
        raise Fail(f"websockets client could not connect: {type(error).__name__}: {error}") from None


def client_finish(ctx, ws):
    started = time.monotonic()
    ws.close()
    elapsed = time.monotonic() - started
    received = ws.protocol.close_rcvd
    if received is None:
        raise Fail("the server did not answer the client's close")
    if received.code != 1000:
        raise Fail(f"the server answered close 1000 with {received.code}")
    if elapsed >= ctx.step * 0.9:
        raise Fail("the server did not close TCP after the closing handshake")


def client_echo(messages, compression=None, extensions=None, require_deflate=False):
    def run(ctx):
        kwargs = {"compression": None, "extensions": extensions} if extensions is not None else \
            {"compression": compression}
        with client_connect(ctx, **kwargs) as ws:
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions")
            if compression is None and extensions is None and negotiated:
                raise Fail(f"server accepted an extension it was not offered: {negotiated}")
            if (compression or extensions) and not negotiated:
                if require_deflate:
                    raise Fail("server declined permessage-deflate")
                ctx.note("server declined this offer; messages went uncompressed")
            elif negotiated and extensions is not None:
                ctx.note(f"negotiated {negotiated}")
            for m in messages:
                ws.send(m)
            for index, m in enumerate(messages):
                try:
                    got = ws.recv(timeout=ctx.step)
                except TimeoutError:
                    raise Fail(f"no echo of message {index} within {ctx.step:g} s") from None
                except websockets.ConnectionClosed as error:
                    raise Fail(f"connection closed before the echo of message {index}: {error}") from None
                if type(got) is not type(m):
                    raise Fail(f"message {index}: sent {type(m).__name__}, echoed {type(got).__name__}")
                if got != m:
                    raise Fail(f"message {index}: echo of {len(got)} for {len(m)}, first difference at "
                               f"{first_difference(got, m)}")
            client_finish(ctx, ws)
    return run


def client_ping(ctx):
    with client_connect(ctx, compression=None) as ws:
        for payload in [b"", b"client ping", bytes(range(125))]:
            if not ws.ping(payload).wait(ctx.step):
                raise Fail(f"no pong for a ping of {len(payload)} bytes within {ctx.step:g} s")
        client_finish(ctx, ws)


# ---------------------------------------------------------------------------------------------------------------
# Running


class Context:
    def __init__(self, url, step, max_message):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "ws":
            raise SystemExit(f"--url must be ws://host:port/path, not {url}")
        self.url, self.step, self.max_message = url, step, max_message
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.notes, self.lenients = [], []

    def note(self, text):
        self.notes.append(text)

    def lenient(self, text):
        self.lenients.append(text)


def build_cases(max_message):
    category_0()
    category_1()
    category_2()
    category_3()
    category_4()
    category_5()
    category_6()
    category_7()
    category_9(max_message)
    category_12(max_message)
    category_13()
    CASES.sort(key=lambda entry: id_key(entry[0]))


def selected(case_id, only):
    if not only:
        return True
    return any(case_id == prefix or case_id.startswith(prefix + ".") for prefix in only)


def start_reference(max_message):
    """Python websockets' server with an echo handler on a free port of 127.0.0.1; returns its URL."""
    from websockets.sync.server import serve

    logging.getLogger("websockets").setLevel(logging.CRITICAL)

    def echo(ws):
        try:
            for message in ws:
                ws.send(message)
        except websockets.ConnectionClosed:
            pass

    server = serve(echo, "127.0.0.1", 0, max_size=max_message, compression="deflate", ping_interval=None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"ws://127.0.0.1:{server.socket.getsockname()[1]}/ws/echo/"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="the echo endpoint, ws://127.0.0.1:PORT/ws/echo/")
    parser.add_argument("--reference", action="store_true", help="run against Python websockets' echo server")
    parser.add_argument("--only", action="append", default=[],
                        help="run only these categories or cases (6, 7.9, 6.4.2); repeatable or comma-separated")
    parser.add_argument("--max-message", type=int, default=1048576, help="the server's message size limit")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds each step may wait (default 2)")
    parser.add_argument("--budget", type=float, default=90.0,
                        help="seconds after which the remaining cases fail without running (default 90)")
    parser.add_argument("--strict", action="store_true", help="count lenient passes as failures")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args()

    check_encoder()
    build_cases(args.max_message)
    only = [part.strip() for value in args.only for part in value.split(",") if part.strip()]
    cases = [entry for entry in CASES if selected(entry[0], only)]
    if not cases:
        parser.error(f"no case matches --only {','.join(only)}")
    if args.list:
        for case_id, description, _ in cases:
            print(f"{case_id} {description}")
        return 0
    if args.reference:
        args.url = start_reference(args.max_message)
    if not args.url:
        parser.error("--url or --reference is required")

    results = []
    started = time.monotonic()
    for case_id, description, run in cases:
        ctx = Context(args.url, args.timeout, args.max_message)
        case_started = time.monotonic()
        try:
            if case_started - started > args.budget:
                raise Fail(f"not run: the run's budget of {args.budget:g} s is spent")
            run(ctx)
            failure = None
        except Fail as error:
            failure = str(error)
        except Exception as error:  # noqa: BLE001 - a refused connection, a client library's error
            failure = f"{type(error).__name__}: {error}"
        if failure is None and ctx.lenients and args.strict:
            failure = "strict: " + "; ".join(ctx.lenients)
        result = {"id": case_id, "description": description, "passed": failure is None, "reason": failure,
                  "lenient": ctx.lenients, "notes": ctx.notes,
                  "seconds": round(time.monotonic() - case_started, 3)}
        if args.reference and case_id in REFERENCE_DEVIATIONS:
            result["reference_deviation"] = REFERENCE_DEVIATIONS[case_id]
        results.append(result)
        if not args.json:
            extra = "".join(f" (lenient: {text})" for text in ctx.lenients if failure is None)
            extra += "".join(f" (note: {text})" for text in ctx.notes)
            if failure is None:
                print(f"PASS {case_id} {description}{extra}", flush=True)
            else:
                print(f"FAIL {case_id} {description}: {failure}", flush=True)

    failed = [r for r in results if not r["passed"]]
    lenient = [r for r in results if r["passed"] and r["lenient"]]
    categories = {}
    for r in results:
        category = categories.setdefault(r["id"].split(".")[0], {"cases": 0, "failed": 0})
        category["cases"] += 1
        category["failed"] += not r["passed"]
    summary = {"url": args.url, "cases": len(results), "passed": len(results) - len(failed),
               "failed": len(failed), "lenient": len(lenient), "seconds": round(time.monotonic() - started, 1),
               "categories": categories}
    if args.json:
        print(json.dumps({"summary": summary, "results": results}))
    else:
        by_category = ", ".join(f"{k}: {v['cases'] - v['failed']}/{v['cases']}" for k, v in categories.items())
        print(f"SUMMARY {summary['passed']}/{summary['cases']} passed, {summary['failed']} failed, "
              f"{summary['lenient']} lenient, in {summary['seconds']} s ({by_category})")
        if failed:
            print("FAILED " + " ".join(r["id"] for r in failed))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
