import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOWebSocket
import TestSupport
import Testing
import TetherGateway

@testable import TetherServer

/// A WebSocket connection's decisions as scripts of frames and events → actions, on a manual clock: no socket, no
/// sleeping. Client frames are masked, as a client must mask them.
@Suite struct WebSocketConnectionStateMachineTests {
    typealias Machine = WebSocketConnectionStateMachine<ManualClock>

    /// How the application must hear that the connection is over; a `nil` reason is any reason.
    struct Leave: Sendable, Equatable {
        var code: UInt16
        var reason: String?
        var cancellation: CancellationReason
    }

    /// An action, as far as a script states it.
    enum Expected: Sendable, Equatable {
        case none
        case deliver(WebSocketMessage)
        case pong([UInt8])
        case ping([UInt8])
        case sendClose(UInt16, String)
        case close(reply: UInt16?, replyReason: String = "", departure: Leave?)

        /// The connection is failed: a close frame with `code` (none once the server had sent its own), and the
        /// application hears `code`, whatever the reason's words.
        static func fails(
            _ code: UInt16, _ cancellation: CancellationReason = .protocolError, replies: Bool = true
        ) -> Expected {
            .close(reply: replies ? code : nil, departure: Leave(code: code, reason: nil, cancellation: cancellation))
        }

        /// The peer's close frame with `code` and `reason`, answered with `reply`.
        static func peerClosed(_ code: UInt16, _ reason: String = "", reply: UInt16?) -> Expected {
            .close(reply: reply, departure: Leave(code: code, reason: reason, cancellation: .closeFrame))
        }

        static func text(_ text: String) -> Expected { .deliver(.text(text)) }
    }

    /// One input to the machine and the action it must return, or a check of its state.
    enum Step: Sendable {
        case frame(WebSocketFrame, Expected)
        case decoderFailed(NIOWebSocketError, Expected)
        case appClose(UInt16, String, Expected)
        case shutdown(Expected)
        case connectionClosed(CancellationReason, Expected)
        /// Advances the clock by the duration, then fires the timer.
        case wait(Duration, Expected)
        /// The next deadline, as the time since the machine started.
        case deadline(Duration?)
        case open(Bool)

        /// The step, its frame shown unmasked.
        var summary: String {
            guard case .frame(let frame, let expected) = self else { return "\(self)" }
            let payload = Array(frame.unmaskedData.readableBytesView)
            return "frame \(frame.opcode) fin=\(frame.fin) \(payload) → \(expected)"
        }
    }

    struct Script: Sendable, CustomTestStringConvertible {
        var name: String
        var configure: @Sendable (inout Server.Configuration.WebSocket) -> Void = { _ in }
        var steps: [Step]
        var testDescription: String { self.name }
    }

    // MARK: Frames

    static let maskKey: WebSocketMaskingKey = [0x37, 0xFA, 0x21, 0x3D]

    /// A client frame: `payload` masked with ``maskKey`` unless `masked` is false.
    static func frame(
        _ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false, rsv2: Bool = false,
        rsv3: Bool = false, masked: Bool = true
    ) -> WebSocketFrame {
        var data = ByteBuffer(bytes: payload)
        if masked { data.webSocketMask(Self.maskKey) }
        return WebSocketFrame(
            fin: fin, rsv1: rsv1, rsv2: rsv2, rsv3: rsv3, opcode: opcode, maskKey: masked ? Self.maskKey : nil,
            data: data)
    }

    static func text(_ text: String, fin: Bool = true) -> WebSocketFrame { frame(.text, Array(text.utf8), fin: fin) }
    static func more(_ text: String, fin: Bool = true) -> WebSocketFrame {
        frame(.continuation, Array(text.utf8), fin: fin)
    }
    static func ping(_ payload: [UInt8]) -> WebSocketFrame { frame(.ping, payload) }
    static func pong(_ payload: [UInt8]) -> WebSocketFrame { frame(.pong, payload) }
    /// A close frame with `code` (none: an empty payload) and `reason`'s bytes.
    static func close(_ code: UInt16?, _ reason: [UInt8] = []) -> WebSocketFrame {
        guard let code else { return frame(.connectionClose, []) }
        return frame(.connectionClose, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }
    static func close(_ code: UInt16, _ reason: String) -> WebSocketFrame { close(code, Array(reason.utf8)) }

    static let pingEvery10 = { @Sendable (configuration: inout Server.Configuration.WebSocket) in
        configuration.pingInterval = .seconds(10)
        configuration.pongTimeout = .seconds(5)
    }
    static let noPings = { @Sendable (configuration: inout Server.Configuration.WebSocket) in
        configuration.pingInterval = nil
    }
    static let max4 = { @Sendable (configuration: inout Server.Configuration.WebSocket) in
        configuration.maxMessageSize = 4
    }

    static let scripts: [Script] = [
        Script(
            name: "text and binary messages are delivered",
            steps: [
                .frame(text("hello"), .text("hello")),
                .frame(frame(.binary, [0, 1, 0xFF]), .deliver(.binary(ByteBuffer(bytes: [0, 1, 0xFF])))),
                .frame(text(""), .text("")), .frame(frame(.binary, []), .deliver(.binary(ByteBuffer()))), .open(true),
            ]),
        Script(
            name: "a fragmented text message is joined across continuation frames",
            steps: [
                .frame(text("he", fin: false), .none), .frame(more("l", fin: false), .none),
                .frame(more("", fin: false), .none), .frame(more("lo"), .text("hello")),
                .frame(text("next"), .text("next")),
            ]),
        Script(
            name: "a fragmented binary message is joined",
            steps: [
                .frame(frame(.binary, [1], fin: false), .none),
                .frame(frame(.continuation, [2, 3]), .deliver(.binary(ByteBuffer(bytes: [1, 2, 3])))),
            ]),
        Script(
            name: "control frames between fragments are answered and the message goes on",
            steps: [
                .frame(text("a", fin: false), .none), .frame(ping([1, 2]), .pong([1, 2])), .frame(pong([9]), .none),
                .frame(more("b"), .text("ab")),
            ]),
        Script(
            name: "UTF-8 split across fragments is valid",
            steps: [
                .frame(frame(.text, [0xC3], fin: false), .none), .frame(frame(.continuation, [0xA9]), .text("é")),
                .frame(frame(.text, [0xF0, 0x9F], fin: false), .none),
                .frame(frame(.continuation, [0x98], fin: false), .none),
                .frame(frame(.continuation, [0x80, 0x21]), .text("😀!")),
            ]),
        Script(
            name: "text that is not UTF-8 fails the connection with 1007; nothing counts after",
            steps: [
                .frame(frame(.text, [0x61, 0xC3, 0x28]), .fails(1007)), .open(false), .deadline(nil),
                .frame(text("late"), .none), .frame(ping([1]), .none), .frame(close(1000), .none), .shutdown(.none),
                .connectionClosed(.clientClosed, .none), .appClose(1000, "", .none), .wait(.seconds(3600), .none),
                .decoderFailed(.invalidFrameLength, .none),
            ]),
        Script(
            name: "UTF-8 cut off at the end of a fragmented message fails with 1007",
            steps: [
                .frame(text("a", fin: false), .none), .frame(frame(.continuation, [0xE2, 0x82]), .fails(1007)),
            ]),
        Script(
            name: "binary messages are not UTF-8 checked",
            steps: [.frame(frame(.binary, [0xC3, 0x28]), .deliver(.binary(ByteBuffer(bytes: [0xC3, 0x28]))))]),
        Script(
            name: "a new text message inside a fragmented one fails with 1002",
            steps: [.frame(text("a", fin: false), .none), .frame(text("b"), .fails(1002))]),
        Script(
            name: "a new binary message inside a fragmented one fails with 1002",
            steps: [.frame(text("a", fin: false), .none), .frame(frame(.binary, [1], fin: false), .fails(1002))]),
        Script(
            name: "a continuation after a complete message fails with 1002",
            steps: [.frame(text("a"), .text("a")), .frame(more("b"), .fails(1002))]),
        Script(
            name: "a message of maxMessageSize is delivered; one byte more fails with 1009", configure: max4,
            steps: [.frame(text("abcd"), .text("abcd")), .frame(text("abcde"), .fails(1009, .messageTooLarge))]),
        Script(
            name: "fragments adding up past maxMessageSize fail with 1009", configure: max4,
            steps: [
                .frame(text("ab", fin: false), .none), .frame(more("cd", fin: false), .none),
                .frame(more("e", fin: false), .fails(1009, .messageTooLarge)),
            ]),
        Script(
            name: "a ping is answered with its payload; an unsolicited pong is ignored",
            steps: [
                .frame(ping([0xDE, 0xAD, 0xBE, 0xEF]), .pong([0xDE, 0xAD, 0xBE, 0xEF])), .frame(ping([]), .pong([])),
                .frame(pong([1, 2, 3]), .none), .deadline(.seconds(20)), .open(true),
            ]),
        Script(
            name: "a close frame with a code and reason is echoed with the code",
            steps: [
                .frame(close(1001, "bye"), .peerClosed(1001, "bye", reply: 1001)), .open(false), .deadline(nil),
                .frame(text("late"), .none), .frame(close(1000), .none), .shutdown(.none),
                .connectionClosed(.clientReset, .none), .wait(.seconds(60), .none),
            ]),
        Script(
            name: "a close frame may come in the middle of a fragmented message",
            steps: [
                .frame(text("a", fin: false), .none), .frame(close(4000, "x"), .peerClosed(4000, "x", reply: 4000)),
            ]),
        Script(
            name: "an empty close frame is answered with 1000 and heard as 1005",
            steps: [.frame(close(nil), .peerClosed(1005, reply: 1000))]),
        Script(
            name: "a close frame of one byte fails with 1002",
            steps: [.frame(frame(.connectionClose, [0x03]), .fails(1002))]),
        Script(
            name: "a close reason that is not UTF-8 fails with 1007",
            steps: [.frame(close(1000, [0x6F, 0x6B, 0xFF]), .fails(1007))]),
        Script(
            name: "the application's close, then the peer's: no second close frame",
            steps: [
                .appClose(4000, "bye", .sendClose(4000, "bye")), .open(false), .deadline(.seconds(5)),
                .frame(close(4000), .peerClosed(4000, reply: nil)), .deadline(nil), .appClose(1000, "", .none),
            ]),
        Script(
            name: "after the application's close, messages still arrive",
            steps: [
                .appClose(1000, "", .sendClose(1000, "")), .frame(text("late"), .text("late")),
                .frame(pong([1]), .none), .frame(close(nil), .peerClosed(1005, reply: nil)),
            ]),
        Script(
            name: "after the application's close a protocol error closes without another close frame",
            steps: [
                .appClose(1000, "", .sendClose(1000, "")), .frame(frame(.text, [0xFF]), .fails(1007, replies: false)),
            ]),
        Script(
            name: "the application closes only once",
            steps: [.appClose(1000, "", .sendClose(1000, "")), .appClose(4000, "again", .none), .deadline(.seconds(5))]),
        Script(
            name: "a peer that never answers the close is dropped after closeTimeout",
            steps: [
                .appClose(1000, "", .sendClose(1000, "")), .wait(.milliseconds(4999), .none),
                .wait(
                    .milliseconds(1),
                    .close(reply: nil, departure: Leave(code: 1006, reason: "", cancellation: .clientUnreachable))),
                .deadline(nil), .frame(close(1000), .none),
            ]),
        Script(
            name: "the application's close puts the close timeout in place of the ping deadline",
            configure: pingEvery10,
            steps: [
                .deadline(.seconds(10)), .wait(.seconds(4), .none), .appClose(1000, "", .sendClose(1000, "")),
                .deadline(.seconds(9)),
                .wait(
                    .seconds(5),
                    .close(reply: nil, departure: Leave(code: 1006, reason: "", cancellation: .clientUnreachable))),
            ]),
        Script(
            name: "a ping at each interval; a pong clears it and the next is due an interval later",
            configure: pingEvery10,
            steps: [
                .deadline(.seconds(10)), .wait(.seconds(9), .none), .deadline(.seconds(10)),
                .wait(.seconds(1), .ping([0, 0, 0, 1])), .deadline(.seconds(15)), .wait(.seconds(2), .none),
                .frame(pong([0, 0, 0, 1]), .none), .deadline(.seconds(22)), .wait(.seconds(9), .none),
                .wait(.seconds(1), .ping([0, 0, 0, 2])), .deadline(.seconds(27)), .frame(pong([7]), .none),
                .deadline(.seconds(32)),
            ]),
        Script(
            name: "a ping left unanswered past pongTimeout closes the connection", configure: pingEvery10,
            steps: [
                .wait(.seconds(10), .ping([0, 0, 0, 1])), .frame(ping([5]), .pong([5])),
                .frame(text("still here"), .text("still here")), .deadline(.seconds(15)),
                .wait(.milliseconds(4999), .none),
                .wait(
                    .milliseconds(1),
                    .close(reply: nil, departure: Leave(code: 1006, reason: "ping timeout", cancellation: .pingTimeout))
                ),
                .open(false), .deadline(nil), .frame(pong([0, 0, 0, 1]), .none),
            ]),
        Script(
            name: "a timer that fires late sends one ping", configure: pingEvery10,
            steps: [.wait(.seconds(12), .ping([0, 0, 0, 1])), .deadline(.seconds(17)), .wait(.zero, .none)]),
        Script(
            name: "without a ping interval there is no deadline", configure: noPings,
            steps: [.deadline(nil), .wait(.seconds(3600), .none), .frame(pong([1]), .none), .deadline(nil)]),
        Script(
            name: "the default configuration pings every 20 seconds and waits 20 for the pong",
            steps: [
                .deadline(.seconds(20)), .wait(.seconds(20), .ping([0, 0, 0, 1])), .deadline(.seconds(40)),
                .wait(
                    .seconds(20),
                    .close(reply: nil, departure: Leave(code: 1006, reason: "ping timeout", cancellation: .pingTimeout))
                ),
            ]),
        Script(
            name: "a shutdown says 1001 to the peer and the application",
            steps: [
                .shutdown(
                    .close(
                        reply: 1001, replyReason: "server shutdown",
                        departure: Leave(code: 1001, reason: "server shutdown", cancellation: .serverShutdown))),
                .open(false), .deadline(nil), .shutdown(.none), .frame(close(1000), .none),
            ]),
        Script(
            name: "a shutdown after the application's close sends no second close frame",
            steps: [
                .appClose(1000, "", .sendClose(1000, "")),
                .shutdown(
                    .close(
                        reply: nil,
                        departure: Leave(code: 1001, reason: "server shutdown", cancellation: .serverShutdown))),
                .deadline(nil),
            ]),
        Script(
            name: "a connection lost without a close frame is heard as 1006",
            steps: [
                .frame(text("a", fin: false), .none),
                .connectionClosed(
                    .clientReset,
                    .close(reply: nil, departure: Leave(code: 1006, reason: "", cancellation: .clientReset))),
                .open(false), .deadline(nil), .frame(more("b"), .none), .connectionClosed(.clientClosed, .none),
            ]),
        Script(
            name: "a connection lost after the application's close is heard as 1006",
            steps: [
                .appClose(1000, "", .sendClose(1000, "")),
                .connectionClosed(
                    .clientClosed,
                    .close(reply: nil, departure: Leave(code: 1006, reason: "", cancellation: .clientClosed))),
            ]),
        Script(
            name: "a frame over maxFrameSize fails with 1009",
            steps: [
                .decoderFailed(.invalidFrameLength, .fails(1009, .messageTooLarge)),
                .decoderFailed(.fragmentedControlFrame, .none),
            ]),
        Script(
            name: "a fragmented control frame fails with 1002",
            steps: [.decoderFailed(.fragmentedControlFrame, .fails(1002)), .open(false)]),
        Script(
            name: "a control frame over 125 bytes fails with 1002",
            steps: [.decoderFailed(.multiByteControlFrameLength, .fails(1002))]),
        Script(
            name: "a decoder failure after the application's close sends no second close frame",
            steps: [
                .appClose(1000, "", .sendClose(1000, "")),
                .decoderFailed(.invalidFrameLength, .fails(1009, .messageTooLarge, replies: false)),
            ]),
        // RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response, unless it
        // already received a Close frame." Having sent one is no exception.
        Script(
            name: "RFC 6455 §5.5.2: a ping is answered after the server's close, until the peer's close",
            steps: [
                .appClose(1000, "", .sendClose(1000, "")), .frame(ping([1, 2]), .pong([1, 2])),
                .frame(close(1000), .peerClosed(1000, reply: nil)),
            ]),
        // RFC 6455 §5.5.1: "An endpoint MAY delay sending a Close frame until its current message is sent (for
        // instance, if the majority of a fragmented message is already sent, an endpoint MAY send the remaining
        // fragments before sending a Close frame)." A continuation that follows the server's close frame is no
        // protocol error: the message is delivered, as complete ones are after the server's close.
        Script(
            name: "RFC 6455 §5.5.1: the peer may finish its fragmented message after the server's close",
            steps: [
                .frame(text("a", fin: false), .none), .appClose(1000, "", .sendClose(1000, "")),
                .frame(more("b"), .text("ab")), .frame(close(1000), .peerClosed(1000, reply: nil)),
            ]),
    ]

    @Test(arguments: scripts)
    func script(_ script: Script) {
        var configuration = Server.Configuration.WebSocket()
        script.configure(&configuration)
        var clock = ManualClock()
        var machine = Machine(configuration: configuration, deflate: nil, now: clock.now)
        for (index, step) in script.steps.enumerated() {
            Self.apply(step, to: &machine, clock: &clock, comment: "step \(index): \(step.summary)")
        }
    }

    static func apply(_ step: Step, to machine: inout Machine, clock: inout ManualClock, comment: Comment) {
        let action: Machine.Action
        let expected: Expected
        switch step {
        case .frame(let frame, let expecting):
            (action, expected) = (machine.frameReceived(frame, now: clock.now), expecting)
        case .decoderFailed(let error, let expecting):
            (action, expected) = (machine.decoderFailed(error), expecting)
        case .appClose(let code, let reason, let expecting):
            (action, expected) = (machine.applicationClosed(code: code, reason: reason, now: clock.now), expecting)
        case .shutdown(let expecting):
            (action, expected) = (machine.shutdown(), expecting)
        case .connectionClosed(let reason, let expecting):
            (action, expected) = (machine.connectionClosed(reason), expecting)
        case .wait(let duration, let expecting):
            clock.advance(by: duration)
            (action, expected) = (machine.timerFired(now: clock.now), expecting)
        case .deadline(let offset):
            #expect(machine.nextDeadline == offset.map { ManualClock().now.advanced(by: $0) }, comment)
            return
        case .open(let open):
            #expect(machine.messageToSend() == open, comment)
            return
        }
        #expect(Self.matches(action, expected), "\(comment); got \(action)")
    }

    /// Whether `action` is what `expected` states.
    static func matches(_ action: Machine.Action, _ expected: Expected) -> Bool {
        switch (action, expected) {
        case (.none, .none): return true
        case (.deliver(let message), .deliver(let expected)): return message == expected
        case (.pong(let payload), .pong(let expected)), (.ping(let payload), .ping(let expected)):
            return Array(payload.readableBytesView) == expected
        case (.sendClose(let code, let reason), .sendClose(let expectedCode, let expectedReason)):
            return code == expectedCode && reason == expectedReason
        case (.close(let reply, let departure), .close(let replyCode, let replyReason, let leave)):
            guard reply?.code == replyCode, reply == nil || reply?.reason == replyReason else { return false }
            guard let departure, let leave else { return departure == nil && leave == nil }
            return departure.code == leave.code && departure.cancellation == leave.cancellation
                && (leave.reason == nil || leave.reason == departure.reason)
        default: return false
        }
    }

    static func fresh(_ configure: (inout Server.Configuration.WebSocket) -> Void = { _ in }) -> Machine {
        var configuration = Server.Configuration.WebSocket()
        configure(&configuration)
        return Machine(configuration: configuration, deflate: nil, now: ManualClock().now)
    }

    // MARK: UTF-8 across fragments

    /// Bytes of a text message, valid UTF-8 or not.
    struct TextBytes: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var testDescription: String { self.name }
    }

    static let kosme: [UInt8] = [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5]
    static let textCorpus: [TextBytes] = [
        TextBytes(name: "κόσμε", bytes: kosme),
        TextBytes(name: "an emoji and ASCII", bytes: [0x61, 0xF0, 0x9F, 0x98, 0x80, 0x21]),
        TextBytes(name: "U+D7FF, U+E000, U+FFFF", bytes: [0xED, 0x9F, 0xBF, 0xEE, 0x80, 0x80, 0xEF, 0xBF, 0xBF]),
        TextBytes(name: "U+10FFFF", bytes: [0xF4, 0x8F, 0xBF, 0xBF]),
        TextBytes(name: "a surrogate after κόσμε", bytes: kosme + [0xED, 0xA0, 0x80] + Array("edited".utf8)),
        TextBytes(name: "past U+10FFFF", bytes: [0x61, 0xF4, 0x90, 0x80, 0x80]),
        TextBytes(name: "an overlong slash", bytes: [0xC0, 0xAF]),
        TextBytes(name: "an overlong three-byte slash", bytes: [0x61, 0xE0, 0x80, 0xAF]),
        TextBytes(name: "an overlong four-byte slash", bytes: [0xF0, 0x80, 0x80, 0xAF]),
        TextBytes(name: "0xFE and 0xFF", bytes: [0x61, 0x62, 0xFE, 0xFF]),
        TextBytes(name: "a lone continuation byte", bytes: [0x61, 0x80, 0x62]),
        TextBytes(name: "κόσμε cut short", bytes: Array(kosme.dropLast())),
        TextBytes(name: "a lead byte before ASCII", bytes: [0x61, 0xC3, 0x28, 0x62]),
        TextBytes(name: "a five-byte sequence", bytes: [0xF8, 0x88, 0x80, 0x80, 0x80]),
    ]

    /// Whether `prefix` is the start of some valid UTF-8: its last scalar completed with one of the 64 continuation
    /// bytes and then 0x80s (only a scalar's second byte is restricted beyond being a continuation byte).
    static func canBeginUTF8(_ prefix: [UInt8]) -> Bool {
        if String(validating: prefix, as: UTF8.self) != nil { return true }
        for extra in 1...3 {
            for second in UInt8(0x80)...0xBF {
                let completed = prefix + [second] + Array(repeating: UInt8(0x80), count: extra - 1)
                if String(validating: completed, as: UTF8.self) != nil { return true }
            }
        }
        return false
    }

    /// Every split of the message into three frames: each non-final frame is refused with 1007 as soon as the text
    /// so far can no longer be UTF-8 (Autobahn's strict 6.4), and the message is delivered when the whole is valid.
    @Test(arguments: textCorpus)
    func invalidTextFailsAsSoonAsItCannotBeUTF8(_ text: TextBytes) {
        let bytes = text.bytes
        let valid = String(validating: bytes, as: UTF8.self)
        for first in 0...bytes.count {
            splits: for second in first...bytes.count {
                var machine = Self.fresh()
                let pieces = [Array(bytes[..<first]), Array(bytes[first..<second]), Array(bytes[second...])]
                for (index, piece) in pieces.enumerated() {
                    let last = index == pieces.count - 1
                    let frame = Self.frame(index == 0 ? .text : .continuation, piece, fin: last)
                    let action = machine.frameReceived(frame, now: ManualClock().now)
                    let sofar = Array(pieces[...index].joined())
                    let comment: Comment = "\(text.name) split at \(first), \(second); frame \(index): got \(action)"
                    if last {
                        #expect(Self.matches(action, valid.map { .text($0) } ?? .fails(1007)), comment)
                    } else if Self.canBeginUTF8(sofar) {
                        #expect(action == .none, comment)
                    } else {
                        #expect(Self.matches(action, .fails(1007)), comment)
                        continue splits
                    }
                }
            }
        }
    }

    @Test func compressedTextIsCheckedWhenItsMessageEnds() throws {
        let codec = try Self.codec()
        let invalid = ByteBuffer(bytes: Array(repeating: 0xFF, count: 400))
        let compressed = Array(try #require(try codec.deflate(invalid)).readableBytesView)
        var machine = Machine(configuration: .init(), deflate: codec, now: ManualClock().now)
        let now = ManualClock().now
        let half = compressed.count / 2
        #expect(
            machine.frameReceived(Self.frame(.text, Array(compressed[..<half]), fin: false, rsv1: true), now: now)
                == .none)
        let action = machine.frameReceived(Self.frame(.continuation, Array(compressed[half...])), now: now)
        #expect(Self.matches(action, .fails(1007)), "got \(action)")
    }

    // MARK: Frames that break the protocol

    struct BadFrame: Sendable, CustomTestStringConvertible {
        var name: String
        var frame: WebSocketFrame
        var testDescription: String { self.name }
    }

    static let protocolErrors: [BadFrame] =
        [
            BadFrame(name: "unmasked text", frame: frame(.text, Array("hi".utf8), masked: false)),
            BadFrame(name: "unmasked ping", frame: frame(.ping, [1], masked: false)),
            BadFrame(name: "unmasked close", frame: frame(.connectionClose, [0x03, 0xE8], masked: false)),
            BadFrame(name: "RSV2", frame: frame(.text, Array("hi".utf8), rsv2: true)),
            BadFrame(name: "RSV3", frame: frame(.binary, [1], rsv3: true)),
            BadFrame(name: "RSV2 on a ping", frame: frame(.ping, [], rsv2: true)),
            BadFrame(name: "RSV1 without permessage-deflate", frame: frame(.text, Array("hi".utf8), rsv1: true)),
            BadFrame(name: "RSV1 on a ping", frame: frame(.ping, [], rsv1: true)),
            BadFrame(name: "RSV1 on a pong", frame: frame(.pong, [], rsv1: true)),
            BadFrame(name: "RSV1 on a close", frame: frame(.connectionClose, [0x03, 0xE8], rsv1: true)),
            BadFrame(name: "a continuation without a message", frame: frame(.continuation, [1])),
            BadFrame(name: "an empty last continuation without a message", frame: frame(.continuation, [])),
        ]
        + ([3, 4, 5, 6, 7, 11, 12, 13, 14, 15] as [UInt8]).map { code in
            BadFrame(
                name: "reserved opcode \(code)",
                frame: frame(WebSocketOpcode(encodedWebSocketOpcode: code)!, [1]))
        }

    @Test(arguments: protocolErrors)
    func framesThatBreakTheProtocolFailWith1002(_ bad: BadFrame) {
        var machine = Self.fresh()
        let action = machine.frameReceived(bad.frame, now: ManualClock().now)
        #expect(Self.matches(action, .fails(1002)), "got \(action)")
        #expect(!machine.messageToSend())
        #expect(machine.frameReceived(Self.text("after"), now: ManualClock().now) == .none)
    }

    // MARK: Close codes

    @Test(arguments: [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] as [UInt16])
    func invalidCloseCodesFailWith1002(_ code: UInt16) {
        var machine = Self.fresh()
        let action = machine.frameReceived(Self.close(code, "r"), now: ManualClock().now)
        #expect(Self.matches(action, .fails(1002)), "got \(action)")
    }

    @Test(
        arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
            as [UInt16])
    func validCloseCodesAreEchoed(_ code: UInt16) {
        var machine = Self.fresh()
        let action = machine.frameReceived(Self.close(code, "r"), now: ManualClock().now)
        #expect(Self.matches(action, .peerClosed(code, "r", reply: code)), "got \(action)")
    }

    /// The actions exactly as the handler gets them, through `Action`'s own `==`.
    @Test func closeActionsAreExact() {
        let now = ManualClock().now
        var machine = Self.fresh()
        #expect(
            machine.frameReceived(Self.close(1001, "going"), now: now)
                == .close(
                    reply: (1001, ""), departure: .init(code: 1001, reason: "going", cancellation: .closeFrame)))
        machine = Self.fresh()
        #expect(
            machine.frameReceived(Self.close(nil), now: now)
                == .close(reply: (1000, ""), departure: .init(code: 1005, reason: "", cancellation: .closeFrame)))
        machine = Self.fresh()
        #expect(machine.frameReceived(Self.frame(.text, [0xFF]), now: now) != .close(reply: nil, departure: nil))
        machine = Self.fresh()
        #expect(
            machine.connectionClosed(.clientReset)
                == .close(reply: nil, departure: .init(code: 1006, reason: "", cancellation: .clientReset)))
        #expect(Machine.Action.ping(ByteBuffer(bytes: [1])) != .pong(ByteBuffer(bytes: [1])))
    }

    // MARK: permessage-deflate

    static func codec() throws -> PerMessageDeflate {
        try #require(PerMessageDeflate.negotiate(offers: ["permessage-deflate"], configuration: .init())).codec
    }

    @Test func aCompressedMessageIsInflated() throws {
        let codec = try Self.codec()
        let text = String(repeating: "tether speaks WebSocket; ", count: 40)
        let compressed = try #require(try codec.deflate(ByteBuffer(string: text)))
        #expect(compressed.readableBytes < text.utf8.count)
        var machine = Machine(configuration: .init(), deflate: codec, now: ManualClock().now)
        let bytes = Array(compressed.readableBytesView)
        let now = ManualClock().now
        #expect(machine.frameReceived(Self.frame(.text, bytes, rsv1: true), now: now) == .deliver(.text(text)))
        // Fragmented: RSV1 on the first frame only.
        let half = bytes.count / 2
        #expect(
            machine.frameReceived(Self.frame(.text, Array(bytes[..<half]), fin: false, rsv1: true), now: now) == .none)
        #expect(
            machine.frameReceived(Self.frame(.continuation, Array(bytes[half...])), now: now) == .deliver(.text(text)))
        // An uncompressed message on the same connection.
        #expect(machine.frameReceived(Self.text("plain"), now: now) == .deliver(.text("plain")))
        let binary = ByteBuffer(repeating: 7, count: 1000)
        let deflated = try #require(try codec.deflate(binary))
        let frame = Self.frame(.binary, Array(deflated.readableBytesView), rsv1: true)
        #expect(machine.frameReceived(frame, now: now) == .deliver(.binary(binary)))
    }

    @Test func aCompressedMessageInflatingPastMaxMessageSizeFailsWith1009() throws {
        let codec = try Self.codec()
        var configuration = Server.Configuration.WebSocket()
        configuration.maxMessageSize = 1000
        let compressed = try #require(try codec.deflate(ByteBuffer(string: String(repeating: "a", count: 5000))))
        #expect(compressed.readableBytes < 1000)
        var machine = Machine(configuration: configuration, deflate: codec, now: ManualClock().now)
        let frame = Self.frame(.text, Array(compressed.readableBytesView), rsv1: true)
        let action = machine.frameReceived(frame, now: ManualClock().now)
        #expect(Self.matches(action, .fails(1009, .messageTooLarge)), "got \(action)")
    }

    @Test func compressionRulesFailWith1002() throws {
        let now = ManualClock().now
        var machine = Machine(configuration: .init(), deflate: try Self.codec(), now: now)
        #expect(machine.frameReceived(Self.frame(.text, [0x4A], fin: false, rsv1: true), now: now) == .none)
        let action = machine.frameReceived(Self.frame(.continuation, [0x04], rsv1: true), now: now)
        #expect(Self.matches(action, .fails(1002)), "RSV1 on a continuation: got \(action)")
        machine = Machine(configuration: .init(), deflate: try Self.codec(), now: now)
        let ping = machine.frameReceived(Self.frame(.ping, [], rsv1: true), now: now)
        #expect(Self.matches(ping, .fails(1002)), "RSV1 on a ping: got \(ping)")
        machine = Machine(configuration: .init(), deflate: try Self.codec(), now: now)
        let corrupt = machine.frameReceived(Self.frame(.text, [0xFF, 0xFF, 0xFF, 0xFF], rsv1: true), now: now)
        #expect(Self.matches(corrupt, .fails(1002)), "corrupt DEFLATE data: got \(corrupt)")
    }

    // MARK: The handshake

    /// A verdict, its message left out.
    enum Verdict: Sendable, Equatable {
        case notWebSocket
        case valid
        case invalid(Int)
    }

    struct HandshakeCase: Sendable, CustomTestStringConvertible {
        var name: String
        var method: HTTPMethod = .GET
        var version: NIOHTTP1.HTTPVersion = .http1_1
        var change: @Sendable (inout HTTPHeaders) -> Void = { _ in }
        var verdict: Verdict
        var testDescription: String { self.name }
    }

    static let handshakeFields: HTTPHeaders = [
        "Host": "example.com", "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
    ]

    static let handshakes: [HandshakeCase] = [
        HandshakeCase(name: "RFC 6455's example", verdict: .valid),
        HandshakeCase(
            name: "names in any case, Connection among others",
            change: {
                $0.replaceOrAdd(name: "upgrade", value: "WebSocket")
                $0.replaceOrAdd(name: "connection", value: "keep-alive, UPGRADE")
            },
            verdict: .valid),
        HandshakeCase(
            name: "a Content-Length of 0", change: { $0.add(name: "Content-Length", value: "0") }, verdict: .valid),
        HandshakeCase(name: "no Upgrade", change: { $0.remove(name: "Upgrade") }, verdict: .notWebSocket),
        HandshakeCase(
            name: "an Upgrade to h2c", change: { $0.replaceOrAdd(name: "Upgrade", value: "h2c") },
            verdict: .notWebSocket),
        HandshakeCase(name: "no Connection", change: { $0.remove(name: "Connection") }, verdict: .notWebSocket),
        HandshakeCase(
            name: "Connection without upgrade", change: { $0.replaceOrAdd(name: "Connection", value: "keep-alive") },
            verdict: .notWebSocket),
        HandshakeCase(name: "POST", method: .POST, verdict: .invalid(400)),
        HandshakeCase(name: "HTTP/1.0", version: .http1_0, verdict: .invalid(400)),
        HandshakeCase(
            name: "version 8", change: { $0.replaceOrAdd(name: "Sec-WebSocket-Version", value: "8") },
            verdict: .invalid(426)),
        HandshakeCase(name: "no version", change: { $0.remove(name: "Sec-WebSocket-Version") }, verdict: .invalid(426)),
        HandshakeCase(
            name: "two versions", change: { $0.add(name: "Sec-WebSocket-Version", value: "13") },
            verdict: .invalid(426)),
        HandshakeCase(name: "no key", change: { $0.remove(name: "Sec-WebSocket-Key") }, verdict: .invalid(400)),
        HandshakeCase(
            name: "two keys", change: { $0.add(name: "Sec-WebSocket-Key", value: "AAAAAAAAAAAAAAAAAAAAAA==") },
            verdict: .invalid(400)),
        HandshakeCase(
            name: "a key of 10 bytes",
            change: { $0.replaceOrAdd(name: "Sec-WebSocket-Key", value: "dGhlIHNhbXBsZQ==") },
            verdict: .invalid(400)),
        HandshakeCase(
            name: "a key without its padding",
            change: { $0.replaceOrAdd(name: "Sec-WebSocket-Key", value: "dGhlIHNhbXBsZSBub25jZQ") },
            verdict: .invalid(400)),
        HandshakeCase(
            name: "a key with a character outside base64",
            change: { $0.replaceOrAdd(name: "Sec-WebSocket-Key", value: "dGhlIHNhbXBsZSBub25jZ!==") },
            verdict: .invalid(400)),
        HandshakeCase(
            name: "a body", change: { $0.add(name: "Content-Length", value: "5") }, verdict: .invalid(400)),
        HandshakeCase(
            name: "a chunked body", change: { $0.add(name: "Transfer-Encoding", value: "chunked") },
            verdict: .invalid(400)),
    ]

    @Test(arguments: handshakes)
    func handshake(_ example: HandshakeCase) {
        var headers = Self.handshakeFields
        example.change(&headers)
        let head = HTTPRequestHead(version: example.version, method: example.method, uri: "/chat", headers: headers)
        let verdict: Verdict =
            switch WebSocketHandshake.check(head) {
            case .notWebSocket: .notWebSocket
            case .valid: .valid
            case .invalid(let status, let message):
                message.isEmpty ? .invalid(-1) : .invalid(status.code)
            }
        #expect(verdict == example.verdict)
    }

    /// RFC 8441 on an HTTP/2 stream: an extended CONNECT whose `:protocol` is websocket; no key is involved.
    @Test(arguments: [
        (HTTPMethod.CONNECT, "websocket", "13", Verdict.valid), (.CONNECT, "WebSocket", "13", .valid),
        (.CONNECT, "other", "13", .invalid(400)), (.GET, "websocket", "13", .invalid(400)),
        (.CONNECT, "websocket", "8", .invalid(426)),
    ])
    func extendedConnect(method: HTTPMethod, name: String, version: String, expected: Verdict) {
        let head = HTTPRequestHead(
            version: .http2, method: method, uri: "/chat", headers: ["Sec-WebSocket-Version": version])
        let verdict: Verdict =
            switch WebSocketHandshake.check(head, extendedConnect: name) {
            case .notWebSocket: .notWebSocket
            case .valid: .valid
            case .invalid(let status, _): .invalid(status.code)
            }
        #expect(verdict == expected)
        #expect(WebSocketHandshake.check(head, extendedConnect: nil) == .notWebSocket)
    }
}
