import CompressNIO

/// A content coding that ``CompressionMiddleware`` can apply to a response body (RFC 9110 §8.4.1).
public enum ContentCoding: String, Sendable, CaseIterable {
    /// The gzip format (RFC 1952); `x-gzip` in `Accept-Encoding` names it too.
    case gzip
    /// HTTP's `deflate`: the zlib format (RFC 1950), not raw deflate, as RFC 9110 §8.4.1.2 defines it.
    case deflate

    /// CompressNIO's algorithm for the coding.
    var algorithm: ZlibAlgorithm {
        switch self {
        case .gzip: .gzip
        case .deflate: .zlib
        }
    }

    /// The coding that `acceptEncoding` (the values of a request's `Accept-Encoding`) ranks highest among
    /// `offered`, by q-value; a tie goes to the earlier in `offered`; `nil` for identity.
    ///
    /// A coding the field does not name takes the q-value of `*`, or 0 without one; a q-value of 0 refuses it.
    /// A request without the field gets identity, the encoding every client understands.
    static func preferred(in acceptEncoding: [String], offered: [ContentCoding]) -> ContentCoding? {
        var named: [ContentCoding: Double] = [:]
        var wildcard: Double?
        for member in acceptEncoding.lazy.flatMap({ $0.split(separator: ",") }) {
            var parameters = member.split(separator: ";").makeIterator()
            guard let name = parameters.next()?.trimmingOWS.lowercased(), !name.isEmpty else { continue }
            guard let quality = Self.quality(of: parameters) else { continue }
            switch name {
            case "*": wildcard = quality
            case "x-gzip": named[.gzip] = quality
            default: if let coding = ContentCoding(rawValue: name) { named[coding] = quality }
            }
        }
        var best: (coding: ContentCoding, quality: Double)?
        for coding in offered {
            let quality = named[coding] ?? wildcard ?? 0
            if quality > 0, quality > best?.quality ?? 0 { best = (coding, quality) }
        }
        return best?.coding
    }

    /// The `q` parameter among `parameters`: 1 when absent, `nil` when it is not a number from 0 to 1.
    private static func quality(of parameters: some IteratorProtocol<Substring>) -> Double? {
        var parameters = parameters
        while let parameter = parameters.next() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingOWS.lowercased() == "q" else { continue }
            guard let quality = Double(pair[1].trimmingOWS), (0...1).contains(quality) else { return nil }
            return quality
        }
        return 1
    }
}
