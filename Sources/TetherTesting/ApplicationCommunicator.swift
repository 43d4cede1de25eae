import NIOConcurrencyHelpers
import TetherGateway

/// Drives an application event by event, playing the server's part: like asgiref's `ApplicationCommunicator`.
///
/// The application starts at once on its own task. Queue client events with ``send(_:)``, read what it sends
/// with ``receiveOutput(timeout:)``. The communicator keeps the contract as a server would: after
/// ``send(_:)`` with `disconnect` the client has gone (the application's `send` throws ``ClientDisconnected``),
/// and once the response is complete every `receive()` returns `disconnect`.
public final class ApplicationCommunicator: Sendable {
    private let exchange: Exchange
    private let task: Task<Void, Never>

    /// Starts `application` on `scope`.
    public init(_ application: some Application, scope: Scope) {
        let exchange = Exchange(isHTTP: { if case .http = scope { true } else { false } }())
        self.exchange = exchange
        self.task = Task {
            let outcome: Result<Void, any Error>
            do {
                try await application(scope, receive: exchange.receive, send: exchange.send)
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            exchange.finish(outcome)
        }
    }

    deinit {
        self.task.cancel()
    }

    /// Queues `event` for the application's `receive()`; `disconnect` means the client has gone.
    public func send(_ event: InboundEvent) {
        self.exchange.enqueue(event)
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
}

/// The state both sides share: queued events each way, and how the application ended.
private final class Exchange: Sendable {
    struct State {
        var inbound: [InboundEvent] = []
        var clientGone = false
        var response = ResponseStateMachine()
        var outbound: [OutboundEvent] = []
        var outcome: Result<Void, any Error>?
    }

    let state = NIOLockedValueBox(State())
    let changes = ChangeSignal()
    let isHTTP: Bool

    init(isHTTP: Bool) {
        self.isHTTP = isHTTP
    }

    func enqueue(_ event: InboundEvent) {
        self.state.withLockedValue { state in
            if event == .disconnect {
                state.clientGone = true
            } else {
                state.inbound.append(event)
            }
        }
        self.changes.signal()
    }

    /// The application's `receive`: queued events first, then `disconnect` once the client or the response is done.
    @Sendable func receive() async throws -> InboundEvent {
        try await self.changes.wait { () throws -> InboundEvent? in
            try self.state.withLockedValue { state in
                if !state.inbound.isEmpty { return state.inbound.removeFirst() }
                if state.clientGone || state.response.isComplete { return .disconnect }
                try Task.checkCancellation()
                return nil
            }
        }
    }

    /// The application's `send`: refuses after the client left and out of order, like a server.
    @Sendable func send(_ event: OutboundEvent) async throws {
        try self.state.withLockedValue { state in
            if state.clientGone { throw ClientDisconnected() }
            if self.isHTTP { try state.response.accept(event) }
            state.outbound.append(event)
        }
        self.changes.signal()
    }

    func finish(_ outcome: Result<Void, any Error>) {
        self.state.withLockedValue { $0.outcome = outcome }
        self.changes.signal()
    }
}
