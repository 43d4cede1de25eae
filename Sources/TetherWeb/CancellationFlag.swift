import Synchronization

/// Set when a request's client has gone: blocking handlers poll it to stop early.
public final class CancellationFlag: Sendable {
    /// 0 while not set; else 255, or the raw value of the reason the request was cancelled for.
    private let value = Atomic<UInt8>(0)

    /// A flag that is not set.
    public init() {}

    /// Whether the request was cancelled.
    public var isCancelled: Bool { self.value.load(ordering: .relaxed) != 0 }

    /// Why the request was cancelled, once it was and the server said why: a blocking handler's thread cannot read
    /// `CancellationReason.current`, a task-local.
    public var reason: CancellationReason? { CancellationReason(rawValue: self.value.load(ordering: .relaxed)) }

    /// Sets the flag, for `reason` if known; it stays set, with the first reason given.
    public func cancel(reason: CancellationReason? = nil) {
        _ = self.value.compareExchange(expected: 0, desired: reason?.rawValue ?? .max, ordering: .relaxed)
    }
}
