import HTTPTypes

/// What routes can be added to: a ``Router`` or a ``RouteGroup``.
///
/// Each method has one signature, so the compiler has one candidate to check a handler against: a trailing
/// closure is an async handler (it runs on the request's task even if it never awaits), a closure passed as
/// `blocking:` runs on the web layer's thread pool, and `deadline:` limits how long the route may take.
public protocol RouterMethods {
    /// Adds a route for `method` on `pattern`: pass either an async handler or a `blocking:` one.
    mutating func on(
        _ method: HTTPRequest.Method, _ pattern: String, deadline: Duration?,
        _ handler: Handler?, blocking: BlockingHandler?)

    /// Adds a WebSocket route on `pattern` that speaks `subprotocols` (empty for none).
    mutating func webSocket(_ pattern: String, subprotocols: [String], _ handler: @escaping WebSocketHandler)
}

extension RouterMethods {
    /// Adds a WebSocket route on `pattern`, with no subprotocol.
    public mutating func webSocket(_ pattern: String, _ handler: @escaping WebSocketHandler) {
        self.webSocket(pattern, subprotocols: [], handler)
    }

    /// Adds a GET route (HEAD too, unless it has its own).
    public mutating func get(
        _ pattern: String, deadline: Duration? = nil, _ handler: Handler? = nil, blocking: BlockingHandler? = nil
    ) {
        self.on(.get, pattern, deadline: deadline, handler, blocking: blocking)
    }

    /// Adds a POST route.
    public mutating func post(
        _ pattern: String, deadline: Duration? = nil, _ handler: Handler? = nil, blocking: BlockingHandler? = nil
    ) {
        self.on(.post, pattern, deadline: deadline, handler, blocking: blocking)
    }

    /// Adds a PUT route.
    public mutating func put(
        _ pattern: String, deadline: Duration? = nil, _ handler: Handler? = nil, blocking: BlockingHandler? = nil
    ) {
        self.on(.put, pattern, deadline: deadline, handler, blocking: blocking)
    }

    /// Adds a PATCH route.
    public mutating func patch(
        _ pattern: String, deadline: Duration? = nil, _ handler: Handler? = nil, blocking: BlockingHandler? = nil
    ) {
        self.on(.patch, pattern, deadline: deadline, handler, blocking: blocking)
    }

    /// Adds a DELETE route.
    public mutating func delete(
        _ pattern: String, deadline: Duration? = nil, _ handler: Handler? = nil, blocking: BlockingHandler? = nil
    ) {
        self.on(.delete, pattern, deadline: deadline, handler, blocking: blocking)
    }

    /// Adds a HEAD route, answered instead of the GET route's head.
    public mutating func head(
        _ pattern: String, deadline: Duration? = nil, _ handler: Handler? = nil, blocking: BlockingHandler? = nil
    ) {
        self.on(.head, pattern, deadline: deadline, handler, blocking: blocking)
    }

    /// Adds an OPTIONS route.
    public mutating func options(
        _ pattern: String, deadline: Duration? = nil, _ handler: Handler? = nil, blocking: BlockingHandler? = nil
    ) {
        self.on(.options, pattern, deadline: deadline, handler, blocking: blocking)
    }
}
