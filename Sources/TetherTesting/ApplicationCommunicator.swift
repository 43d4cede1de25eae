import HTTPTypes
import NIOConcurrencyHelpers
import TetherGateway

/// Drives an application event by event, playing the server's part: like asgiref's `ApplicationCommunicator`.
///
/// The application starts at once on its own task. Queue client events with ``send(_:)``, read what it sends
/// with ``receiveOutput(timeout:)``. The communicator keeps the contract as a server would: after
/// ``send(_:)`` with `disconnect` the client has gone (the application's `send` throws `ClientDisconnected`),
/// and once the response is complete every `receive()` returns `disconnect`.
///
/// On a WebSocket scope it keeps the WebSocket contract instead: the application's first `receive()` returns
/// `websocketConnect`, ``send(_:)`` queues `websocketReceive` messages and then perhaps `websocketDisconnect`, and
/// ``receiveOutput(timeout:)`` returns the accept (or denial), the messages and the close, as the application sent
/// them. A `websocketDisconnect` before the application closed cancels its task, as a server does:
///
/// ```swift
/// let communicator = ApplicationCommunicator(app, webSocket: "/ws/echo/")
/// #expect(try await communicator.receiveOutput() == .websocketAccept())
/// communicator.send(.websocketReceive(.text("hi")))
/// #expect(try await communicator.receiveOutput() == .websocketSend(.text("hi")))
/// communicator.send(.websocketDisconnect(code: 1000, reason: ""))
/// ```
public final class ApplicationCommunicator: Sendable {
    private let exchange: Exchange
    private let task: Task<Void, Never>

    /// Starts `application` on `scope`.
    public init(_ application: some Application, scope: Scope) {
        let exchange = Exchange(kind: Exchange.Kind(scope))
        self.exchange = exchange
        self.task = Task {
            let outcome: Result<Void, any Error>
            do {
                try await CancellationReason.$source.withValue(exchange) {
                    try await application(scope, receive: exchange.receive, send: exchange.send)
                }
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            exchange.finish(outcome)
        }
    }

    /// Starts `application` on the WebSocket handshake of `target` (a path and query, such as `/ws/?room=1`): see
    /// ``webSocketScope(_:subprotocols:headers:)``.
    public convenience init(
        _ application: some Application, webSocket target: String, subprotocols: [String] = [],
        headers: HTTPFields = [:]
    ) {
        self.init(application, scope: Self.webSocketScope(target, subprotocols: subprotocols, headers: headers))
    }

    deinit {
        self.task.cancel()
    }

    /// A WebSocket scope for `target`, as a server builds it from a client's handshake: a GET with scheme `ws`,
    /// `headers` and the handshake's fields (`Upgrade`, `Connection`, `Sec-WebSocket-Version` and
    /// `Sec-WebSocket-Key`, unless `headers` give them), and `subprotocols` offered in `Sec-WebSocket-Protocol`.
    public static func webSocketScope(_ target: String, subprotocols: [String] = [], headers: HTTPFields = [:])
        -> Scope
    {
        var fields: HTTPFields = [:]
        let handshake: [(HTTPField.Name, String)] = [
            (.upgrade, "websocket"),
            (.connection, "Upgrade"),
            (.secWebSocketVersion, "13"),
            // The key of RFC 6455's example: a server only hashes it into `Sec-WebSocket-Accept`.
            (.secWebSocketKey, "dGhlIHNhbXBsZSBub25jZQ=="),
        ]
        for (name, value) in handshake where headers[name] == nil { fields[name] = value }
        if !subprotocols.isEmpty {
            fields.append(HTTPField(name: .secWebSocketProtocol, value: subprotocols.joined(separator: ", ")))
        }
        fields.append(contentsOf: headers)
        return .websocket(
            WebSocketScope(request: HTTPScope(method: .get, target: target, headers: fields, scheme: "ws")))
    }

    /// Queues `event` for the application's `receive()`; `disconnect` (or `websocketDisconnect`) means the client
    /// has gone.
    ///
    /// On a WebSocket scope a `websocketDisconnect` is the peer's close frame (`close_frame`), or the connection lost
    /// for code 1006 (`client_closed`); if the application had not closed, its task is cancelled, as a server does.
    public func send(_ event: InboundEvent) {
        if self.exchange.enqueue(event) { self.task.cancel() }
    }

    /// The application's next outbound event.
    ///
    /// Throws the application's own error if it failed, ``CommunicatorError/applicationFinished`` if it returned
    /// with nothing more to send, and ``CommunicatorError/timedOut(_:)`` if it sent nothing in time.
    public func receiveOutput(timeout: Duration = .seconds(1)) async throws -> OutboundEvent {
        try await self.exchange.changes.wait(timeout: timeout) { () throws -> OutboundEvent? in
            try self.exchange.state.withLockedValue { state in
                if !state.outbound.isEmpty { return state.outbound.removeFirst() }
                switch state.outcome {
                case .none: return nil
                case .success: throw CommunicatorError.applicationFinished
                case .failure(let error): throw error
                }
            }
        }
    }

    /// Whether the application sent nothing within `timeout` (it may have finished, or still be running).
    public func receiveNothing(timeout: Duration = .milliseconds(100)) async throws -> Bool {
        do {
            _ = try await self.exchange.changes.wait(timeout: timeout) { () -> Bool? in
                self.exchange.state.withLockedValue { $0.outbound.isEmpty ? nil : true }
            }
            return false
        } catch CommunicatorError.timedOut {
            return true
        }
    }

    /// Waits for the application to return, and rethrows its error if it failed.
    ///
    /// If it has not returned within `timeout` its task is cancelled and this throws
    /// ``CommunicatorError/timedOut(_:)``.
    public func wait(timeout: Duration = .seconds(1)) async throws {
        do {
            let outcome = try await self.exchange.changes.wait(timeout: timeout) { () -> Result<Void, any Error>? in
                self.exchange.state.withLockedValue { $0.outcome }
            }
            try outcome.get()
        } catch CommunicatorError.timedOut(let timeout) {
            self.task.cancel()
            throw CommunicatorError.timedOut(timeout)
        }
    }

    /// Whether the application has returned or thrown.
    public var isFinished: Bool {
        self.exchange.state.withLockedValue { $0.outcome != nil }
    }

    /// Why the application's work was stopped, as `CancellationReason.current` reads it inside: `clientClosed` once
    /// a `disconnect` was sent before the response was complete; on a WebSocket scope `closeFrame` (or `clientClosed`
    /// for code 1006) once a `websocketDisconnect` was sent before the application closed; `nil` otherwise.
    public var cancellationReason: CancellationReason? {
        self.exchange.cancellationReason
    }
}

/// The state both sides share: the scope's state machine, what the application sent, and how it ended.
private final class Exchange: CancellationSource {
    /// Which contract the scope keeps.
    enum Kind {
        /// The request's, kept by ``RequestStateMachine``.
        case http
        /// The connection's, kept by ``WebSocketStateMachine``.
        case webSocket
        /// Lifespan events, in the order the test queues them; only `send` after `disconnect` is refused.
        case lifespan

        init(_ scope: Scope) {
            switch scope {
            case .http: self = .http
            case .websocket: self = .webSocket
            case .lifespan: self = .lifespan
            }
        }
    }

    struct State {
        /// Events the test queued are delivered in order, `disconnect` after them, as a script plays; HTTP and
        /// lifespan scopes.
        var machine = RequestStateMachine(configuration: .init(bufferLimit: .max, discardsQueueOnDisconnect: false))
        /// The same for a WebSocket scope: messages ahead of `websocketDisconnect`.
        var webSocket = WebSocketStateMachine(configuration: .init(bufferLimit: .max, discardsQueueOnDisconnect: false))
        /// The event that ends a parked `receive()`.
        var resumed: InboundEvent?
        var outbound: [OutboundEvent] = []
        var outcome: Result<Void, any Error>?
    }

    let state = NIOLockedValueBox(State())
    let changes = ChangeSignal()
    let kind: Kind

    init(kind: Kind) {
        self.kind = kind
    }

    var cancellationReason: CancellationReason? {
        self.state.withLockedValue { state in
            self.kind == .webSocket ? state.webSocket.cancellationReason : state.machine.cancellationReason
        }
    }

    /// Queues `event`; returns whether the application's task must be cancelled.
    func enqueue(_ event: InboundEvent) -> Bool {
        let cancel = self.state.withLockedValue { state -> Bool in
            switch self.kind {
            case .webSocket:
                // The machine cancels on the peer's departure; its `InputAction` says only whom to resume.
                let wasCancelled = state.webSocket.cancellationReason != nil
                if case .resume(let event) = state.webSocket.eventArrived(event) { state.resumed = event }
                return !wasCancelled && state.webSocket.cancellationReason != nil
            case .http, .lifespan:
                if case .resume(let event) = state.machine.eventArrived(event) { state.resumed = event }
                return false
            }
        }
        self.changes.signal()
        return cancel
    }

    /// The application's `receive`: what the machine delivers, or what resumes it once it parks.
    @Sendable func receive() async throws -> InboundEvent {
        let delivered = try self.state.withLockedValue { state throws -> InboundEvent? in
            switch self.kind {
            case .webSocket:
                switch state.webSocket.receive() {
                case .deliver(let event, _): return event
                case .wait: return nil
                case .fail(let error): throw error
                }
            case .http, .lifespan:
                switch state.machine.receive() {
                case .deliver(let event, _, _): return event
                case .wait: return nil
                case .fail(let error): throw error
                }
            }
        }
        if let delivered { return delivered }
        return try await self.changes.wait { () throws -> InboundEvent? in
            try self.state.withLockedValue { state in
                if let event = state.resumed {
                    state.resumed = nil
                    return event
                }
                if Task.isCancelled {
                    if self.kind == .webSocket {
                        _ = state.webSocket.receiveCancelled()
                    } else {
                        _ = state.machine.receiveCancelled()
                    }
                    throw CancellationError()
                }
                return nil
            }
        }
    }

    /// The application's `send`: refuses after the client left and out of order, like a server.
    @Sendable func send(_ event: OutboundEvent) async throws {
        try self.state.withLockedValue { state in
            switch self.kind {
            case .http:
                if try state.machine.send(event).resumeWaiter { state.resumed = .disconnect }
            case .webSocket:
                _ = try state.webSocket.send(event)
            case .lifespan:
                if state.machine.isDisconnected { throw ClientDisconnected() }
            }
            state.outbound.append(event)
        }
        self.changes.signal()
    }

    func finish(_ outcome: Result<Void, any Error>) {
        self.state.withLockedValue { $0.outcome = outcome }
        self.changes.signal()
    }
}
