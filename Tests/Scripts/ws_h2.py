#!/usr/bin/env python3
"""WebSocket over HTTP/2 (RFC 8441) against a server on 127.0.0.1, for Tests/TetherServerTests/WebSocketOverHTTP2Tests.

h2c by prior knowledge, with the `h2` package: wait for the server's SETTINGS_ENABLE_CONNECT_PROTOCOL, open an
extended CONNECT (`:protocol websocket`), then carry WebSocket frames in DATA frames. Prints one JSON object:

    {"settings_connect": true, "status": 200, "messages": ["..."], "close": [1000, ""], "error": null}

Scenarios (--how): `echo` sends two text messages and a close frame and reads the echoes and the close;
`reset`, `close`, `goaway` read --ticks messages, then leave by RST_STREAM(CANCEL), a close frame, or a GOAWAY and
closing the socket. Every wait is bounded by --timeout.
"""

import argparse
import json
import os
import socket
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.settings


def ws_frame(opcode, payload):
    """A masked client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    elif len(payload) < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
    return header + mask + masked


def parse_frames(buffer):
    """Complete unmasked server frames at the start of `buffer`: [(opcode, payload)], and the rest."""
    frames = []
    while len(buffer) >= 2:
        opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
        offset = 2
        if length == 126:
            if len(buffer) < 4:
                break
            length, offset = struct.unpack("!H", buffer[2:4])[0], 4
        elif length == 127:
            if len(buffer) < 10:
                break
            length, offset = struct.unpack("!Q", buffer[2:10])[0], 10
        if len(buffer) < offset + length:
            break
        frames.append((opcode, bytes(buffer[offset:offset + length])))
        buffer = buffer[offset + length:]
    return frames, buffer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/ws/echo/")
    parser.add_argument("--how", default="echo", choices=["echo", "reset", "close", "goaway"])
    parser.add_argument("--ticks", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=10)
    args = parser.parse_args()
    report = {"settings_connect": False, "status": None, "messages": [], "close": None, "error": None}
    deadline = time.monotonic() + args.timeout
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    connection.initiate_connection()
    sock.sendall(connection.data_to_send())
    stream = None
    pending = b""
    sent_close = False
    try:
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.RemoteSettingsChanged) and stream is None:
                    changed = event.changed_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
                    report["settings_connect"] = bool(changed and changed.new_value == 1)
                    if not report["settings_connect"]:
                        raise RuntimeError("no SETTINGS_ENABLE_CONNECT_PROTOCOL")
                    stream = connection.get_next_available_stream_id()
                    connection.send_headers(stream, [
                        (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                        (":path", args.path), (":authority", "127.0.0.1"), ("sec-websocket-version", "13"),
                    ])
                elif isinstance(event, h2.events.ResponseReceived):
                    report["status"] = int(dict(event.headers)[":status"])
                    if report["status"] == 200 and args.how == "echo":
                        connection.send_data(stream, ws_frame(0x1, b"hello") + ws_frame(0x1, "h\u00e9".encode()))
                elif isinstance(event, h2.events.DataReceived):
                    connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    frames, pending = parse_frames(pending + event.data)
                    for opcode, payload in frames:
                        if opcode == 0x1:
                            report["messages"].append(payload.decode())
                        elif opcode == 0x8:
                            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                            report["close"] = [code, payload[2:].decode()]
                    count = len(report["messages"])
                    if args.how == "echo" and count >= 2 and not sent_close:
                        sent_close = True
                        connection.send_data(stream, ws_frame(0x8, struct.pack("!H", 1000)))
                    elif args.how != "echo" and count >= args.ticks and not sent_close:
                        sent_close = True
                        if args.how == "reset":
                            connection.reset_stream(stream, error_code=0x8)
                        elif args.how == "close":
                            connection.send_data(stream, ws_frame(0x8, struct.pack("!H", 4000) + b"bye"))
                        else:
                            connection.close_connection()
                            sock.sendall(connection.data_to_send())
                            time.sleep(0.2)
                            raise StopIteration
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    if args.how in ("echo", "close") or event.stream_id == stream:
                        raise StopIteration
            sock.sendall(connection.data_to_send())
            if args.how == "reset" and sent_close:
                time.sleep(0.2)
                break
    except StopIteration:
        pass
    except Exception as error:  # noqa: BLE001 - the report says what went wrong
        report["error"] = repr(error)
    finally:
        sock.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
