/// What a `Range` field (RFC 9110 §14.1.2) selects of a representation of a given length.
enum ByteRange: Equatable, Sendable {
    /// The whole representation: the field is not one byte range that can be read.
    case whole
    /// `count` bytes from `offset`.
    case part(offset: Int64, count: Int64)
    /// No byte of the representation: answered 416.
    case unsatisfiable

    /// Resolves `field` against a representation of `length` bytes.
    ///
    /// Only a single range is served. Several ranges, like a malformed field or a unit other than `bytes`, select the
    /// whole representation, as RFC 9110 lets a server ignore `Range` (§14.2): no `multipart/byteranges`, and no work
    /// for a list of overlapping ranges.
    init(_ field: String, length: Int64) {
        let field = field.trimmingOWS
        guard field.prefix(6).lowercased() == "bytes=" else {
            self = .whole
            return
        }
        let specs = field.dropFirst(6).split(separator: ",").map(\.trimmingOWS).filter { !$0.isEmpty }
        guard specs.count == 1, let dash = specs[0].firstIndex(of: "-") else {
            self = .whole
            return
        }
        let first = specs[0][..<dash]
        let last = specs[0][specs[0].index(after: dash)...]
        switch (Self.position(first), Self.position(last)) {
        case (nil, let suffix?) where first.isEmpty:
            // The last `suffix` bytes, or all of them when there are fewer; none at all cannot be served.
            let count = min(suffix, length)
            self = count == 0 ? .unsatisfiable : .part(offset: length - count, count: count)
        case (let start?, nil) where last.isEmpty:
            self = start < length ? .part(offset: start, count: length - start) : .unsatisfiable
        case (let start?, let end?) where start <= end:
            self = start < length ? .part(offset: start, count: min(end, length - 1) - start + 1) : .unsatisfiable
        default:
            self = .whole
        }
    }

    /// A byte position: digits only; past `Int64.max`, `Int64.max`, which is past any file.
    private static func position(_ digits: Substring) -> Int64? {
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int64(digits) ?? .max
    }
}
