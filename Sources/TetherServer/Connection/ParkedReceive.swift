import NIOConcurrencyHelpers
import TetherGateway

/// A parked `receive()`: unchecked, since its one resumption is decided under the lock that holds it, and a
/// checked one costs an allocation per wait on every message.
typealias Receiver = UnsafeContinuation<InboundEvent, any Error>

/// The state behind an application's `receive()`, kept under a lock with its request's (or WebSocket's) machine:
/// the parked caller's continuation, and what a caller gets whose event came before its continuation was stored.
protocol ParkedReceiveState: Sendable {
    /// The parked `receive()`'s continuation.
    var waiter: Receiver? { get set }
    /// What a `receive()` that the machine parked gets, when it came before its continuation was stored.
    var early: Result<InboundEvent, any Error>? { get set }
    /// Tells the machine its parked `receive()` was cancelled; returns whether one was parked.
    mutating func receiveCancelled() -> Bool
}

extension ParkedReceiveState {
    /// The continuation to resume with `event`, or `nil` after keeping it for the continuation to come.
    mutating func resuming(with event: InboundEvent) -> Receiver? {
        guard let waiter = self.waiter else {
            self.early = .success(event)
            return nil
        }
        self.waiter = nil
        return waiter
    }
}

extension NIOLockedValueBox where Value: ParkedReceiveState {
    /// Parks the `receive()` the machine told to wait, until the event loop resumes it or its task is cancelled.
    func parkReceive() async throws -> InboundEvent {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                // The machine parked the caller under an earlier lock: what came since waits in `early`.
                let early = self.withLockedValue { state -> Result<InboundEvent, any Error>? in
                    if let early = state.early {
                        state.early = nil
                        return early
                    }
                    if Task.isCancelled, state.receiveCancelled() { return .failure(CancellationError()) }
                    state.waiter = continuation
                    return nil
                }
                if let early { continuation.resume(with: early) }
            }
        } onCancel: {
            self.withLockedValue { state -> Receiver? in
                guard state.receiveCancelled() else { return nil }
                guard let waiter = state.waiter else {
                    state.early = .failure(CancellationError())
                    return nil
                }
                state.waiter = nil
                return waiter
            }?.resume(throwing: CancellationError())
        }
    }
}
