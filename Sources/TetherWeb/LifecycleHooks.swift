import TetherGateway

/// Hooks around each request, like Django's `request_started` and `request_finished` signals.
///
/// For every request whose body was read, each started hook runs once before routing, and each finished
/// hook once after the response's close hooks, on every path: success, handler error, client gone,
/// protocol violation. Hooks run in the order they were added.
public struct LifecycleHooks: Sendable {
    /// A hook: it sees the request's scope.
    public typealias Hook = @Sendable (HTTPScope) async -> Void

    /// Run when a request starts, after its body was read.
    public var requestStarted: [Hook] = []
    /// Run when a request ends, after its response's close hooks.
    public var requestFinished: [Hook] = []

    /// No hooks.
    public init() {}
}
