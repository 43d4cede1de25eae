import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import TetherGateway

/// One request's two channels, shared by the connection's event loop (which feeds them) and the application (which
/// reads and writes through them).
///
/// Every decision is the ``RequestStateMachine``'s; this class keeps it under one lock with the parked `receive()`'s
/// continuation, and carries out its actions. No call waits while holding the lock.
final class Exchange: CancellationSource, RequestTrailersSource {
    struct State: ParkedReceiveState {
        var machine: RequestStateMachine
        var waiter: Receiver?
        var early: Result<InboundEvent, any Error>?
        /// The trailer fields the request's body ended with.
        var trailers: HTTPFields?

        mutating func receiveCancelled() -> Bool {
            self.machine.receiveCancelled()
        }

        /// `action`, with the continuation it resumes taken out of the state.
        mutating func take(
            _ action: RequestStateMachine.InputAction
        ) -> (RequestStateMachine.InputAction, Receiver?) {
            guard case .resume(let event) = action else { return (action, nil) }
            return (action, self.resuming(with: event))
        }
    }

    let state: NIOLockedValueBox<State>
    let channel: any Channel
    let requestHead: HTTPRequestHead
    /// The `Server` header's value, if any.
    let serverName: String?
    /// The request's task, cancelled when its work is abandoned.
    let task: RequestTask
    /// The WebSocket this request opens, if it is a WebSocket handshake: the client leaving before the upgrade
    /// ends it too.
    let webSocket: WebSocketExchange?
    /// What the server and the application record of the request, for its metrics, span and log.
    let observation: RequestObservation
    /// The request ID's header, echoed in the response, if the server uses request IDs.
    let requestIDHeader: String?

    init(
        channel: any Channel, head: HTTPRequestHead, configuration: Server.Configuration,
        task: RequestTask, webSocket: WebSocketExchange? = nil
    ) {
        self.channel = channel
        self.task = task
        self.webSocket = webSocket
        self.requestHead = head
        self.serverName = configuration.serverName
        let header = configuration.observability.requestIDHeader
        self.requestIDHeader = header?.rawName
        self.observation =
            webSocket?.observation ?? RequestObservation(requestID: RequestID.of(head, header: header))
        let expectsContinue =
            head.version == .http1_1
            && head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
        let machine = RequestStateMachine(
            configuration: .init(
                bufferLimit: configuration.bodyBufferBytes, expectsContinue: expectsContinue,
                isHead: head.method == .HEAD))
        self.state = NIOLockedValueBox(State(machine: machine))
    }

    var cancellationReason: CancellationReason? {
        self.state.withLockedValue { $0.machine.cancellationReason }
    }

    // MARK: Event loop side

    /// Queues a body chunk, or hands it to a parked `receive()`; returns whether reads must pause.
    func bodyArrived(_ chunk: ByteBuffer) -> Bool {
        self.carryOut(self.state.withLockedValue { $0.take($0.machine.bodyChunkArrived(chunk)) })
    }

    /// The body is complete, with `trailers` if it had any: they are kept before the end reaches the application.
    func bodyEnded(trailers: HTTPHeaders? = nil) {
        let fields = trailers.map(HTTPFields.init)
        _ = self.carryOut(
            self.state.withLockedValue { state in
                if let fields { state.trailers = fields }
                return state.take(state.machine.bodyEndArrived())
            })
    }

    var requestTrailers: HTTPFields? {
        self.state.withLockedValue { $0.trailers }
    }

    /// Whether reads wait for the application.
    var readsPaused: Bool {
        self.state.withLockedValue { $0.machine.readsPaused && !$0.machine.isDisconnected }
    }

    /// The client left, or the server ends the request, for `reason`: every `receive()` returns `disconnect` from
    /// now on, `send` throws, and the request's task is cancelled if its response is not complete.
    func disconnected(_ reason: CancellationReason) {
        let (waiter, cancel) = self.state.withLockedValue { state in
            let action = state.machine.disconnected(reason)
            return (action.resumeWaiter ? state.resuming(with: .disconnect) : nil, action.cancelTask)
        }
        waiter?.resume(returning: .disconnect)
        if cancel {
            self.observation.departed()
            self.task.cancel()
        }
        self.webSocket?.disconnected(
            code: WebSocketCloseCode.abnormalClosure, reason: "", cancelling: reason)
    }

    private func carryOut(_ taken: (RequestStateMachine.InputAction, Receiver?))
        -> Bool
    {
        switch taken.0 {
        case .none: return false
        case .pauseReads: return true
        case .resume(let event):
            taken.1?.resume(returning: event)
            return false
        }
    }

    // MARK: Application side

    /// The application's `receive`.
    @Sendable func receive() async throws -> InboundEvent {
        let action = self.state.withLockedValue { $0.machine.receive() }
        switch action {
        case .deliver(let event, let resumeReads, let sendContinue):
            if sendContinue { self.writeContinue() }
            if resumeReads { self.channel.read() }
            return event
        case .fail(let error):
            throw error
        case .wait(let sendContinue):
            if sendContinue { self.writeContinue() }
            return try await self.state.parkReceive()
        }
    }

    private func writeContinue() {
        let head = HTTPResponseHead(version: self.requestHead.version, status: .continue)
        self.channel.writeAndFlush(HTTPServerResponsePart.head(head), promise: nil)
    }

    /// Where the request stands now, read under one lock.
    var machine: RequestStateMachine {
        self.state.withLockedValue { $0.machine }
    }
}
