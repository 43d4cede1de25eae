import NIOConcurrencyHelpers

/// A queue with one waiting reader: the event loop or the server delivers, one task takes, and the reader's
/// wait ends with `nil` when the mailbox is closed or the task is cancelled.
///
/// Elements always pass through the locked queue, never through the continuation, which only wakes the reader:
/// the lock is what orders the writer's work before the reader's, where ThreadSanitizer can see it.
final class Mailbox<Element: Sendable>: Sendable {
    // Unsafe continuations: a checked one allocates per wait, and each of these is resumed once, under the lock.
    private struct State {
        var pending: [Element] = []
        var waiter: UnsafeContinuation<Void, Never>?
        var closed = false
    }

    private let state = NIOLockedValueBox(State())

    /// Queues `element` for the reader and wakes it; a closed mailbox drops it.
    func deliver(_ element: Element) {
        let waiter = self.state.withLockedValue { state -> UnsafeContinuation<Void, Never>? in
            guard !state.closed else { return nil }
            state.pending.append(element)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Nothing more will be delivered: the reader gets what is queued, then `nil`.
    func close() {
        let waiter = self.state.withLockedValue { state -> UnsafeContinuation<Void, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The next element, or `nil` once the mailbox is closed and empty, or the task is cancelled.
    func next() async -> Element? {
        while true {
            // `.some(element)` or `.some(nil)` is an answer; `nil` means wait.
            let ready = self.state.withLockedValue { state -> Element?? in
                if !state.pending.isEmpty { return .some(state.pending.removeFirst()) }
                if state.closed || Task.isCancelled { return .some(nil) }
                return nil
            }
            if let ready { return ready }
            await withTaskCancellationHandler {
                await withUnsafeContinuation { continuation in
                    let wake = self.state.withLockedValue { state -> Bool in
                        if !state.pending.isEmpty || state.closed || Task.isCancelled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if wake { continuation.resume() }
                }
            } onCancel: {
                self.state.withLockedValue { state in
                    defer { state.waiter = nil }
                    return state.waiter
                }?.resume()
            }
        }
    }
}
