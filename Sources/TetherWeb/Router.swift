import HTTPTypes

/// An async handler: turns a request into a response on the request's task.
public typealias Handler = @Sendable (Request) async throws -> Response

/// A blocking handler: runs on a thread of the web layer's pool, never on an event loop or the task pool.
///
/// When the client leaves, its result is discarded; it can poll ``Request/isCancelled`` to stop early.
public typealias BlockingHandler = @Sendable (Request) throws -> Response

/// Maps a method and a path to a handler.
///
/// Patterns are `/`-separated segments: literals, `:name` (any one segment), `<int:name>`,
/// `<uuid:name>`, `<slug:name>` (typed segments, as Django's path converters), and `<path:name>` or
/// `*name` (the rest of the path) last. A trailing `/` does not matter. A path that matches no pattern
/// is answered 404; one that matches with another method, 405 with `Allow`. HEAD uses the GET handler
/// unless a HEAD handler is given.
public struct Router: Sendable {
    /// A registered handler.
    public enum Route: Sendable {
        /// Runs on the request's task.
        case async(Handler)
        /// Runs on the web layer's thread pool.
        case blocking(BlockingHandler)
    }

    private var root = RouteNode()

    /// A router with no routes.
    public init() {}

    /// Adds an async handler for `method` on `pattern`.
    public mutating func on(_ method: HTTPRequest.Method, _ pattern: String, _ handler: @escaping Handler) {
        self.add(method, pattern, .async(handler))
    }

    /// Adds an async handler that happens not to await: it runs in the request's task, not on a thread pool.
    ///
    /// Without this overload, Swift would pick the blocking one for a trailing closure that does not await.
    public mutating func on(_ method: HTTPRequest.Method, _ pattern: String, _ handler: @escaping BlockingHandler) {
        self.add(method, pattern, .async(handler))
    }

    /// Adds a blocking handler for `method` on `pattern`; it runs on a thread pool.
    ///
    /// Only a closure passed with the `blocking:` label is blocking: a trailing closure is an async handler.
    @_disfavoredOverload
    public mutating func on(
        _ method: HTTPRequest.Method, _ pattern: String, blocking handler: @escaping BlockingHandler
    ) {
        self.add(method, pattern, .blocking(handler))
    }

    /// Adds an async GET handler.
    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { self.on(.get, pattern, handler) }
    /// Adds an async POST handler.
    public mutating func post(_ pattern: String, _ handler: @escaping Handler) { self.on(.post, pattern, handler) }
    /// Adds an async PUT handler.
    public mutating func put(_ pattern: String, _ handler: @escaping Handler) { self.on(.put, pattern, handler) }
    /// Adds an async PATCH handler.
    public mutating func patch(_ pattern: String, _ handler: @escaping Handler) { self.on(.patch, pattern, handler) }
    /// Adds an async DELETE handler.
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { self.on(.delete, pattern, handler) }

    /// Adds an async GET handler that does not await.
    public mutating func get(_ pattern: String, _ handler: @escaping BlockingHandler) { self.on(.get, pattern, handler) }
    /// Adds an async POST handler that does not await.
    public mutating func post(_ pattern: String, _ handler: @escaping BlockingHandler) { self.on(.post, pattern, handler) }

    /// Adds a blocking GET handler.
    @_disfavoredOverload
    public mutating func get(_ pattern: String, blocking handler: @escaping BlockingHandler) {
        self.on(.get, pattern, blocking: handler)
    }
    /// Adds a blocking POST handler.
    @_disfavoredOverload
    public mutating func post(_ pattern: String, blocking handler: @escaping BlockingHandler) {
        self.on(.post, pattern, blocking: handler)
    }

    private mutating func add(_ method: HTTPRequest.Method, _ pattern: String, _ route: Route) {
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map(PatternSegment.init)
        for (index, segment) in segments.enumerated() where segment.isRest && index != segments.count - 1 {
            preconditionFailure("Route pattern '\(pattern)': '\(segment)' must be the last segment")
        }
        self.root.insert(segments[...], method: method, route: route)
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

    /// Finds the handler for `method` on `path` (percent-decoded), as the web layer does for each request.
    public func match(_ method: HTTPRequest.Method, path: String) -> Match {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var parameters = Parameters()
        guard let node = self.root.find(segments[...], parameters: &parameters) else { return .notFound }
        if let route = node.routes[method] ?? (method == .head ? node.routes[.get] : nil) {
            return .found(route, parameters)
        }
        var allowed = Set(node.routes.keys)
        if allowed.contains(.get) { allowed.insert(.head) }
        return .methodNotAllowed(allowed: allowed.sorted { $0.rawValue < $1.rawValue })
    }
}

/// One segment of a route pattern.
enum PatternSegment: Hashable, Sendable, CustomStringConvertible {
    enum Kind: String, Sendable {
        case str, int, uuid, slug, path
    }

    case literal(String)
    case capture(Kind, name: String)

    init(_ text: Substring) {
        if text.hasPrefix(":") {
            self = .capture(.str, name: String(text.dropFirst()))
        } else if text.hasPrefix("*") {
            self = .capture(.path, name: String(text.dropFirst()))
        } else if text.hasPrefix("<"), text.hasSuffix(">") {
            let inner = text.dropFirst().dropLast()
            let parts = inner.split(separator: ":", maxSplits: 1)
            if parts.count == 2 {
                guard let kind = Kind(rawValue: String(parts[0])) else {
                    preconditionFailure("Unknown path converter '\(parts[0])' in '\(text)'")
                }
                self = .capture(kind, name: String(parts[1]))
            } else {
                self = .capture(.str, name: String(inner))
            }
        } else {
            self = .literal(String(text))
        }
    }

    var isRest: Bool {
        if case .capture(.path, _) = self { true } else { false }
    }

    var description: String {
        switch self {
        case .literal(let text): text
        case .capture(let kind, let name): "<\(kind.rawValue):\(name)>"
        }
    }

    /// Whether a path segment fits this capture's converter.
    static func accepts(_ kind: Kind, _ segment: Substring) -> Bool {
        switch kind {
        case .str, .path:
            return true
        case .int:
            return !segment.isEmpty && segment.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        case .slug:
            return !segment.isEmpty
                && segment.unicodeScalars.allSatisfy {
                    ($0.properties.isAlphabetic || $0.properties.numericType != nil) && $0.isASCII
                        || $0 == "-" || $0 == "_"
                }
        case .uuid:
            let utf8 = Array(segment.utf8)
            guard utf8.count == 36 else { return false }
            return utf8.enumerated().allSatisfy { index, byte in
                [8, 13, 18, 23].contains(index)
                    ? byte == UInt8(ascii: "-")
                    : (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                        || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            }
        }
    }
}

/// A node of the routing tree: literal children by text, captures in the order they were added.
struct RouteNode: Sendable {
    var literals: [String: RouteNode] = [:]
    var captures: [(kind: PatternSegment.Kind, name: String, node: RouteNode)] = []
    var routes: [HTTPRequest.Method: Router.Route] = [:]

    mutating func insert(_ segments: ArraySlice<PatternSegment>, method: HTTPRequest.Method, route: Router.Route) {
        guard let first = segments.first else {
            self.routes[method] = route
            return
        }
        switch first {
        case .literal(let text):
            self.literals[text, default: RouteNode()].insert(segments.dropFirst(), method: method, route: route)
        case .capture(let kind, let name):
            if let index = self.captures.firstIndex(where: { $0.kind == kind && $0.name == name }) {
                self.captures[index].node.insert(segments.dropFirst(), method: method, route: route)
            } else {
                var node = RouteNode()
                node.insert(segments.dropFirst(), method: method, route: route)
                self.captures.append((kind, name, node))
            }
        }
    }

    /// The node that `segments` lead to, literals first, then captures in order, backtracking on a dead end.
    func find(_ segments: ArraySlice<Substring>, parameters: inout Parameters) -> RouteNode? {
        guard let first = segments.first else {
            return self.routes.isEmpty ? nil : self
        }
        if let child = self.literals[String(first)], let found = child.find(segments.dropFirst(), parameters: &parameters) {
            return found
        }
        for capture in self.captures {
            if capture.kind == .path {
                guard !capture.node.routes.isEmpty else { continue }
                parameters[capture.name] = segments.joined(separator: "/")
                return capture.node
            }
            guard PatternSegment.accepts(capture.kind, first) else { continue }
            let saved = parameters
            parameters[capture.name] = String(first)
            if let found = capture.node.find(segments.dropFirst(), parameters: &parameters) {
                return found
            }
            parameters = saved
        }
        return nil
    }
}
