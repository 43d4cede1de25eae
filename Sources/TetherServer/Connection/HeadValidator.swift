import HTTPTypes
import NIOHTTP1

/// Checks a request head before any application sees it (RFC 9112), for what NIO's parser lets through or
/// reports only once it reaches the body.
enum HeadValidator {
    /// Why a head is refused: the status to answer and a message that says which rule it broke.
    struct Rejection: Error, Equatable {
        var status: HTTPResponse.Status
        var message: String
    }

    /// The head's fields as swift-http-types fields, or the rule it breaks.
    static func validate(
        _ head: HTTPRequestHead, limits: Server.Configuration, multiplexed: Bool = false
    ) -> Result<HTTPFields, Rejection> {
        // An HTTP/2 stream's head is made by NIOHTTP2 as version 2.0; a request line never may say so.
        let supported = multiplexed ? head.version.major == 2 : head.version.major == 1 && head.version.minor <= 1
        guard supported else {
            return .failure(
                Rejection(
                    status: .httpVersionNotSupported,
                    message: "HTTP/\(head.version.major).\(head.version.minor) is not supported; send HTTP/1.1."))
        }
        guard isToken(head.method.rawValue.utf8) else {
            return .failure(Rejection(status: .badRequest, message: "The method is not a token."))
        }
        guard head.uri.utf8.count <= limits.maxTargetBytes else {
            return .failure(
                Rejection(
                    status: .uriTooLong,
                    message: "The request target exceeds \(limits.maxTargetBytes) bytes (limit: maxTargetBytes)."))
        }
        guard isValidTarget(head.uri, method: head.method) else {
            return .failure(Rejection(status: .badRequest, message: "The request target is malformed."))
        }
        guard head.headers.count <= limits.maxHeaderFields else {
            return .failure(
                Rejection(
                    status: .requestHeaderFieldsTooLarge,
                    message:
                        "The request has more than \(limits.maxHeaderFields) header fields (limit: maxHeaderFields)."))
        }
        guard headBytes(head) <= limits.maxHeadBytes else {
            return .failure(
                Rejection(
                    status: .requestHeaderFieldsTooLarge,
                    message: "The request head exceeds \(limits.maxHeadBytes) bytes (limit: maxHeadBytes)."))
        }
        var fields = HTTPFields()
        fields.reserveCapacity(head.headers.count)
        var hosts = 0
        var contentLengths: [Substring] = []
        var transferEncodings: [String] = []
        for (name, value) in head.headers {
            guard isToken(name.utf8), let fieldName = HTTPField.Name(name) else {
                return .failure(Rejection(status: .badRequest, message: "Header name '\(name)' is not a token."))
            }
            guard value.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return .failure(
                    Rejection(status: .badRequest, message: "Header '\(name)' has a control character in its value."))
            }
            switch fieldName.canonicalName {
            case "host": hosts += 1
            case "content-length":
                contentLengths += value.split(separator: ",", omittingEmptySubsequences: false).map {
                    $0.trimmingSpaces
                }
            case "transfer-encoding": transferEncodings.append(value)
            default: break
            }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        if head.version == .http1_1 ? hosts != 1 : hosts > 1 {
            return .failure(
                Rejection(
                    status: .badRequest, message: "An HTTP/1.1 request needs exactly one Host header (RFC 9112 §3.2)."))
        }
        if !contentLengths.isEmpty {
            guard transferEncodings.isEmpty else {
                return .failure(
                    Rejection(status: .badRequest, message: "Content-Length and Transfer-Encoding cannot both be sent.")
                )
            }
            guard contentLengths.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
                Set(contentLengths).count == 1, let length = Int64(contentLengths[0])
            else {
                return .failure(Rejection(status: .badRequest, message: "Content-Length must be one run of digits."))
            }
            if let maxBodySize = limits.maxBodySize, length > maxBodySize {
                return .failure(
                    Rejection(
                        status: .contentTooLarge,
                        message: "The request body exceeds \(maxBodySize) bytes (limit: maxBodySize)."))
            }
        }
        if !transferEncodings.isEmpty {
            let codings = transferEncodings.joined(separator: ",").split(
                separator: ",", omittingEmptySubsequences: false
            )
            .map { $0.trimmingSpaces.lowercased() }
            guard codings.allSatisfy({ isToken($0.utf8) }), codings.last == "chunked",
                codings.filter({ $0 == "chunked" }).count == 1
            else {
                return .failure(
                    Rejection(status: .badRequest, message: "Transfer-Encoding must end with 'chunked', sent once."))
            }
            if let unsupported = codings.first(where: { $0 != "chunked" }) {
                return .failure(
                    Rejection(
                        status: .notImplemented,
                        message: "Transfer-Encoding '\(unsupported)' is not supported; send chunked alone."))
            }
        }
        return .success(fields)
    }

    /// The head's size as `Server.Configuration.maxHeadBytes` counts it: `METHOD target HTTP/x.y`, each field as
    /// `name: value`, every line with its CRLF, and the blank line.
    static func headBytes(_ head: HTTPRequestHead) -> Int {
        var bytes = head.method.rawValue.utf8.count + 1 + head.uri.utf8.count + 1 + 8 + 2
        for (name, value) in head.headers {
            bytes += name.utf8.count + 2 + value.utf8.count + 2
        }
        return bytes + 2
    }

    /// RFC 9110 §5.6.2 token characters.
    static func isToken(_ bytes: some Collection<UInt8>) -> Bool {
        !bytes.isEmpty
            && bytes.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                default:
                    Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
                }
            }
    }

    /// Origin form (`/path?query`), asterisk form for OPTIONS, or absolute form (`http://host/path`).
    static func isValidTarget(_ target: String, method: HTTPMethod) -> Bool {
        let bytes = target.utf8
        guard let first = bytes.first, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }) else {
            return false
        }
        if first == UInt8(ascii: "/") { return true }
        if target == "*" { return method == .OPTIONS }
        let lower = target.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
