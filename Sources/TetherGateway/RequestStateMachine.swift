import HTTPTypes
import NIOCore

/// The request side of the event contract as a value: what `receive()` returns, when reads pause and resume, when
/// `100 Continue` goes out, when the request's task is cancelled, and how the request ended.
///
/// It holds no continuation, no clock and no socket. A server keeps one per request (an HTTP/1.1 exchange, an
/// HTTP/2 stream) under its lock, and so does `ApplicationCommunicator`: each feeds it what happens and carries out
/// the actions it returns, so the contract has one definition.
public struct RequestStateMachine: Sendable {
    /// What the machine needs to know about the request and its server.
    public struct Configuration: Sendable, Hashable {
        /// Body bytes buffered ahead of the application before reads pause; reads resume below half of it.
        public var bufferLimit: Int
        /// Whether the client sent `Expect: 100-continue` and waits for `100 Continue` before its body.
        public var expectsContinue: Bool
        /// Whether the request is HEAD, whose response carries no body on the wire.
        public var isHead: Bool
        /// Whether the client leaving drops queued events the application has not received (a server: nobody
        /// will use them) rather than delivering them ahead of `disconnect` (a test tool playing a script).
        public var discardsQueueOnDisconnect: Bool

        /// A configuration; the defaults are a server's.
        public init(
            bufferLimit: Int = 256 * 1024, expectsContinue: Bool = false, isHead: Bool = false,
            discardsQueueOnDisconnect: Bool = true
        ) {
            self.bufferLimit = bufferLimit
            self.expectsContinue = expectsContinue
            self.isHead = isHead
            self.discardsQueueOnDisconnect = discardsQueueOnDisconnect
        }
    }

    /// What to do after the transport delivered input.
    public enum InputAction: Sendable, Equatable {
        /// Nothing.
        case none
        /// Resume the waiting `receive()` with this event.
        case resume(InboundEvent)
        /// Stop reading from the client: the application is behind by the buffer limit.
        case pauseReads
    }

    /// What to do when the client has left or the server ends the request.
    public struct DisconnectAction: Sendable, Equatable {
        /// Resume the waiting `receive()` with `disconnect`.
        public var resumeWaiter: Bool
        /// Cancel the request's task: its response is not complete, so its work is abandoned.
        public var cancelTask: Bool
    }

    /// What to do when the application calls `receive()`.
    public enum ReceiveAction: Sendable, Equatable {
        /// Return this event now; resume reads first if `resumeReads`, and write `100 Continue` if `sendContinue`.
        case deliver(InboundEvent, resumeReads: Bool, sendContinue: Bool)
        /// Park the caller until an input resumes it; write `100 Continue` first if `sendContinue`.
        case wait(sendContinue: Bool)
        /// Throw: the call breaks the contract.
        case fail(ProtocolError)
    }

    /// What to do with an outbound event the machine accepted.
    public struct SendAction: Sendable, Equatable {
        /// Whether body bytes go on the wire (not for HEAD, 1xx, 204 or 304).
        public var bodyAllowed: Bool
        /// Resume the waiting `receive()` with `disconnect`: the response is complete.
        public var resumeWaiter: Bool
        /// Whether the body is complete and the trailers it promised are still to come: the message does not end
        /// with it.
        public var awaitsTrailers = false
    }

    /// How the request ends once the application has returned or thrown.
    public enum Completion: Sendable, Equatable {
        /// The response is complete.
        case completed
        /// Nothing was sent and the client is there: the server answers 500 on the application's behalf.
        case respondWithServerError
        /// The response began but cannot be finished: the connection (or stream) must be closed.
        case abortResponse
        /// The request was cancelled for `reason`: nothing more is written.
        case cancelled(CancellationReason)
    }

    /// The configuration.
    public let configuration: Configuration
    /// Events the application has not received yet; a received event leaves the queue at once.
    private var queue = CircularBuffer<InboundEvent>()
    /// Bytes of body chunks in `queue`.
    public private(set) var bufferedBytes = 0
    /// Whether the transport has delivered the end of the body.
    public private(set) var bodyEnded = false
    /// Whether the application has received the last body chunk.
    public private(set) var bodyReceived = false
    /// Why the request's work was stopped, once it has been: the first reason wins.
    public private(set) var cancellationReason: CancellationReason?
    /// The response's progress.
    public private(set) var response = ResponseStateMachine()
    /// The response's status, once sent.
    public private(set) var status: HTTPResponse.Status?
    /// Response body bytes the application has sent.
    public private(set) var bytesSent: Int64 = 0
    /// Request body bytes the transport has delivered.
    public private(set) var bytesReceived: Int64 = 0
    /// Whether a `receive()` is parked.
    public private(set) var isWaiting = false
    /// Whether reads are paused for back-pressure.
    public private(set) var readsPaused = false
    private var continuePending: Bool

    /// A request whose head has arrived and whose body has not begun.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.continuePending = configuration.expectsContinue
    }

    // MARK: Transport side

    /// A body chunk arrived from the client.
    public mutating func bodyChunkArrived(_ chunk: ByteBuffer) -> InputAction {
        guard !self.isDisconnected, !self.bodyEnded else { return .none }
        self.bytesReceived += Int64(chunk.readableBytes)
        if self.isWaiting {
            self.isWaiting = false
            return .resume(.body(chunk, more: true))
        }
        self.queue.append(.body(chunk, more: true))
        self.bufferedBytes += chunk.readableBytes
        if !self.readsPaused, self.bufferedBytes >= self.configuration.bufferLimit {
            self.readsPaused = true
            return .pauseReads
        }
        return .none
    }

    /// The body is complete: the last queued chunk, or an empty one, carries `more: false`.
    public mutating func bodyEndArrived() -> InputAction {
        guard !self.isDisconnected, !self.bodyEnded else { return .none }
        self.bodyEnded = true
        if self.isWaiting {
            self.isWaiting = false
            self.bodyReceived = true
            return .resume(.body(ByteBuffer(), more: false))
        }
        if let last = self.queue.indices.last, case .body(let chunk, more: true) = self.queue[last] {
            self.queue[last] = .body(chunk, more: false)
        } else {
            self.queue.append(.body(ByteBuffer(), more: false))
        }
        return .none
    }

    /// Any inbound event, as a test tool scripts it: body events delivered in order (without back-pressure),
    /// `disconnect` as ``disconnected(_:)`` with ``CancellationReason/clientClosed``, and other events (lifespan,
    /// or a body event where none belongs) queued as they are. Nothing arrives after `disconnect`.
    public mutating func eventArrived(_ event: InboundEvent) -> InputAction {
        guard !self.isDisconnected else { return .none }
        switch event {
        case .disconnect:
            return self.disconnected(.clientClosed).resumeWaiter ? .resume(.disconnect) : .none
        case .body(let chunk, let more) where !self.bodyEnded:
            self.bytesReceived += Int64(chunk.readableBytes)
            if self.isWaiting {
                self.isWaiting = false
                if !more { (self.bodyEnded, self.bodyReceived) = (true, true) }
                return .resume(event)
            }
            self.queue.append(event)
            self.bufferedBytes += chunk.readableBytes
            if !more { self.bodyEnded = true }
            return .none
        default:
            if self.isWaiting {
                self.isWaiting = false
                return .resume(event)
            }
            self.queue.append(event)
            return .none
        }
    }

    /// The client left, or the server ends the request, for `reason`: every later `receive()` returns
    /// `disconnect`, `send` throws ``ClientDisconnected``, and an incomplete response's task is cancelled.
    public mutating func disconnected(_ reason: CancellationReason) -> DisconnectAction {
        guard !self.isDisconnected else { return DisconnectAction(resumeWaiter: false, cancelTask: false) }
        let cancel = !self.response.isComplete
        // A reason is recorded only where work is abandoned; a client leaving after its response changes nothing.
        self.cancellationReason = cancel ? reason : nil
        self.isDisconnected = true
        if self.configuration.discardsQueueOnDisconnect {
            self.queue.removeAll()
            self.bufferedBytes = 0
        }
        let resume = self.isWaiting
        self.isWaiting = false
        return DisconnectAction(resumeWaiter: resume, cancelTask: cancel)
    }

    /// Whether the client has gone (or the server ended the request).
    public private(set) var isDisconnected = false

    // MARK: Application side

    /// The application calls `receive()`.
    public mutating func receive() -> ReceiveAction {
        let sendContinue = self.continuePending && !self.response.hasStarted && !self.isDisconnected && !self.bodyEnded
        self.continuePending = false
        if self.response.isComplete {
            return .deliver(.disconnect, resumeReads: false, sendContinue: false)
        }
        if let event = self.queue.popFirst() {
            var resumeReads = false
            if case .body(let chunk, let more) = event {
                self.bufferedBytes -= chunk.readableBytes
                if !more { self.bodyReceived = true }
                if self.readsPaused, self.bufferedBytes < self.configuration.bufferLimit / 2 {
                    self.readsPaused = false
                    resumeReads = true
                }
            }
            return .deliver(event, resumeReads: resumeReads, sendContinue: sendContinue)
        }
        if self.isDisconnected {
            return .deliver(.disconnect, resumeReads: false, sendContinue: false)
        }
        guard !self.isWaiting else {
            return .fail(
                ProtocolError("receive() called while another receive() is waiting; receive one event at a time"))
        }
        self.isWaiting = true
        return .wait(sendContinue: sendContinue)
    }

    /// The parked `receive()` was cancelled; returns whether one was parked (and must be resumed by the caller).
    public mutating func receiveCancelled() -> Bool {
        defer { self.isWaiting = false }
        return self.isWaiting
    }

    /// The application calls `send(_:)` with `event`: throws ``ClientDisconnected`` once the request is over, or the
    /// ``ProtocolError`` of an event out of order, and leaves the state as it was.
    public mutating func send(_ event: OutboundEvent) throws -> SendAction {
        if self.isDisconnected { throw ClientDisconnected() }
        try self.response.accept(event)
        switch event {
        case .start(let status, _, _): self.status = status
        case .body(let chunk, _): self.bytesSent += Int64(chunk.readableBytes)
        case .file(let range): self.bytesSent += range.count
        default: break
        }
        let resume = self.response.isComplete && self.isWaiting
        if resume { self.isWaiting = false }
        return SendAction(
            bodyAllowed: self.bodyAllowed, resumeWaiter: resume,
            awaitsTrailers: self.response.state == .awaitingTrailers)
    }

    /// The application returned (or threw): how the request ends.
    public func completion() -> Completion {
        if let reason = self.cancellationReason { return .cancelled(reason) }
        if self.response.isComplete { return .completed }
        return self.response.hasStarted ? .abortResponse : .respondWithServerError
    }

    /// HEAD responses and 1xx, 204 and 304 carry no body on the wire.
    private var bodyAllowed: Bool {
        guard !self.configuration.isHead else { return false }
        guard let code = self.status?.code else { return true }
        return code >= 200 && code != 204 && code != 304
    }
}
