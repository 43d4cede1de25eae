import HTTPTypes

/// The routing tree: values by method at the nodes that route patterns lead to.
///
/// ``Router`` keeps its routes in one; the web layer maps it to a tree of ready handlers once, at start-up.
struct RouteTree<Value: Sendable>: Sendable {
    /// What a look-up found.
    enum Lookup {
        case found(Value, Parameters)
        case methodNotAllowed(allowed: [HTTPRequest.Method])
        case notFound
    }

    private var root = RouteNode<Value>()

    init() {}

    private init(root: RouteNode<Value>) {
        self.root = root
    }

    /// Adds `value` for `method` on `pattern`; a later value for the same method and pattern replaces it.
    mutating func insert(_ method: HTTPRequest.Method, _ pattern: String, _ value: Value) {
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map(PatternSegment.init)
        for (index, segment) in segments.enumerated() where segment.isRest && index != segments.count - 1 {
            preconditionFailure("Route pattern '\(pattern)': '\(segment)' must be the last segment")
        }
        self.root.insert(segments[...], method: method, value: value)
    }

    /// The value for `method` on `path` (percent-decoded); HEAD falls back to GET.
    func lookup(_ method: HTTPRequest.Method, path: Substring) -> Lookup {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var parameters = Parameters()
        guard let node = self.root.find(segments[...], parameters: &parameters) else { return .notFound }
        if let value = node.values[method] ?? (method == .head ? node.values[.get] : nil) {
            return .found(value, parameters)
        }
        var allowed = Set(node.values.keys)
        if allowed.contains(.get) { allowed.insert(.head) }
        return .methodNotAllowed(allowed: allowed.sorted { $0.rawValue < $1.rawValue })
    }

    /// The same tree with every value transformed.
    func map<New: Sendable>(_ transform: (Value) -> New) -> RouteTree<New> {
        RouteTree<New>(root: self.root.map(transform))
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
    ///
    /// A segment that fits also converts: `int` takes only digits that fit `Int`, and `uuid` only what `UUID`
    /// parses, so a handler's `require(_:as:)` cannot fail on a segment the router matched.
    static func accepts(_ kind: Kind, _ segment: Substring) -> Bool {
        switch kind {
        case .str, .path:
            return true
        case .int:
            let digits = segment.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            return !segment.isEmpty && digits && Int(segment) != nil
        case .slug:
            return !segment.isEmpty
                && segment.unicodeScalars.allSatisfy {
                    ($0.properties.isAlphabetic || $0.properties.numericType != nil) && $0.isASCII
                        || $0 == "-" || $0 == "_"
                }
        case .uuid:
            // Lower-case hexadecimal in the 8-4-4-4-12 form, as Django's converter: a subset of what `UUID` parses.
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
struct RouteNode<Value: Sendable>: Sendable {
    var literals: [String: RouteNode] = [:]
    var captures: [(kind: PatternSegment.Kind, name: String, node: RouteNode)] = []
    var values: [HTTPRequest.Method: Value] = [:]

    mutating func insert(_ segments: ArraySlice<PatternSegment>, method: HTTPRequest.Method, value: Value) {
        guard let first = segments.first else {
            self.values[method] = value
            return
        }
        switch first {
        case .literal(let text):
            self.literals[text, default: RouteNode()].insert(segments.dropFirst(), method: method, value: value)
        case .capture(let kind, let name):
            if let index = self.captures.firstIndex(where: { $0.kind == kind && $0.name == name }) {
                self.captures[index].node.insert(segments.dropFirst(), method: method, value: value)
            } else {
                var node = RouteNode()
                node.insert(segments.dropFirst(), method: method, value: value)
                self.captures.append((kind, name, node))
            }
        }
    }

    /// The node that `segments` lead to, literals first, then captures in order, backtracking on a dead end.
    func find(_ segments: ArraySlice<Substring>, parameters: inout Parameters) -> RouteNode? {
        guard let first = segments.first else {
            return self.values.isEmpty ? nil : self
        }
        if let child = self.literals[String(first)],
            let found = child.find(segments.dropFirst(), parameters: &parameters)
        {
            return found
        }
        for capture in self.captures {
            if capture.kind == .path {
                guard !capture.node.values.isEmpty else { continue }
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

    func map<New: Sendable>(_ transform: (Value) -> New) -> RouteNode<New> {
        RouteNode<New>(
            literals: self.literals.mapValues { $0.map(transform) },
            captures: self.captures.map { ($0.kind, $0.name, $0.node.map(transform)) },
            values: self.values.mapValues(transform))
    }
}
