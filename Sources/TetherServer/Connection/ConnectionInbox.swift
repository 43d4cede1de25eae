import HTTPTypes
import NIOConcurrencyHelpers
import NIOHTTP1

/// Hands the requests a connection's event loop parses to the task that serves them, one at a time.
@_spi(Fuzzing)
public final class ConnectionInbox: Sendable {
    typealias Delivery = (head: HTTPRequestHead, fields: HTTPFields, exchange: Exchange)

    private struct State {
        var pending: [Delivery] = []
        var waiter: CheckedContinuation<Delivery?, Never>?
        var closed = false
    }

    private let state = NIOLockedValueBox(State())

    /// Delivers a request to the serving task.
    func deliver(_ delivery: Delivery) {
        let waiter = self.state.withLockedValue { state -> CheckedContinuation<Delivery?, Never>? in
            guard !state.closed else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending.append(delivery)
            return nil
        }
        waiter?.resume(returning: delivery)
    }

    /// No more requests will come: the connection closed or is closing.
    func close() {
        let waiter = self.state.withLockedValue { state -> CheckedContinuation<Delivery?, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next request, or `nil` once the connection is done or the task is cancelled.
    func next() async -> Delivery? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = self.state.withLockedValue { state -> Delivery?? in
                    if !state.pending.isEmpty { return .some(state.pending.removeFirst()) }
                    if state.closed || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            self.close()
        }
    }
}
