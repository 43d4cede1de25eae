import TetherGateway

/// Hooks around each request, like Django's `request_started` and `request_finished` signals.
///
/// For every request whose body was read, each started hook runs once before routing, and each finished
/// hook once after the response's close hooks, on every path: success, handler error, client gone, deadline,
/// protocol violation. Hooks run in the order they were added.
///
/// ```swift
/// app.onRequestFinished { summary in
///     logger.info("\(summary.scope.path) \(summary.status?.code ?? 0) \(summary.outcome) in \(summary.duration)")
/// }
/// ```
public struct LifecycleHooks: Sendable {
    /// A hook run when a request starts: it sees the request's scope.
    public typealias StartedHook = @Sendable (HTTPScope) async -> Void
    /// A hook run when a request ends: it sees how it went.
    public typealias FinishedHook = @Sendable (RequestSummary) async -> Void

    /// Run when a request starts, after its body was read.
    public var requestStarted: [StartedHook] = []
    /// Run when a request ends, after its response's close hooks.
    public var requestFinished: [FinishedHook] = []

    /// No hooks.
    public init() {}
}
