import Synchronization

/// What a server and its application tell each other about one request, for its metrics, its span and its log:
/// the request's ID, the route that matched, how long the work was expected to take, and when and why it was cut
/// short.
///
/// The server makes one per request and binds it with ``RequestObservation/$current`` around the application call;
/// the application (the web layer's router, or a handler) fills in what only it knows. Every member is safe to call
/// from any thread.
///
/// ```swift
/// // In a handler: the work is expected to take two seconds, so a cancellation saves what is left of them.
/// RequestObservation.current?.expect(.seconds(2))
/// ```
public final class RequestObservation: Sendable {
    /// Everything recorded so far, read at once.
    package struct State {
        package var route: String?
        package var expectedDuration: Duration?
        package var cancellationReason: CancellationReason?
        package var departure: ContinuousClock.Instant?
        package var handlerStarted: ContinuousClock.Instant?
        package var spooledBytes: Int64?
        package var serverStatus: Int?
    }

    /// The request's ID: the one its `X-Request-Id` header brought, or one the server made; `nil` when the server
    /// is configured without request IDs.
    public let requestID: String?
    private let state = Mutex(State())

    /// An observation of a request with `requestID`.
    public init(requestID: String?) {
        self.requestID = requestID
    }

    /// The request's current observation, bound by the server around the application call.
    @TaskLocal public static var current: RequestObservation?

    /// Everything recorded so far, under one lock.
    package var snapshot: State { self.state.withLock { $0 } }

    // MARK: Told by the application

    /// The pattern of the route that matched (`/users/:id`), never the raw path: metrics label requests with it.
    public var route: String? { self.state.withLock { $0.route } }

    /// Records the route that matched, and its deadline as the work's expected duration unless one was given.
    public func routeMatched(_ pattern: String, deadline: Duration? = nil) {
        self.state.withLock { state in
            state.route = pattern
            if state.expectedDuration == nil { state.expectedDuration = deadline }
        }
    }

    /// How long the handler's work was expected to take, if a route deadline or a handler said.
    public var expectedDuration: Duration? { self.state.withLock { $0.expectedDuration } }

    /// Records how long the handler's work is expected to take, from when the application began: a cancellation
    /// then counts what was left of it as work saved.
    public func expect(_ duration: Duration) {
        self.state.withLock { $0.expectedDuration = duration }
    }

    /// Why the application cut the work short itself (a route's deadline), if it did: the first reason wins.
    public var cancellationReason: CancellationReason? { self.state.withLock { $0.cancellationReason } }

    /// Records that the application cut the work short for `reason`, unless a reason was recorded first.
    public func cancelled(_ reason: CancellationReason, at instant: ContinuousClock.Instant = .now) {
        self.state.withLock { state in
            guard state.cancellationReason == nil else { return }
            state.cancellationReason = reason
            if state.departure == nil { state.departure = instant }
        }
    }

    /// Bytes of the request body written to a temporary file, if it was spooled.
    public var spooledBytes: Int64? { self.state.withLock { $0.spooledBytes } }

    /// Records that the request body was written to a temporary file, `bytes` long.
    public func bodySpooled(bytes: Int64) {
        self.state.withLock { $0.spooledBytes = bytes }
    }

    // MARK: Told by the server

    /// When the server saw the client leave (or ended the request itself), if it did: the start of the close →
    /// cancel latency.
    public var departure: ContinuousClock.Instant? { self.state.withLock { $0.departure } }

    /// Records when the request's work was abandoned; the first instant wins.
    public func departed(at instant: ContinuousClock.Instant = .now) {
        self.state.withLock { state in
            if state.departure == nil { state.departure = instant }
        }
    }

    /// The status the server answered with itself (a 408, 413 or 504 it wrote in the application's place), if it
    /// did: the request's status in metrics, spans and logs.
    public var serverStatus: Int? { self.state.withLock { $0.serverStatus } }

    /// Records that the server answered the request itself, with `status`.
    public func serverAnswered(status: Int) {
        self.state.withLock { $0.serverStatus = status }
    }

    /// When the application was called, if it has been.
    public var handlerStarted: ContinuousClock.Instant? { self.state.withLock { $0.handlerStarted } }

    /// Records when the application was called.
    public func handlerStarted(at instant: ContinuousClock.Instant) {
        self.state.withLock { $0.handlerStarted = instant }
    }

    /// The handler time a cancellation at `cancelled` left unspent: what remained of the expected duration when one
    /// is known (``WorkSaved/Basis/expected``), otherwise the time the handler had run
    /// (``WorkSaved/Basis/elapsed``).
    public func workSaved(cancelledAt cancelled: ContinuousClock.Instant) -> WorkSaved? {
        self.snapshot.workSaved(cancelledAt: cancelled)
    }
}

extension RequestObservation.State {
    /// ``RequestObservation/workSaved(cancelledAt:)`` from what was recorded.
    package func workSaved(cancelledAt cancelled: ContinuousClock.Instant) -> WorkSaved? {
        guard let started = self.handlerStarted else { return nil }
        // The client may have left before the handler began: then it ran for nothing.
        let ran = max(.zero, started.duration(to: cancelled))
        guard let expected = self.expectedDuration else { return WorkSaved(duration: ran, basis: .elapsed) }
        return WorkSaved(duration: max(.zero, expected - ran), basis: .expected)
    }
}

/// The handler time a cancelled request did not spend.
public struct WorkSaved: Sendable, Hashable {
    /// How the saving was worked out.
    public enum Basis: String, Sendable, Hashable {
        /// What remained of the route's deadline or the handler's expected duration.
        case expected
        /// No expectation was known: the time the handler had already run, a lower bound of what it would have
        /// gone on to spend.
        case elapsed
    }

    /// The time saved.
    public var duration: Duration
    /// How it was worked out.
    public var basis: Basis

    /// A saving of `duration`, worked out by `basis`.
    public init(duration: Duration, basis: Basis) {
        self.duration = duration
        self.basis = basis
    }
}
