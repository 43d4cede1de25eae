import HTTPTypes

/// Routes under a common path prefix that share middleware, as ``Router/group(_:middleware:_:)`` builds them.
///
/// ```swift
/// router.group("/admin", middleware: [RequireUser()]) { admin in
///     admin.get("/users") { _ in .text("users") }
///     admin.group("/audit", middleware: [RequireAuditor()]) { audit in audit.get("/") { _ in .text("log") } }
/// }
/// ```
public struct RouteGroup: RouterMethods, Sendable {
    /// The router the group adds to; it holds the only copy while the group is built.
    var router: Router
    private let prefix: String
    private let middleware: [any Middleware]

    init(router: Router, prefix: String, middleware: [any Middleware]) {
        self.router = router
        self.prefix = prefix
        self.middleware = middleware
    }

    /// Adds a route for `method` on `pattern` under the group's prefix, wrapped in the group's middleware.
    public mutating func on(
        _ method: HTTPRequest.Method, _ pattern: String, deadline: Duration? = nil,
        _ handler: Handler? = nil, blocking: BlockingHandler? = nil
    ) {
        let path = self.prefix + "/" + pattern
        let route = Router.Route(
            method, path, handler: handler, blocking: blocking, deadline: deadline, middleware: self.middleware)
        self.router.insert(method, path, route)
    }

    /// Adds a WebSocket route on `pattern` under the group's prefix; the group's middleware runs before its
    /// handshake is answered.
    public mutating func webSocket(
        _ pattern: String, subprotocols: [String], _ handler: @escaping WebSocketHandler
    ) {
        let path = self.prefix + "/" + pattern
        let route = Router.WebSocketRoute(
            pattern: Router.canonicalPattern(path), handler: handler, subprotocols: subprotocols,
            middleware: self.middleware)
        self.router.insertWebSocket(path, route)
    }

    /// Adds the routes `build` adds under this group's prefix and `prefix`, wrapped in this group's middleware,
    /// then `middleware`.
    public mutating func group(
        _ prefix: String, middleware: [any Middleware] = [], _ build: (inout RouteGroup) throws -> Void
    ) rethrows {
        var inner = RouteGroup(
            router: self.router, prefix: self.prefix + "/" + prefix, middleware: self.middleware + middleware)
        self.router = Router()
        defer { self.router = inner.router }
        try build(&inner)
    }
}
