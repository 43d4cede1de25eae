import Synchronization

/// Set when a request's client has gone: blocking handlers poll it to stop early.
public final class CancellationFlag: Sendable {
    private let value = Atomic(false)

    /// A flag that is not set.
    public init() {}

    /// Whether the request was cancelled.
    public var isCancelled: Bool { self.value.load(ordering: .relaxed) }

    /// Sets the flag; it stays set.
    public func cancel() {
        self.value.store(true, ordering: .relaxed)
    }
}
