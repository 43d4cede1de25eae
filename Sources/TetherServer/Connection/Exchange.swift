import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import TetherGateway

/// One request's two channels, shared by the connection's event loop (which feeds them) and the application
/// (which reads and writes through them).
///
/// The event loop side pushes body parts and reports the client leaving; the application side is `receive`
/// and `send`. Every field lives under one lock, and no call waits while holding it.
final class Exchange: Sendable {
    struct State {
        /// Chunks the application has not received yet; a received chunk leaves the queue at once.
        var body = CircularBuffer<ByteBuffer>()
        var bufferedBytes = 0
        var bodyEnded = false
        var endDelivered = false
        var clientGone = false
        var response = ResponseStateMachine()
        var waiter: CheckedContinuation<InboundEvent, any Error>?
        var readsPaused = false
        var continueNeeded: Bool
        var bytesSent: Int64 = 0
        var status: HTTPResponse.Status?

        /// The event `receive()` returns now, and whether reads resume, or `nil` when it must wait.
        mutating func nextEvent(bufferLimit: Int) -> (InboundEvent, resumeReads: Bool)? {
            if self.clientGone || self.response.isComplete { return (.disconnect, false) }
            if let chunk = self.body.popFirst() {
                self.bufferedBytes -= chunk.readableBytes
                let last = self.bodyEnded && self.body.isEmpty
                if last { self.endDelivered = true }
                let resume = self.readsPaused && self.bufferedBytes < bufferLimit / 2
                if resume { self.readsPaused = false }
                return (.body(chunk, more: !last), resume)
            }
            if self.bodyEnded, !self.endDelivered {
                self.endDelivered = true
                return (.body(ByteBuffer(), more: false), false)
            }
            return nil
        }
    }

    let state: NIOLockedValueBox<State>
    let channel: any Channel
    let requestHead: HTTPRequestHead
    let keepAlive: Bool
    /// Body bytes buffered ahead of the application before reads pause (`Server.Configuration.bodyBufferBytes`).
    let bodyBufferBytes: Int
    /// The `Server` header's value, if any.
    let serverName: String?
    /// Where the client leaving before the response is complete is reported, to cancel the request's task.
    let events: Mailbox<RequestEvent>

    init(
        channel: any Channel, head: HTTPRequestHead, keepAlive: Bool, configuration: Server.Configuration,
        events: Mailbox<RequestEvent>
    ) {
        self.channel = channel
        self.events = events
        self.requestHead = head
        self.keepAlive = keepAlive
        self.bodyBufferBytes = configuration.bodyBufferBytes
        self.serverName = configuration.serverName
        let expectsContinue = head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
        self.state = NIOLockedValueBox(State(continueNeeded: expectsContinue && head.version == .http1_1))
    }

    // MARK: Event loop side

    /// Queues a body chunk, or hands it straight to a waiting `receive()`; past the buffer limit, reads pause.
    func bodyArrived(_ chunk: ByteBuffer) {
        let waiter = self.state.withLockedValue { state -> CheckedContinuation<InboundEvent, any Error>? in
            guard !state.clientGone else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.body.append(chunk)
            state.bufferedBytes += chunk.readableBytes
            if state.bufferedBytes >= self.bodyBufferBytes { state.readsPaused = true }
            return nil
        }
        waiter?.resume(returning: .body(chunk, more: true))
    }

    /// Whether reads must wait for the application.
    var readsPaused: Bool {
        self.state.withLockedValue { $0.readsPaused && !$0.clientGone }
    }

    /// The body is complete.
    func bodyEnded() {
        let waiter = self.state.withLockedValue { state -> CheckedContinuation<InboundEvent, any Error>? in
            state.bodyEnded = true
            guard state.body.isEmpty, !state.endDelivered, let waiter = state.waiter else { return nil }
            state.waiter = nil
            state.endDelivered = true
            return waiter
        }
        waiter?.resume(returning: .body(ByteBuffer(), more: false))
    }

    /// The client has gone: every `receive()` returns `disconnect` from now on, `send` throws, and the request's
    /// task is cancelled if its response is not complete.
    func clientLeft() {
        let (waiter, cancel) = self.state.withLockedValue { state -> (CheckedContinuation<InboundEvent, any Error>?, Bool) in
            let cancel = !state.clientGone && !state.response.isComplete
            state.clientGone = true
            state.body.removeAll()
            state.bufferedBytes = 0
            defer { state.waiter = nil }
            return (state.waiter, cancel)
        }
        waiter?.resume(returning: .disconnect)
        if cancel { self.events.deliver(.departed) }
    }

    // MARK: Application side

    /// The application's `receive`.
    @Sendable func receive() async throws -> InboundEvent {
        let limit = self.bodyBufferBytes
        let (ready, sendContinue) = try self.state.withLockedValue { state throws -> ((InboundEvent, Bool)?, Bool) in
            // 100 Continue goes out the first time the application asks for the body, unless it already answered.
            let sendContinue = state.continueNeeded && !state.response.hasStarted && !state.clientGone
            state.continueNeeded = false
            if let next = state.nextEvent(bufferLimit: limit) { return (next, sendContinue) }
            guard state.waiter == nil else {
                throw ProtocolError("receive() called while another receive() is waiting; receive one event at a time")
            }
            return (nil, sendContinue)
        }
        if sendContinue { self.writeContinue() }
        if let (event, resumeReads) = ready {
            if resumeReads { self.channel.read() }
            return event
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // Check again under the lock that registers the waiter: the event loop may have queued
                // a chunk since, and a waiter must only ever stand in front of an empty queue.
                let immediate = self.state.withLockedValue { state -> (Result<InboundEvent, any Error>, Bool)? in
                    if let (event, resumeReads) = state.nextEvent(bufferLimit: limit) { return (.success(event), resumeReads) }
                    if Task.isCancelled { return (.failure(CancellationError()), false) }
                    state.waiter = continuation
                    return nil
                }
                if let (result, resumeReads) = immediate {
                    if resumeReads { self.channel.read() }
                    continuation.resume(with: result)
                }
            }
        } onCancel: {
            self.state.withLockedValue { state in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume(throwing: CancellationError())
        }
    }

    private func writeContinue() {
        let head = HTTPResponseHead(version: self.requestHead.version, status: .continue)
        self.channel.writeAndFlush(HTTPServerResponsePart.head(head), promise: nil)
    }

    /// Where the exchange stands, read under one lock.
    struct Outcome {
        var responseStarted: Bool
        var responseComplete: Bool
        var clientGone: Bool
        var bodyComplete: Bool
        var status: HTTPResponse.Status?
        var bytesSent: Int64
    }

    /// Where the exchange stands now.
    var outcome: Outcome {
        self.state.withLockedValue { state in
            Outcome(
                responseStarted: state.response.hasStarted, responseComplete: state.response.isComplete,
                clientGone: state.clientGone, bodyComplete: state.bodyEnded, status: state.status,
                bytesSent: state.bytesSent)
        }
    }
}
