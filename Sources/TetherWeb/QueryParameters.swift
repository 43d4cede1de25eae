import TetherGateway

/// Decoded `name=value` pairs of a query string or URL-encoded form, in order, repeated names kept.
public struct QueryParameters: Sendable, Hashable, Sequence {
    /// The pairs, in the order they came.
    public private(set) var pairs: [(name: String, value: String)]

    /// Parameters from decoded pairs.
    public init(_ pairs: [(name: String, value: String)] = []) {
        self.pairs = pairs
    }

    /// Decodes `application/x-www-form-urlencoded` bytes: `+` is a space, `%XX` a byte, and the result UTF-8.
    ///
    /// Throws ``InvalidEncoding`` when a name or value is not UTF-8 once decoded.
    public init(decoding encoded: some Collection<UInt8>) throws(InvalidEncoding) {
        var pairs: [(name: String, value: String)] = []
        for field in encoded.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = field.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.decode(parts[0])
            let value = parts.count > 1 ? try Self.decode(parts[1]) : ""
            pairs.append((name, value))
        }
        self.pairs = pairs
    }

    /// The last value given for `name`, as Django's `QueryDict` and Starlette's `QueryParams` answer.
    public subscript(name: String) -> String? {
        self.pairs.last { $0.name == name }?.value
    }

    /// Every value given for `name`, in order.
    public func values(for name: String) -> [String] {
        self.pairs.filter { $0.name == name }.map(\.value)
    }

    /// The last value for `name` converted to `T`, or `nil` when it is absent or does not convert.
    ///
    /// ```swift
    /// let verbose = request.query.get("verbose", as: Bool.self) ?? false  // ?verbose=yes
    /// ```
    public func get<T: ParameterConvertible>(_ name: String, as type: T.Type = T.self) -> T? {
        self[name].flatMap(T.fromParameter)
    }

    /// The last value for `name` converted to `T`, or ``HTTPError`` 400 when it is absent or does not convert.
    public func require<T: ParameterConvertible>(_ name: String, as type: T.Type = T.self) throws(HTTPError) -> T {
        guard let text = self[name] else {
            throw HTTPError(.badRequest, message: "Parameter '\(name)' is missing.")
        }
        guard let value = T.fromParameter(text) else {
            throw HTTPError(.badRequest, message: "Parameter '\(name)' is not a valid \(T.self).")
        }
        return value
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        self.pairs.makeIterator()
    }

    public static func == (lhs: QueryParameters, rhs: QueryParameters) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0 == $1 }
    }

    public func hash(into hasher: inout Hasher) {
        for (name, value) in self.pairs {
            hasher.combine(name)
            hasher.combine(value)
        }
    }

    private static func decode(_ bytes: some Collection<UInt8>) throws(InvalidEncoding) -> String {
        let decoded = PercentDecoding.decode(bytes, plusAsSpace: true)
        guard let string = String(validating: decoded, as: UTF8.self) else { throw InvalidEncoding() }
        return string
    }
}

/// A query string or form whose decoded bytes are not UTF-8.
public struct InvalidEncoding: Error, CustomStringConvertible {
    public var description: String { "The query string or form is not valid UTF-8 once percent-decoded." }
}
