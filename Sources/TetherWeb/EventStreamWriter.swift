import NIOConcurrencyHelpers
import NIOCore

/// The body writer of an event stream, shared by the task that writes its events and the one that writes keep-alive
/// comments: one write at a time, and a keep-alive only after a quiet interval.
final class EventStreamWriter: Sendable {
    private enum State {
        /// Nothing is being written; the last write ended at `since`.
        case idle(since: ContinuousClock.Instant)
        case writingEvent
        /// A keep-alive is being written; `waiter` is the event waiting for it to end.
        case writingKeepAlive(waiter: CheckedContinuation<Void, Never>?)
    }

    /// A comment line, which clients ignore: it keeps proxies and load balancers from closing an idle connection.
    static let keepAliveComment = ByteBuffer(string: ": keep-alive\n\n")

    private let writer: ResponseBodyWriter
    private let state = NIOLockedValueBox(State.idle(since: .now))

    init(_ writer: ResponseBodyWriter) {
        self.writer = writer
    }

    /// Writes an event, once the keep-alive being written, if any, is done.
    func write(_ event: ByteBuffer) async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waits = self.state.withLockedValue { state in
                guard case .writingKeepAlive = state else {
                    state = .writingEvent
                    return false
                }
                state = .writingKeepAlive(waiter: continuation)
                return true
            }
            if !waits { continuation.resume() }
        }
        defer { self.state.withLockedValue { $0 = .idle(since: .now) } }
        try await self.writer.write(event)
    }

    /// Writes a keep-alive comment whenever nothing was written for `interval`; returns only by throwing, when
    /// cancelled or when a write fails.
    func keepAlive(every interval: Duration) async throws {
        while true {
            let wakeUp = self.state.withLockedValue { state -> ContinuousClock.Instant? in
                switch state {
                case .idle(let since) where since.advanced(by: interval) <= .now:
                    state = .writingKeepAlive(waiter: nil)
                    return nil
                case .idle(let since):
                    return since.advanced(by: interval)
                case .writingEvent, .writingKeepAlive:
                    return ContinuousClock.now.advanced(by: interval)
                }
            }
            if let wakeUp {
                try await Task.sleep(until: wakeUp, clock: .continuous)
            } else {
                try await self.writeKeepAlive()
            }
        }
    }

    private func writeKeepAlive() async throws {
        defer {
            // The event that waited goes next, whether or not this write went through.
            let waiter = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                guard case .writingKeepAlive(let waiter?) = state else {
                    state = .idle(since: .now)
                    return nil
                }
                state = .writingEvent
                return waiter
            }
            waiter?.resume()
        }
        try await self.writer.write(Self.keepAliveComment)
    }
}
