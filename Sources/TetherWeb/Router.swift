import HTTPTypes

/// An async handler: turns a request into a response on the request's task.
public typealias Handler = @Sendable (Request) async throws -> Response

/// A blocking handler: runs on a thread of the web layer's pool, never on an event loop or the task pool.
///
/// When the client leaves (or the route's deadline passes), its result is discarded; it can poll
/// ``Request/isCancelled`` to stop early.
public typealias BlockingHandler = @Sendable (Request) throws -> Response

/// Maps a method and a path to a route.
///
/// Patterns are `/`-separated segments: literals, `:name` (any one segment), `<int:name>`,
/// `<uuid:name>`, `<slug:name>` (typed segments, as Django's path converters), and `<path:name>` or
/// `*name` (the rest of the path) last. A trailing `/` does not matter. A path that matches no pattern
/// is answered 404; one that matches with another method, 405 with `Allow`. HEAD uses the GET handler
/// unless a HEAD handler is given.
///
/// Every method takes one handler: a trailing closure (or a function passed without a label) is async and
/// runs on the request's task, even if it never awaits; one passed as `blocking:` runs on a thread pool.
///
/// ```swift
/// var router = Router()
/// router.get("/items/<int:id>") { request in .text("item \(try request.parameters.require("id", as: Int.self))") }
/// router.get("/report/", deadline: .seconds(5), blocking: { request in .text(buildReport(request)) })
/// router.group("/admin", middleware: [RequireUser()]) { admin in admin.get("/users") { _ in .text("users") } }
/// ```
public struct Router: RouterMethods, Sendable {
    /// A registered route: its handler, its deadline, and the middleware of the groups it was added in.
    public struct Route: Sendable {
        /// How the route's handler runs.
        public enum Handling: Sendable {
            /// Runs on the request's task.
            case async(Handler)
            /// Runs on the web layer's thread pool.
            case blocking(BlockingHandler)
        }

        /// The pattern the route was added on, as metrics and spans name it: `/users/:id`.
        public let pattern: String
        /// The handler.
        public let handling: Handling
        /// How long the route may take, or `nil` for no limit of its own.
        public let deadline: Duration?
        /// The middleware of the route's groups, outermost first.
        public let middleware: [any Middleware]

        /// A route for exactly one of `handler` and `blocking`; anything else is a programming error.
        init(
            _ method: HTTPRequest.Method, _ pattern: String, handler: Handler?, blocking: BlockingHandler?,
            deadline: Duration?, middleware: [any Middleware]
        ) {
            switch (handler, blocking) {
            case (let handler?, nil): self.handling = .async(handler)
            case (nil, let blocking?): self.handling = .blocking(blocking)
            default:
                preconditionFailure("Route \(method) \(pattern): give a handler or `blocking:`, not both or neither")
            }
            self.pattern = Router.canonicalPattern(pattern)
            self.deadline = deadline
            self.middleware = middleware
        }
    }

    /// What a look-up found.
    public enum Match: Sendable {
        /// The route, with the parameters its pattern captured.
        case found(Route, Parameters)
        /// The path matches, but only for other methods.
        case methodNotAllowed(allowed: [HTTPRequest.Method])
        /// No pattern matches the path.
        case notFound
    }

    /// A registered WebSocket route: its handler, the subprotocols it speaks, and its groups' middleware.
    public struct WebSocketRoute: Sendable {
        /// The pattern the route was added on, as metrics and spans name it.
        public let pattern: String
        /// The handler, run once the handshake is accepted.
        public let handler: WebSocketHandler
        /// The subprotocols the route speaks, in its order of preference; empty for none.
        public let subprotocols: [String]
        /// The middleware of the route's groups, outermost first: it runs before the handshake is answered.
        public let middleware: [any Middleware]
    }

    private(set) var routes = RouteTree<Route>()
    private(set) var webSocketRoutes = RouteTree<WebSocketRoute>()

    /// A router with no routes.
    public init() {}

    /// Adds a route for `method` on `pattern`: pass either an async handler or a `blocking:` one.
    ///
    /// With a `deadline`, the handler (and a streamed body it returns) is cancelled once it passes, as a departed
    /// client cancels it: the client gets 504 if nothing was sent yet, and the connection is closed otherwise.
    public mutating func on(
        _ method: HTTPRequest.Method, _ pattern: String, deadline: Duration? = nil,
        _ handler: Handler? = nil, blocking: BlockingHandler? = nil
    ) {
        let route = Route(method, pattern, handler: handler, blocking: blocking, deadline: deadline, middleware: [])
        self.insert(method, pattern, route)
    }

    /// Adds a WebSocket route on `pattern`: a handshake there runs the middleware, then is accepted (with the
    /// first of the client's subprotocols that `subprotocols` lists) and `handler` runs on the connection.
    ///
    /// Middleware can deny the handshake by answering it (a 401, a 403): the client gets that response instead.
    public mutating func webSocket(
        _ pattern: String, subprotocols: [String], _ handler: @escaping WebSocketHandler
    ) {
        let route = WebSocketRoute(
            pattern: Self.canonicalPattern(pattern), handler: handler, subprotocols: subprotocols, middleware: [])
        self.insertWebSocket(pattern, route)
    }

    /// Adds `route` on `pattern`, as groups do.
    mutating func insertWebSocket(_ pattern: String, _ route: WebSocketRoute) {
        self.webSocketRoutes.insert(.get, pattern, route)
    }

    /// Adds the routes `build` adds under `prefix`, each wrapped in `middleware` (outermost first).
    ///
    /// Groups nest: an inner group's routes are under both prefixes and run the outer group's middleware first.
    /// The middleware runs only for requests that match one of the group's routes.
    ///
    /// ```swift
    /// router.group("/admin", middleware: [RequireUser()]) { admin in
    ///     admin.get("/users") { request in .text("hello \(request.storage[UserKey.self]!.name)") }
    /// }
    /// ```
    public mutating func group(
        _ prefix: String, middleware: [any Middleware] = [], _ build: (inout RouteGroup) throws -> Void
    ) rethrows {
        var group = RouteGroup(router: self, prefix: prefix, middleware: middleware)
        // The group holds the only copy while it is built, so adding routes does not copy the tree.
        self = Router()
        defer { self = group.router }
        try build(&group)
    }

    /// Adds `route` for `method` on `pattern`, as groups do.
    mutating func insert(_ method: HTTPRequest.Method, _ pattern: String, _ route: Route) {
        self.routes.insert(method, pattern, route)
    }

    /// A pattern as one string whatever its slashes: `/` before each segment, and a trailing `/` if it had one
    /// (`/api` + `/` + `/users/:id/` is `/api/users/:id/`).
    static func canonicalPattern(_ pattern: String) -> String {
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: true)
        guard !segments.isEmpty else { return "/" }
        return "/" + segments.joined(separator: "/") + (pattern.hasSuffix("/") ? "/" : "")
    }

    /// Finds the route for `method` on `path` (percent-decoded), as the web layer does for each request.
    public func match(_ method: HTTPRequest.Method, path: String) -> Match {
        switch self.routes.lookup(method, path: path[...]) {
        case .found(let route, let parameters): .found(route, parameters)
        case .methodNotAllowed(let allowed): .methodNotAllowed(allowed: allowed)
        case .notFound: .notFound
        }
    }
}
