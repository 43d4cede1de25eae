import Synchronization
import TetherGateway

/// A cancellation source inside the one the server bound: it names the cancellations it caused itself, and defers
/// to the enclosing source for the rest.
///
/// The web layer binds one around each request, and one around each route with a deadline, so that
/// `CancellationReason.current` reads ``CancellationReason/requestDeadline`` once a route's deadline has passed.
final class NestedCancellationSource: CancellationSource {
    private let outer: (any CancellationSource)?
    /// The reason's raw value, 0 while there is none: an atomic, which ThreadSanitizer sees, and no allocation.
    private let own = Atomic<UInt8>(0)

    /// A source inside `outer`, the source bound where it is made.
    init(outer: (any CancellationSource)? = CancellationReason.source) {
        self.outer = outer
    }

    var cancellationReason: CancellationReason? {
        self.ownReason ?? self.outer?.cancellationReason
    }

    /// The reason this source (or one nested in it) cancelled the work for, if it did.
    var ownReason: CancellationReason? {
        CancellationReason(rawValue: self.own.load(ordering: .acquiring))
    }

    /// Records that the work is being cancelled for `reason`, and tells the enclosing sources.
    ///
    /// The first reason wins: one the enclosing source already gave (the client left first) is kept.
    func cancel(_ reason: CancellationReason) {
        guard self.outer?.cancellationReason == nil else { return }
        _ = self.own.compareExchange(expected: 0, desired: reason.rawValue, ordering: .acquiringAndReleasing)
        (self.outer as? NestedCancellationSource)?.cancel(reason)
    }
}
