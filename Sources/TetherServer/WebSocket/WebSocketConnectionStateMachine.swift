import NIOCore
import NIOWebSocket
import TetherGateway

/// Every decision a WebSocket connection makes once its handshake is done, as a value: frames in, messages and
/// control frames out, the close handshake and its codes, fragmentation, limits, UTF-8, pings and their deadlines.
///
/// No socket and no clock: each input carries the time it happened where time matters, and returns the ``Action``
/// the connection's handler carries out; ``nextDeadline`` says when to call ``timerFired(now:)``.
struct WebSocketConnectionStateMachine<C: Clock> where C.Duration == Duration {
    /// How the application hears that the connection is over.
    struct Departure: Equatable {
        /// The close code `websocket.disconnect` carries (1006 when there was no close frame).
        var code: UInt16
        /// The close reason.
        var reason: String
        /// Why the application's work stops, if it had not closed.
        var cancellation: CancellationReason
    }

    /// What the handler does.
    enum Action: Equatable {
        /// Nothing.
        case none
        /// Hand this message to the application.
        case deliver(WebSocketMessage)
        /// Answer a ping.
        case pong(ByteBuffer)
        /// Send a ping, to learn whether the peer is still there.
        case ping(ByteBuffer)
        /// Send a close frame; the connection stays open for the peer's answer.
        case sendClose(code: UInt16, reason: String)
        /// Send a close frame first if `reply` is given, then close the connection; tell the application it is over
        /// if `departure` is given.
        case close(reply: (code: UInt16, reason: String)?, departure: Departure?)

        static func == (lhs: Action, rhs: Action) -> Bool {
            switch (lhs, rhs) {
            case (.none, .none): true
            case (.deliver(let a), .deliver(let b)): a == b
            case (.pong(let a), .pong(let b)), (.ping(let a), .ping(let b)): a == b
            case (.sendClose(let a, let r), .sendClose(let b, let s)): a == b && r == s
            case (.close(let a, let d), .close(let b, let e)): a?.code == b?.code && a?.reason == b?.reason && d == e
            default: false
            }
        }
    }

    private enum Phase: Equatable {
        /// Messages flow both ways.
        case open
        /// The server sent its close frame and waits for the peer's.
        case closeSent
        /// Over: every input is ignored.
        case closed
    }

    /// A data message arriving in fragments.
    private struct Fragments {
        var text: Bool
        var compressed: Bool
        var bytes: ByteBuffer
        /// Bytes at the start of an uncompressed text message already known to be UTF-8.
        var validated = 0
    }

    private let configuration: Server.Configuration.WebSocket
    /// The permessage-deflate codec, if the handshake negotiated it.
    private let deflate: PerMessageDeflate?
    private var phase = Phase.open
    private var fragments: Fragments?
    /// When to send the next ping.
    private var pingDeadline: C.Instant?
    /// When the unanswered ping's peer is given up on.
    private var pongDeadline: C.Instant?
    /// When the peer's answer to our close frame is given up on.
    private var closeDeadline: C.Instant?
    /// The payload of the ping awaiting its pong.
    private var pingPayload: UInt32 = 0

    init(configuration: Server.Configuration.WebSocket, deflate: PerMessageDeflate?, now: C.Instant) {
        self.configuration = configuration
        self.deflate = deflate
        self.pingDeadline = configuration.pingInterval.map { now.advanced(by: $0) }
    }

    /// The earliest deadline in force, if any.
    var nextDeadline: C.Instant? {
        // No array: this runs after every frame.
        var earliest = self.pingDeadline
        if let deadline = self.pongDeadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        if let deadline = self.closeDeadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        return earliest
    }

    // MARK: Frames from the peer

    /// The decoder made a frame.
    mutating func frameReceived(_ frame: WebSocketFrame, now: C.Instant) -> Action {
        guard self.phase != .closed else { return .none }
        // A client masks every frame (RFC 6455 §5.1).
        guard frame.maskKey != nil else { return self.fail(WebSocketCloseCode.protocolError, "unmasked frame") }
        guard !frame.rsv2, !frame.rsv3 else { return self.fail(WebSocketCloseCode.protocolError, "reserved bit set") }
        switch frame.opcode {
        case .text, .binary:
            if self.fragments != nil {
                return self.fail(WebSocketCloseCode.protocolError, "a new message began inside a fragmented one")
            }
            if frame.rsv1, self.deflate == nil {
                return self.fail(WebSocketCloseCode.protocolError, "RSV1 set without permessage-deflate")
            }
            let fragments = Fragments(text: frame.opcode == .text, compressed: frame.rsv1, bytes: frame.unmaskedData)
            return self.accumulate(fragments, fin: frame.fin)
        case .continuation:
            guard var fragments = self.fragments else {
                return self.fail(WebSocketCloseCode.protocolError, "continuation frame without a message")
            }
            guard !frame.rsv1 else { return self.fail(WebSocketCloseCode.protocolError, "RSV1 on a continuation") }
            self.fragments = nil
            var data = frame.unmaskedData
            fragments.bytes.writeBuffer(&data)
            return self.accumulate(fragments, fin: frame.fin)
        case .ping:
            guard !frame.rsv1 else { return self.fail(WebSocketCloseCode.protocolError, "RSV1 on a ping") }
            // Answered until the peer's close, even after the server's own (RFC 6455 §5.5.2).
            return .pong(frame.unmaskedData)
        case .pong:
            guard !frame.rsv1 else { return self.fail(WebSocketCloseCode.protocolError, "RSV1 on a pong") }
            // Any pong shows the peer is there; an unsolicited one is allowed as a heartbeat.
            if self.pongDeadline != nil {
                self.pongDeadline = nil
                self.pingDeadline = self.configuration.pingInterval.map { now.advanced(by: $0) }
            }
            return .none
        case .connectionClose:
            guard !frame.rsv1 else { return self.fail(WebSocketCloseCode.protocolError, "RSV1 on a close") }
            return self.closeReceived(frame.unmaskedData)
        default:
            return self.fail(WebSocketCloseCode.protocolError, "reserved opcode")
        }
    }

    /// A data frame's payload joined to its message: the message when it is complete, within the limit.
    private mutating func accumulate(_ fragments: Fragments, fin: Bool) -> Action {
        guard fragments.bytes.readableBytes <= self.configuration.maxMessageSize else {
            return self.fail(
                WebSocketCloseCode.messageTooBig, "message over \(self.configuration.maxMessageSize) bytes",
                cancelling: .messageTooLarge)
        }
        guard fin else {
            var fragments = fragments
            if fragments.text, !fragments.compressed {
                // Invalid text fails as soon as it arrives, not when its message ends (Autobahn's strict 6.4).
                guard let validated = UTF8Prefix.validate(fragments.bytes.readableBytesView, from: fragments.validated)
                else { return self.fail(WebSocketCloseCode.invalidPayload, "text is not UTF-8") }
                fragments.validated = validated
            }
            self.fragments = fragments
            return .none
        }
        var payload = fragments.bytes
        if fragments.compressed, let deflate = self.deflate {
            do {
                payload = try deflate.inflate(payload, maxSize: self.configuration.maxMessageSize)
            } catch .tooLarge {
                return self.fail(
                    WebSocketCloseCode.messageTooBig,
                    "message inflates past \(self.configuration.maxMessageSize) bytes", cancelling: .messageTooLarge)
            } catch {
                return self.fail(WebSocketCloseCode.protocolError, "corrupt compressed message")
            }
        }
        guard fragments.text else { return .deliver(.binary(payload)) }
        guard let text = String(validating: payload.readableBytesView, as: UTF8.self) else {
            return self.fail(WebSocketCloseCode.invalidPayload, "text is not UTF-8")
        }
        return .deliver(.text(text))
    }

    /// The peer's close frame: answered (if the server had not closed first), then the connection closes.
    private mutating func closeReceived(_ payload: ByteBuffer) -> Action {
        var payload = payload
        var code = WebSocketCloseCode.noStatusReceived
        var reason = ""
        if payload.readableBytes == 1 { return self.fail(WebSocketCloseCode.protocolError, "one-byte close payload") }
        if let received = payload.readInteger(as: UInt16.self) {
            // A peer may send what an endpoint may: the registered codes meant for the wire, and 3000–4999.
            guard WebSocketCloseCode.isSendable(received) else {
                return self.fail(WebSocketCloseCode.protocolError, "invalid close code \(received)")
            }
            guard let text = String(validating: payload.readableBytesView, as: UTF8.self) else {
                return self.fail(WebSocketCloseCode.invalidPayload, "close reason is not UTF-8")
            }
            (code, reason) = (received, text)
        }
        let departure = Departure(code: code, reason: reason, cancellation: .closeFrame)
        let wasOpen = self.phase == .open
        self.phase = .closed
        self.clearDeadlines()
        // The server closes the TCP connection first (RFC 6455 §7.1.1), once its answer is written.
        guard wasOpen else { return .close(reply: nil, departure: departure) }
        let reply = code == WebSocketCloseCode.noStatusReceived ? WebSocketCloseCode.normalClosure : code
        return .close(reply: (reply, ""), departure: departure)
    }

    /// Fails the connection (RFC 6455 §7.1.7): a close frame with `code`, then the connection closes.
    private mutating func fail(
        _ code: UInt16, _ reason: String, cancelling: CancellationReason = .protocolError
    ) -> Action {
        let wasOpen = self.phase == .open
        self.phase = .closed
        self.fragments = nil
        self.clearDeadlines()
        let departure = Departure(code: code, reason: reason, cancellation: cancelling)
        return .close(reply: wasOpen ? (code, "") : nil, departure: departure)
    }

    /// The decoder refused a frame: one over `maxFrameSize`, or a control frame fragmented or over 125 bytes.
    mutating func decoderFailed(_ error: NIOWebSocketError) -> Action {
        guard self.phase != .closed else { return .none }
        switch error {
        case .invalidFrameLength:
            return self.fail(
                WebSocketCloseCode.messageTooBig, "frame over \(self.configuration.maxFrameSize) bytes",
                cancelling: .messageTooLarge)
        case .fragmentedControlFrame, .multiByteControlFrameLength:
            return self.fail(WebSocketCloseCode.protocolError, "invalid control frame")
        }
    }

    // MARK: The application and the connection

    /// The application sends a message: whether it goes out (not once either side has closed).
    func messageToSend() -> Bool {
        self.phase == .open
    }

    /// The application closes with `code` and `reason`: the close frame goes out, and the peer has
    /// `closeTimeout` to answer.
    mutating func applicationClosed(code: UInt16, reason: String, now: C.Instant) -> Action {
        guard self.phase == .open else { return .none }
        self.phase = .closeSent
        // The peer may still finish a message it began (RFC 6455 §5.5.1).
        self.clearDeadlines()
        self.closeDeadline = now.advanced(by: self.configuration.closeTimeout)
        return .sendClose(code: code, reason: reason)
    }

    /// The server is shutting down: the peer is told it is going away, and the application's work is cancelled.
    mutating func shutdown() -> Action {
        guard self.phase != .closed else { return .none }
        let wasOpen = self.phase == .open
        self.phase = .closed
        self.clearDeadlines()
        let departure = Departure(
            code: WebSocketCloseCode.goingAway, reason: "server shutdown", cancellation: .serverShutdown)
        return .close(reply: wasOpen ? (WebSocketCloseCode.goingAway, "server shutdown") : nil, departure: departure)
    }

    /// The connection closed (FIN, RST, or our own close): the application hears 1006 unless it already heard.
    mutating func connectionClosed(_ cancellation: CancellationReason) -> Action {
        guard self.phase != .closed else { return .none }
        self.phase = .closed
        self.clearDeadlines()
        let departure = Departure(
            code: WebSocketCloseCode.abnormalClosure, reason: "", cancellation: cancellation)
        return .close(reply: nil, departure: departure)
    }

    /// The timer fired: a ping is due, a ping went unanswered, or the peer never answered our close.
    mutating func timerFired(now: C.Instant) -> Action {
        guard self.phase != .closed else { return .none }
        if let deadline = self.closeDeadline, deadline <= now {
            return self.connectionClosed(.clientUnreachable)
        }
        if let deadline = self.pongDeadline, deadline <= now {
            self.phase = .closed
            self.clearDeadlines()
            let departure = Departure(
                code: WebSocketCloseCode.abnormalClosure, reason: "ping timeout", cancellation: .pingTimeout)
            return .close(reply: nil, departure: departure)
        }
        if let deadline = self.pingDeadline, deadline <= now, self.phase == .open {
            self.pingDeadline = nil
            self.pongDeadline = now.advanced(by: self.configuration.pongTimeout)
            self.pingPayload &+= 1
            var payload = ByteBuffer()
            payload.writeInteger(self.pingPayload)
            return .ping(payload)
        }
        return .none
    }

    private mutating func clearDeadlines() {
        (self.pingDeadline, self.pongDeadline, self.closeDeadline) = (nil, nil, nil)
    }
}

/// UTF-8 validation of a message whose end has not arrived yet.
enum UTF8Prefix {
    /// Validates `bytes` from `start` (a scalar boundary) up to its last complete scalar; returns where the
    /// validated part now ends, or `nil` if the bytes cannot begin valid UTF-8, the incomplete last scalar included.
    static func validate(_ bytes: ByteBufferView, from start: Int) -> Int? {
        let end = bytes.count
        guard end > start else { return start }
        var cut = end
        // A scalar is at most four bytes: its lead byte is among the last four if it is incomplete.
        for back in 1...min(4, end - start) {
            let byte = bytes[bytes.startIndex + end - back]
            guard byte & 0xC0 == 0x80 else {
                if let length = Self.length(ofLead: byte), length > back { cut = end - back }
                break
            }
        }
        let whole = bytes[(bytes.startIndex + start)..<(bytes.startIndex + cut)]
        guard String(validating: whole, as: UTF8.self) != nil else { return nil }
        guard cut < end else { return cut }
        // The incomplete scalar, completed with the smallest continuation bytes, must be valid: E0 80 or F4 90
        // can never begin a scalar. A lone lead byte only has to be a lead byte.
        var tail = Array(bytes[(bytes.startIndex + cut)...])
        guard let length = Self.length(ofLead: tail[0]) else { return nil }
        if tail.count == 1 { return cut }
        while tail.count < length { tail.append(0x80) }
        return String(validating: tail, as: UTF8.self) != nil ? cut : nil
    }

    /// The length of the scalar a lead byte begins, or `nil` if it begins none.
    private static func length(ofLead byte: UInt8) -> Int? {
        switch byte {
        case 0x00...0x7F: 1
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: nil
        }
    }
}
