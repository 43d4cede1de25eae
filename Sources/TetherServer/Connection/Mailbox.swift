import NIOConcurrencyHelpers

/// A queue with one waiting reader: the event loop or the server delivers, one task takes, and the reader's
/// wait ends with `nil` when the mailbox is closed or the task is cancelled.
final class Mailbox<Element: Sendable>: Sendable {
    private struct State {
        var pending: [Element] = []
        var waiter: CheckedContinuation<Element?, Never>?
        var closed = false
    }

    private let state = NIOLockedValueBox(State())

    /// Hands `element` to the waiting reader, or queues it; a closed mailbox drops it.
    func deliver(_ element: Element) {
        let waiter = self.state.withLockedValue { state -> CheckedContinuation<Element?, Never>? in
            guard !state.closed else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending.append(element)
            return nil
        }
        waiter?.resume(returning: element)
    }

    /// Nothing more will be delivered: the reader gets what is queued, then `nil`.
    func close() {
        let waiter = self.state.withLockedValue { state -> CheckedContinuation<Element?, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next element, or `nil` once the mailbox is closed and empty, or the task is cancelled.
    func next() async -> Element? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = self.state.withLockedValue { state -> Element?? in
                    if !state.pending.isEmpty { return .some(state.pending.removeFirst()) }
                    if state.closed || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            self.state.withLockedValue { state in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume(returning: nil)
        }
    }
}
