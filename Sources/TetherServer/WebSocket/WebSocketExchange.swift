import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import TetherGateway

/// What the application hands the WebSocket connection's handler.
enum WebSocketOutbound: Sendable {
    /// A message for the peer.
    case message(WebSocketMessage)
    /// The application's close frame.
    case close(code: UInt16, reason: String)
}

/// One WebSocket connection's two channels, shared by its event loop (which feeds them) and its application
/// (which reads and writes through them), from the handshake request to the close.
///
/// Every decision is the ``WebSocketStateMachine``'s; this class keeps it under one lock with the parked
/// `receive()`'s continuation, and carries out its actions.
final class WebSocketExchange: CancellationSource {
    struct State: ParkedReceiveState {
        var machine: WebSocketStateMachine
        var waiter: Receiver?
        var early: Result<InboundEvent, any Error>?
        /// Switches the connection from HTTP to WebSocket on its event loop; taken once, by the accept.
        var upgrade: (@Sendable (HTTPHeaders) -> EventLoopFuture<Void>)?
        /// The connection's WebSocket handler, once the upgrade installed it: what the application sends goes to it.
        var handler: NIOLoopBound<WebSocketConnectionHandler>?

        mutating func receiveCancelled() -> Bool {
            self.machine.receiveCancelled()
        }
    }

    let state: NIOLockedValueBox<State>
    let channel: any Channel
    /// The application's task, cancelled when the peer leaves before the application closed.
    let task: RequestTask
    /// What the server and the application record of the connection, shared with its handshake's exchange.
    let observation: RequestObservation

    init(
        channel: any Channel, configuration: Server.Configuration, task: RequestTask, requestID: String?,
        upgrade: @escaping @Sendable (HTTPHeaders) -> EventLoopFuture<Void>
    ) {
        self.channel = channel
        self.task = task
        self.observation = RequestObservation(requestID: requestID)
        let machine = WebSocketStateMachine(
            configuration: .init(bufferLimit: configuration.webSocket.receiveBufferBytes))
        self.state = NIOLockedValueBox(State(machine: machine, upgrade: upgrade))
    }

    var cancellationReason: CancellationReason? {
        self.state.withLockedValue { $0.machine.cancellationReason }
    }

    /// Where the connection stands now, read under one lock.
    var machine: WebSocketStateMachine {
        self.state.withLockedValue { $0.machine }
    }

    // MARK: Event loop side

    /// The upgrade installed `handler`: the application's messages go to it from now on.
    func attach(_ handler: NIOLoopBound<WebSocketConnectionHandler>) {
        self.state.withLockedValue { $0.handler = handler }
    }

    /// The handler left the pipeline (the connection closed): nothing more goes to it.
    func detach() {
        self.state.withLockedValue { $0.handler = nil }
    }

    /// Queues a message, or hands it to a parked `receive()`; returns whether reads must pause.
    func messageArrived(_ message: WebSocketMessage) -> Bool {
        let (action, waiter) = self.state.withLockedValue {
            state -> (WebSocketStateMachine.InputAction, Receiver?) in
            let action = state.machine.messageArrived(message)
            guard case .resume(let event) = action else { return (action, nil) }
            return (action, state.resuming(with: event))
        }
        switch action {
        case .none: return false
        case .pauseReads: return true
        case .resume(let event):
            waiter?.resume(returning: event)
            return false
        }
    }

    /// Whether reads wait for the application.
    var readsPaused: Bool {
        self.state.withLockedValue { $0.machine.readsPaused && !$0.machine.isDisconnected }
    }

    /// The connection is over with the peer's `code` and `reason`: `receive()` returns `websocket.disconnect` from
    /// now on, `send` throws, and the application's task is cancelled for `cancelling` unless it had closed.
    func disconnected(code: UInt16, reason: String, cancelling: CancellationReason) {
        let (waiter, cancel, event) = self.state.withLockedValue { state in
            let action = state.machine.disconnected(code: code, reason: reason, cancelling: cancelling)
            state.upgrade = nil
            let event = InboundEvent.websocketDisconnect(code: code, reason: reason)
            return (action.resumeWaiter ? state.resuming(with: event) : nil, action.cancelTask, event)
        }
        waiter?.resume(returning: event)
        if cancel {
            self.observation.departed()
            self.task.cancel()
        }
    }

    // MARK: Application side

    /// The application's `receive`.
    @Sendable func receive() async throws -> InboundEvent {
        let action = self.state.withLockedValue { $0.machine.receive() }
        switch action {
        case .deliver(let event, let resumeReads):
            if resumeReads { self.channel.read() }
            return event
        case .fail(let error):
            throw error
        case .wait:
            return try await self.state.parkReceive()
        }
    }

    /// The application's `send`: the order rules first, then the handshake's answer, a message or a close; a
    /// denial's response goes through `http`, the handshake request's exchange.
    func send(_ event: OutboundEvent, denyingThrough http: Exchange) async throws {
        // One lock per event: the machine's decision, and what carries it out.
        typealias Upgrade = @Sendable (HTTPHeaders) -> EventLoopFuture<Void>
        typealias Handler = NIOLoopBound<WebSocketConnectionHandler>
        let (action, upgrade, handler) = try self.state.withLockedValue {
            state -> (WebSocketStateMachine.SendAction, Upgrade?, Handler?) in
            let action = try state.machine.send(event)
            guard case .accept = action else { return (action, nil, state.handler) }
            defer { state.upgrade = nil }
            return (action, state.upgrade, state.handler)
        }
        switch action {
        case .accept(let subprotocol, let headers):
            var extra = HTTPHeaders(headers)
            if let subprotocol { extra.replaceOrAdd(name: "Sec-WebSocket-Protocol", value: subprotocol) }
            http.echoRequestID(into: &extra)
            guard let upgrade else { throw ClientDisconnected() }
            do {
                try await upgrade(extra).get()
            } catch {
                throw ClientDisconnected()
            }
        case .send(let message):
            try await self.write(.message(message), to: handler)
        case .close(let code, let reason):
            try await self.write(.close(code: code, reason: reason), to: handler)
        case .deny(let event, _):
            try await http.send(event)
            if self.machine.applicationClosed { self.denied() }
        case .denyForbidden:
            try await http.send(.start(status: .forbidden, headers: [.contentLength: "0"]))
            try await http.send(.body(ByteBuffer(), more: false))
            self.denied()
        }
    }

    /// The denial is complete: the connection closes, and the application hears it is over.
    private func denied() {
        self.disconnected(code: WebSocketCloseCode.abnormalClosure, reason: "", cancelling: .clientClosed)
    }

    /// Hands `outbound` to the connection's handler on its event loop; waits only while the socket's send buffer
    /// is over its high-water mark, so a peer that stops reading holds the application at a bounded buffer.
    private func write(
        _ outbound: WebSocketOutbound, to handler: NIOLoopBound<WebSocketConnectionHandler>?
    ) async throws {
        guard let handler else { throw ClientDisconnected() }
        let eventLoop = self.channel.eventLoop
        if self.channel.isWritable {
            if eventLoop.inEventLoop {
                handler.value.send(outbound, promise: nil)
            } else {
                eventLoop.execute { handler.value.send(outbound, promise: nil) }
            }
            return
        }
        let written = eventLoop.makePromise(of: Void.self)
        eventLoop.execute { handler.value.send(outbound, promise: written) }
        do {
            try await written.futureResult.get()
        } catch {
            throw ClientDisconnected()
        }
    }
}
