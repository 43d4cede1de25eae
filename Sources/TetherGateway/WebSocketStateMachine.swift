import HTTPTypes
import NIOCore

/// The WebSocket side of the event contract as a value: the order of a WebSocket scope's events, what `receive()`
/// returns, when reads pause and resume, and when the application's task is cancelled.
///
/// `websocket.connect` first; then the application accepts, or denies with `websocket.close` (403) or an HTTP
/// response; once accepted, messages both ways until either side closes. It holds no continuation and no socket:
/// a server keeps one per WebSocket connection under its lock and a test tool one per scope, as for
/// ``RequestStateMachine``.
public struct WebSocketStateMachine: Sendable {
    /// What the machine needs to know about its server.
    public struct Configuration: Sendable, Hashable {
        /// Message bytes queued ahead of the application before reads pause; reads resume below half of it.
        public var bufferLimit: Int
        /// Whether the peer leaving drops queued messages the application has not received (a server) rather than
        /// delivering them ahead of `websocket.disconnect` (a test tool playing a script).
        public var discardsQueueOnDisconnect: Bool

        /// A configuration; the defaults are a server's.
        public init(bufferLimit: Int = 1 << 20, discardsQueueOnDisconnect: Bool = true) {
            self.bufferLimit = bufferLimit
            self.discardsQueueOnDisconnect = discardsQueueOnDisconnect
        }
    }

    /// Where the handshake stands.
    public enum Handshake: Sendable, Hashable {
        /// The application has not received `websocket.connect` yet.
        case pending
        /// The application has `websocket.connect` and must accept or deny.
        case connecting
        /// The application accepted: messages flow.
        case accepted
        /// The application denied with an HTTP response, whose progress this is.
        case denied(ResponseStateMachine)
    }

    /// What to do after the transport delivered a message.
    public enum InputAction: Sendable, Equatable {
        /// Nothing.
        case none
        /// Resume the waiting `receive()` with this event.
        case resume(InboundEvent)
        /// Stop reading from the peer: the application is behind by the buffer limit.
        case pauseReads
    }

    /// What to do when the connection is over.
    public struct DisconnectAction: Sendable, Equatable {
        /// Resume the waiting `receive()` with `websocket.disconnect`.
        public var resumeWaiter: Bool
        /// Cancel the application's task: it had not closed the connection, so its work is abandoned.
        public var cancelTask: Bool
    }

    /// What to do when the application calls `receive()`.
    public enum ReceiveAction: Sendable, Equatable {
        /// Return this event now; resume reads first if `resumeReads`.
        case deliver(InboundEvent, resumeReads: Bool)
        /// Park the caller until an input resumes it.
        case wait
        /// Throw: the call breaks the contract.
        case fail(ProtocolError)
    }

    /// What the server does with an outbound event the machine accepted.
    public enum SendAction: Sendable, Equatable {
        /// Finish the handshake: `101 Switching Protocols` with `subprotocol` and `headers`.
        case accept(subprotocol: String?, headers: HTTPFields)
        /// Send a message to the peer.
        case send(WebSocketMessage)
        /// Send a close frame, then close once the peer answers (or its time is up).
        case close(code: UInt16, reason: String)
        /// Deny the handshake with this part of an HTTP response (`bodyAllowed` is false for 204 and 304); the
        /// connection closes once the response is complete.
        case deny(OutboundEvent, bodyAllowed: Bool)
        /// Deny the handshake with `403 Forbidden` and close.
        case denyForbidden
    }

    /// How the connection ends once the application has returned or thrown.
    public enum Completion: Sendable, Equatable {
        /// The application closed, or its denial is complete: nothing is left to do but finish closing.
        case completed
        /// The application never answered the handshake: deny it with 403.
        case denyForbidden
        /// The application accepted and returned without closing: close with 1000 (or 1011 if it threw).
        case close
        /// The application began a denial and did not finish it: close the connection.
        case abortDenial
        /// The peer left first, for `reason`: nothing more is written.
        case cancelled(CancellationReason)
    }

    /// The configuration.
    public let configuration: Configuration
    /// Where the handshake stands.
    public private(set) var handshake = Handshake.pending
    /// Whether the application has closed the connection (or completed its denial): its work is done.
    public private(set) var applicationClosed = false
    /// The close code and reason the application's `websocket.disconnect` carries, once the connection is over.
    public private(set) var disconnect: (code: UInt16, reason: String)?
    /// Why the application's work was stopped, once it has been.
    public private(set) var cancellationReason: CancellationReason?
    /// Messages the application has not received yet.
    private var queue = CircularBuffer<WebSocketMessage>()
    /// Bytes of the messages in `queue`.
    public private(set) var bufferedBytes = 0
    /// Whether a `receive()` is parked.
    public private(set) var isWaiting = false
    /// Whether reads are paused for back-pressure.
    public private(set) var readsPaused = false
    /// Messages the application sent.
    public private(set) var messagesSent = 0
    /// Messages the application received.
    public private(set) var messagesReceived = 0
    /// The status of the application's denial, once it sent one.
    public private(set) var denialStatus: HTTPResponse.Status?

    /// A connection whose handshake request has arrived.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Whether the connection is over: `websocket.disconnect` is what `receive()` returns from now on.
    public var isDisconnected: Bool { self.disconnect != nil }

    // MARK: Transport side

    /// A complete message arrived from the peer.
    public mutating func messageArrived(_ message: WebSocketMessage) -> InputAction {
        guard !self.isDisconnected, self.handshake == .accepted else { return .none }
        if self.isWaiting {
            self.isWaiting = false
            self.messagesReceived += 1
            return .resume(.websocketReceive(message))
        }
        self.queue.append(message)
        self.bufferedBytes += message.byteCount
        if !self.readsPaused, self.bufferedBytes >= self.configuration.bufferLimit {
            self.readsPaused = true
            return .pauseReads
        }
        return .none
    }

    /// The connection is over, with the peer's close `code` and `reason` (1006 when it left without a close
    /// frame), for `cancelling`: the application's task is cancelled unless it had closed.
    public mutating func disconnected(code: UInt16, reason: String = "", cancelling: CancellationReason)
        -> DisconnectAction
    {
        guard !self.isDisconnected else { return DisconnectAction(resumeWaiter: false, cancelTask: false) }
        self.disconnect = (code, reason)
        let cancel = !self.applicationClosed
        if cancel { self.cancellationReason = cancelling }
        if self.configuration.discardsQueueOnDisconnect {
            self.queue.removeAll()
            self.bufferedBytes = 0
        }
        let resume = self.isWaiting
        self.isWaiting = false
        return DisconnectAction(resumeWaiter: resume, cancelTask: cancel)
    }

    /// Any inbound event, as a test tool scripts it: `websocket.receive` as ``messageArrived(_:)`` (no
    /// back-pressure), `websocket.disconnect` as ``disconnected(code:reason:cancelling:)`` (a close frame, or the
    /// connection lost for 1006); `websocket.connect` is implied, and other events are out of place.
    public mutating func eventArrived(_ event: InboundEvent) -> InputAction {
        switch event {
        case .websocketReceive(let message):
            guard !self.isDisconnected else { return .none }
            if self.isWaiting {
                self.isWaiting = false
                self.messagesReceived += 1
                return .resume(event)
            }
            self.queue.append(message)
            self.bufferedBytes += message.byteCount
            return .none
        case .websocketDisconnect(let code, let reason):
            let departure: CancellationReason = code == WebSocketCloseCode.abnormalClosure ? .clientClosed : .closeFrame
            let action = self.disconnected(code: code, reason: reason, cancelling: departure)
            return action.resumeWaiter ? .resume(event) : .none
        default:
            return .none
        }
    }

    // MARK: Application side

    /// The application calls `receive()`.
    public mutating func receive() -> ReceiveAction {
        if self.handshake == .pending {
            self.handshake = .connecting
            return .deliver(.websocketConnect, resumeReads: false)
        }
        if let message = self.queue.popFirst() {
            self.bufferedBytes -= message.byteCount
            self.messagesReceived += 1
            var resumeReads = false
            if self.readsPaused, self.bufferedBytes < self.configuration.bufferLimit / 2 {
                self.readsPaused = false
                resumeReads = true
            }
            return .deliver(.websocketReceive(message), resumeReads: resumeReads)
        }
        if let (code, reason) = self.disconnect {
            return .deliver(.websocketDisconnect(code: code, reason: reason), resumeReads: false)
        }
        guard !self.isWaiting else {
            return .fail(
                ProtocolError("receive() called while another receive() is waiting; receive one event at a time"))
        }
        self.isWaiting = true
        return .wait
    }

    /// The parked `receive()` was cancelled; returns whether one was parked (and must be resumed by the caller).
    public mutating func receiveCancelled() -> Bool {
        defer { self.isWaiting = false }
        return self.isWaiting
    }

    /// The application calls `send(_:)` with `event`: throws ``ClientDisconnected`` once the connection is over, or
    /// the ``ProtocolError`` of an event out of order, and leaves the state as it was.
    public mutating func send(_ event: OutboundEvent) throws -> SendAction {
        if self.isDisconnected { throw ClientDisconnected() }
        switch (self.handshake, event) {
        case (.pending, _):
            throw ProtocolError("\(event) sent before websocket.connect was received; receive it first")
        case (.connecting, .websocketAccept(let subprotocol, let headers)):
            self.handshake = .accepted
            return .accept(subprotocol: subprotocol, headers: headers)
        case (.connecting, .websocketClose):
            var response = ResponseStateMachine()
            try? response.accept(.start(status: .forbidden, headers: [:]))
            try? response.accept(.body(ByteBuffer(), more: false))
            self.handshake = .denied(response)
            self.denialStatus = .forbidden
            self.applicationClosed = true
            return .denyForbidden
        case (.connecting, .start), (.denied, .start), (.denied, .body), (.denied, .trailers):
            var response = ResponseStateMachine()
            if case .denied(let started) = self.handshake { response = started }
            if case .start(let status, _, _) = event, status.code < 200 {
                throw ProtocolError("a WebSocket denial is a final response, not \(status.code)")
            }
            try response.accept(event)
            if case .start(let status, _, _) = event { self.denialStatus = status }
            self.handshake = .denied(response)
            if response.isComplete { self.applicationClosed = true }
            let code = self.denialStatus?.code ?? 200
            return .deny(event, bodyAllowed: code != 204 && code != 304)
        case (.accepted, .websocketSend(let message)) where !self.applicationClosed:
            self.messagesSent += 1
            return .send(message)
        case (.accepted, .websocketClose(let code, let reason)) where !self.applicationClosed:
            guard WebSocketCloseCode.isSendable(code) else {
                throw ProtocolError(
                    "websocket.close with code \(code): send 1000, another registered code, or 3000–4999")
            }
            guard reason.utf8.count <= 123 else {
                throw ProtocolError("websocket.close reason of \(reason.utf8.count) bytes: a close frame holds 123")
            }
            self.applicationClosed = true
            return .close(code: code, reason: reason)
        case (.accepted, .websocketSend), (.accepted, .websocketClose):
            throw ProtocolError("\(event) sent after websocket.close")
        case (.accepted, .websocketAccept), (.denied, .websocketAccept):
            throw ProtocolError("websocket.accept sent twice, or after a denial")
        case (.connecting, .websocketSend):
            throw ProtocolError("websocket.send before websocket.accept; accept the connection first")
        case (.denied, _):
            throw ProtocolError("\(event) sent during an HTTP denial; only its response events may follow")
        case (.accepted, _), (.connecting, _):
            throw ProtocolError("\(event) is not an event of a WebSocket scope")
        }
    }

    /// The application returned (or threw): how the connection ends.
    public func completion() -> Completion {
        if let reason = self.cancellationReason { return .cancelled(reason) }
        if self.applicationClosed || self.isDisconnected { return .completed }
        switch self.handshake {
        case .pending, .connecting: return .denyForbidden
        case .accepted: return .close
        case .denied: return .abortDenial
        }
    }
}
