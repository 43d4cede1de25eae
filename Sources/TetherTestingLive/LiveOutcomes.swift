import NIOConcurrencyHelpers
import TetherTesting

/// How each request's work ended, by the client port of its connection, with waiters for those not yet ended.
final class LiveOutcomes: Sendable {
    private struct State {
        var outcomes: [Int: TestOutcome] = [:]
        var waiters: [Int: CheckedContinuation<TestOutcome?, Never>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// Records how the request from `port` ended, waking its waiter.
    func record(_ outcome: TestOutcome, forClientPort port: Int) {
        let waiter = self.state.withLockedValue { state in
            guard let waiter = state.waiters.removeValue(forKey: port) else {
                state.outcomes[port] = outcome
                return nil as CheckedContinuation<TestOutcome?, Never>?
            }
            return waiter
        }
        waiter?.resume(returning: outcome)
    }

    /// How the request from `port` ended, once it has; `nil` if the task is cancelled first.
    func outcome(forClientPort port: Int) async -> TestOutcome? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TestOutcome?, Never>) in
                let ready = self.state.withLockedValue { state -> TestOutcome?? in
                    if let outcome = state.outcomes.removeValue(forKey: port) { return .some(outcome) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[port] = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            self.state.withLockedValue { $0.waiters.removeValue(forKey: port) }?.resume(returning: nil)
        }
    }
}
