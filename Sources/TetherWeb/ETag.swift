/// An entity tag (RFC 9110 §8.8.3): what `ETag` carries and `If-None-Match` and `If-Range` name.
struct ETag: Hashable, Sendable, CustomStringConvertible {
    /// The tag between its quotes.
    var opaque: String
    /// Whether the tag is weak (`W/"…"`).
    var isWeak: Bool

    /// A file's strong tag, from its size and its modification time to the nanosecond.
    ///
    /// Strong because a file body is the file's bytes, untransformed; and only a strong tag can answer `If-Range`.
    init(size: Int64, modifiedSeconds: Int, nanoseconds: Int) {
        let modified = String(modifiedSeconds, radix: 16) + "." + String(nanoseconds, radix: 16)
        self.opaque = modified + "-" + String(size, radix: 16)
        self.isWeak = false
    }

    init(opaque: String, isWeak: Bool) {
        self.opaque = opaque
        self.isWeak = isWeak
    }

    var description: String { (self.isWeak ? "W/" : "") + "\"\(self.opaque)\"" }

    /// Whether `If-None-Match` is `*` or lists a tag that matches this one by weak comparison (§13.1.2).
    func isMatched(byIfNoneMatch field: String) -> Bool {
        field.trimmingOWS == "*" || Self.list(field).contains { $0.opaque == self.opaque }
    }

    /// Whether `other` is this tag by strong comparison: both strong and the same (§8.8.3.2).
    func strongMatches(_ other: ETag) -> Bool {
        !self.isWeak && !other.isWeak && self.opaque == other.opaque
    }

    /// The tags of a comma-separated list; parsing stops at the first malformed one.
    static func list(_ field: String) -> [ETag] {
        var tags: [ETag] = []
        var rest = Substring(field)
        while true {
            rest = rest.drop { $0 == "," || $0 == " " || $0 == "\t" }
            guard let (tag, after) = Self.parse(rest) else { return tags }
            tags.append(tag)
            rest = after
        }
    }

    /// One tag at the start of `text`, and what follows it; `nil` when there is none.
    static func parse(_ text: Substring) -> (ETag, Substring)? {
        let isWeak = text.hasPrefix("W/")
        let quoted = isWeak ? text.dropFirst(2) : text
        // Tags may contain commas, so the list is read quote to quote rather than split.
        guard quoted.first == "\"", let close = quoted.dropFirst().firstIndex(of: "\"") else { return nil }
        let opaque = quoted[quoted.index(after: quoted.startIndex)..<close]
        return (ETag(opaque: String(opaque), isWeak: isWeak), quoted[quoted.index(after: close)...])
    }
}
