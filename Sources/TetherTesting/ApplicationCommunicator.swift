import NIOConcurrencyHelpers
import TetherGateway

/// Drives an application event by event, playing the server's part: like asgiref's `ApplicationCommunicator`.
///
/// The application starts at once on its own task. Queue client events with ``send(_:)``, read what it sends
/// with ``receiveOutput(timeout:)``. The communicator keeps the contract as a server would: after
/// ``send(_:)`` with `disconnect` the client has gone (the application's `send` throws `ClientDisconnected`),
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

    /// Why the application's work was stopped, as `CancellationReason.current` reads it inside: `clientClosed` once
    /// a `disconnect` was sent before the response was complete, `nil` otherwise.
    public var cancellationReason: CancellationReason? {
        self.exchange.cancellationReason
    }
}

/// The state both sides share: the request's ``RequestStateMachine``, what the application sent, and how it ended.
private final class Exchange: CancellationSource {
    struct State {
        /// Events the test queued are delivered in order, `disconnect` after them, as a script plays.
        var machine = RequestStateMachine(configuration: .init(bufferLimit: .max, discardsQueueOnDisconnect: false))
        /// The event that ends a parked `receive()`.
        var resumed: InboundEvent?
        var outbound: [OutboundEvent] = []
        var outcome: Result<Void, any Error>?
    }

    let state = NIOLockedValueBox(State())
    let changes = ChangeSignal()
    let isHTTP: Bool

    init(isHTTP: Bool) {
        self.isHTTP = isHTTP
    }

    var cancellationReason: CancellationReason? {
        self.state.withLockedValue { $0.machine.cancellationReason }
    }

    func enqueue(_ event: InboundEvent) {
        self.state.withLockedValue { state in
            if case .resume(let event) = state.machine.eventArrived(event) { state.resumed = event }
        }
        self.changes.signal()
    }

    /// The application's `receive`: what the machine delivers, or what resumes it once it parks.
    @Sendable func receive() async throws -> InboundEvent {
        let action = self.state.withLockedValue { $0.machine.receive() }
        switch action {
        case .deliver(let event, _, _):
            return event
        case .fail(let error):
            throw error
        case .wait:
            return try await self.changes.wait { () throws -> InboundEvent? in
                try self.state.withLockedValue { state in
                    if let event = state.resumed {
                        state.resumed = nil
                        return event
                    }
                    if Task.isCancelled {
                        _ = state.machine.receiveCancelled()
                        throw CancellationError()
                    }
                    return nil
                }
            }
        }
    }

    /// The application's `send`: refuses after the client left and out of order, like a server.
    @Sendable func send(_ event: OutboundEvent) async throws {
        try self.state.withLockedValue { state in
            if self.isHTTP {
                if try state.machine.send(event).resumeWaiter { state.resumed = .disconnect }
            } else if state.machine.isDisconnected {
                throw ClientDisconnected()
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
