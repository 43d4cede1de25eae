/// The cookies a request carries in its `Cookie` header fields, in order, repeated names kept.
///
/// Values are as the client sent them, without the double quotes around a quoted one; nothing is percent-decoded.
///
/// ```swift
/// let theme = request.cookies["theme"] ?? "light"
/// ```
public struct Cookies: Sendable, Sequence {
    /// The pairs, in the order they came.
    public private(set) var pairs: [(name: String, value: String)] = []

    /// Parses `Cookie` field values, `a=1; b="two"` each (RFC 6265 §5.4), leniently as browsers send them: spaces
    /// around names and values are dropped, and a pair without `=` or without a name is skipped.
    public init(parsing fields: some Sequence<String>) {
        for field in fields {
            for pair in field.split(separator: ";") {
                guard let equals = pair.firstIndex(of: "=") else { continue }
                let name = pair[..<equals].trimmingOWS
                guard !name.isEmpty else { continue }
                var value = pair[pair.index(after: equals)...].trimmingOWS
                if value.count >= 2, value.first == "\"", value.last == "\"" {
                    value = value.dropFirst().dropLast()
                }
                self.pairs.append((String(name), String(value)))
            }
        }
    }

    /// The first value for `name`: the most specific cookie, as browsers send the longest path first.
    public subscript(name: String) -> String? {
        self.pairs.first { $0.name == name }?.value
    }

    /// Every value for `name`, in order.
    public func values(for name: String) -> [String] {
        self.pairs.filter { $0.name == name }.map(\.value)
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        self.pairs.makeIterator()
    }
}
