import NIOConcurrencyHelpers

/// Wakes tasks waiting for a shared state to change; the waits are cancellable.
final class ChangeSignal: Sendable {
    private struct State {
        var version: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// The current version, to pass to ``wait(after:)`` after checking the shared state.
    var version: UInt64 { self.state.withLockedValue { $0.version } }

    /// Records a change and wakes every waiter.
    func signal() {
        let waiters = self.state.withLockedValue { state in
            state.version &+= 1
            defer { state.waiters.removeAll() }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the version has moved past `version`, or the task is cancelled.
    func wait(after version: UInt64) async {
        let id = self.state.withLockedValue { state in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLockedValue { state in
                    // Cancellation is flagged before its handler runs, so checking here under the lock
                    // closes the window in which the handler finds no waiter to resume.
                    if state.version != version || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.state.withLockedValue { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Waits until `check` returns a value; `check` throws to end the wait.
    func wait<T: Sendable>(until check: @Sendable () throws -> T?) async throws -> T {
        while true {
            let version = self.version
            if let value = try check() { return value }
            await self.wait(after: version)
        }
    }

    /// Waits until `check` returns a value, or throws ``CommunicatorError/timedOut(_:)`` at the deadline.
    func wait<T: Sendable>(
        timeout: Duration,
        until check: @Sendable () throws -> T?
    ) async throws -> T {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let version = self.version
            if let value = try check() { return value }
            let changed = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    await self.wait(after: version)
                    return true
                }
                group.addTask {
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    return false
                }
                defer { group.cancelAll() }
                return try await group.next() ?? false
            }
            try Task.checkCancellation()
            if !changed {
                if let value = try check() { return value }
                throw CommunicatorError.timedOut(timeout)
            }
        }
    }
}
