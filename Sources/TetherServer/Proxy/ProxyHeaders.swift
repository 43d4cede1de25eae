import HTTPTypes
import NIOCore

/// What trusted proxy headers say about a request: the client's address, the scheme, the host.
package struct ForwardedOrigin: Hashable, Sendable {
    /// What the headers say about the client.
    package enum Client: Hashable, Sendable {
        /// The headers say nothing about the client: it is the peer, as the connection saw it.
        case unchanged
        /// The client as the proxies saw it, with the port they gave, or port 0.
        case address(SocketAddress)
        /// The trusted chain names a client that is no address: `unknown`, an obfuscated `_id`, garbage, or a chain
        /// whose nearest ``ProxyHeaders/maxHops`` hops are all trusted and that goes on.
        case unknown
    }

    /// The client as the proxies saw it.
    package var client: Client
    /// `http` or `https` (the caller maps them to `ws`/`wss` for a WebSocket); nil when not given or not one of those.
    package var scheme: String?
    /// The host the client asked the proxy for: a valid authority (host or host:port), nil when not given or invalid.
    package var host: String?

    package init(client: Client = .unchanged, scheme: String? = nil, host: String? = nil) {
        self.client = client
        self.scheme = scheme
        self.host = host
    }
}

/// Reads what trusted proxies say about a request's origin, as uvicorn's `ProxyHeadersMiddleware` does, and RFC 7239's
/// `Forwarded` besides.
///
/// - Nothing is read unless the peer is trusted (`trusted.contains(peer)`).
/// - `Forwarded` (RFC 7239), when present, well-formed and with at least one element, is used alone: every
///   `Forwarded` field, as one list, left to right. Its elements are walked from the right (the nearest proxy) to the
///   left, skipping each whose `for` is a trusted address; the first other one (an untrusted address, `unknown`, an
///   obfuscated `_id`, garbage, or no `for` at all) gives the client, and its `proto` and `host` the scheme and host.
///   When every element is trusted, the leftmost one does. An element's `for` without a port gives port 0; an element
///   without `for` leaves the client unchanged. Parameter names are case-insensitive; values are tokens or
///   quoted-strings with `\` escapes; a `for`, `by`, `proto` or `host` given twice in one element, a pair without `=`,
///   an empty or unterminated value, or any stray character makes the whole of `Forwarded` malformed: it is then
///   ignored and X-Forwarded-* are read instead.
/// - Otherwise `X-Forwarded-For` (every such field, as one comma-separated list) is walked the same way, as uvicorn
///   does: the first untrusted entry from the right is the client, else the leftmost. Entries are `1.2.3.4`,
///   `1.2.3.4:5678`, `[2001:db8::1]`, `[2001:db8::1]:80` or a bare `2001:db8::1`; an entry that is none of these is an
///   unknown client, never the peer and never an entry further left. Empty entries are skipped.
/// - `X-Forwarded-Proto`: a single field whose value, trimmed, is `http` or `https` (or `ws`, `wss`, taken as those)
///   in any case; a list (`https, http`) or several fields are ignored, as uvicorn ignores them.
/// - `X-Forwarded-Host`: the last entry of the list, trimmed, when it is a valid authority.
/// - A valid authority is a host of letters, digits and `-._~` (at most 255 bytes) or a bracketed IPv6 address,
///   optionally with `:` and a port (1 to 5 digits, at most 65535); anything else (spaces, controls, `/`, `@`,
///   percent-encoding, other characters) is not taken.
/// - A chain is walked no further than its nearest ``maxHops`` entries: if all of them are trusted and the chain goes
///   on, the client is unknown (and `Forwarded` gives no scheme or host). With `*` every hop is trusted, so the
///   leftmost entry is the client without a walk. Besides the walk, the work is one pass over the fields and, for
///   `Forwarded`, two more over its bytes: linear in the header's size, with an address parsed only for the hops
///   walked.
/// - The result is nil when the peer is untrusted or when the headers change nothing (no proxy header, or none that
///   is valid), so the caller has no work to do.
package enum ProxyHeaders {
    /// The most hops of a chain walked, nearest first.
    package static let maxHops = 64

    /// The origin `fields` describe, when `peer` is trusted by `trusted` and they carry a usable proxy header; nil
    /// otherwise (the request is taken as is).
    package static func resolve(
        _ fields: HTTPFields, peer: SocketAddress?, trusted: ForwardedAllowList
    ) -> ForwardedOrigin? {
        guard trusted.contains(peer) else {
            return nil
        }
        var found = FoundFields()
        for index in fields.indices {
            switch fields[index].name.canonicalName {
            case Names.forwarded:
                found.forwarded.note(index)
            case Names.forwardedFor:
                found.forwardedFor.note(index)
            case Names.forwardedProto:
                found.forwardedProto.note(index)
            case Names.forwardedHost:
                found.forwardedHost.note(index)
            default:
                continue
            }
        }
        let origin: ForwardedOrigin
        if let fromForwarded = Self.forwarded(fields, found.forwarded, trusted: trusted) {
            origin = fromForwarded
        } else {
            origin = Self.xForwarded(fields, found, trusted: trusted)
        }
        return origin == ForwardedOrigin() ? nil : origin
    }

    // MARK: Forwarded

    /// The origin a well-formed `Forwarded` with at least one element gives; nil when there is none such.
    private static func forwarded(
        _ fields: HTTPFields, _ occurrences: Occurrences, trusted: ForwardedAllowList
    ) -> ForwardedOrigin? {
        guard occurrences.count > 0 else {
            return nil
        }
        // First pass: well-formed everywhere, and how many elements.
        var count = 0
        for index in occurrences.indices(in: fields, named: Names.forwarded) {
            let wellFormed = fields[index].withUnsafeBytesOfValue { value in
                ForwardedSyntax.forEachElement(in: value) { _, _ in count += 1 }
            }
            guard wellFormed else {
                return nil
            }
        }
        guard count > 0 else {
            return nil
        }
        // Second pass: the nearest element whose `for` is not trusted, among the nearest `maxHops`.
        let chosen: Int
        if trusted.trustsAll {
            chosen = 0
        } else {
            let firstExamined = max(0, count - Self.maxHops)
            var lastUntrusted: Int?
            var position = 0
            for index in occurrences.indices(in: fields, named: Names.forwarded) {
                _ = fields[index].withUnsafeBytesOfValue { value in
                    ForwardedSyntax.forEachElement(in: value) { value, element in
                        defer { position += 1 }
                        guard position >= firstExamined else {
                            return
                        }
                        let address = element.forValue.flatMap { ForwardedSyntax.unquoted(value, $0, Self.nodeAddress) }
                        if !Self.isTrustedHop(address, trusted) {
                            lastUntrusted = position
                        }
                    }
                }
            }
            if let lastUntrusted {
                chosen = lastUntrusted
            } else if firstExamined == 0 {
                chosen = 0
            } else {
                return ForwardedOrigin(client: .unknown)
            }
        }
        // Third pass: read the chosen element.
        var origin = ForwardedOrigin()
        var position = 0
        for index in occurrences.indices(in: fields, named: Names.forwarded) where position <= chosen {
            _ = fields[index].withUnsafeBytesOfValue { value in
                ForwardedSyntax.forEachElement(in: value) { value, element in
                    defer { position += 1 }
                    guard position == chosen else {
                        return
                    }
                    if let forValue = element.forValue {
                        origin.client = Self.client(ForwardedSyntax.unquoted(value, forValue, Self.nodeAddress))
                    }
                    if let proto = element.proto {
                        origin.scheme = ForwardedSyntax.unquoted(value, proto, Self.scheme)
                    }
                    if let host = element.host {
                        origin.host = ForwardedSyntax.unquoted(value, host, Self.authority)
                    }
                }
            }
        }
        return origin
    }

    // MARK: X-Forwarded-*

    private static func xForwarded(
        _ fields: HTTPFields, _ found: FoundFields, trusted: ForwardedAllowList
    ) -> ForwardedOrigin {
        var origin = ForwardedOrigin()
        if found.forwardedFor.count > 0 {
            origin.client = Self.forwardedForClient(fields, found.forwardedFor, trusted: trusted)
        }
        if found.forwardedProto.count == 1 {
            origin.scheme = fields[found.forwardedProto.first].withUnsafeBytesOfValue { value in
                Self.scheme(UnsafeBufferPointer(rebasing: value[Self.trimmed(value, 0..<value.count)]))
            }
        }
        if found.forwardedHost.count > 0 {
            var host: String?
            for index in found.forwardedHost.indices(in: fields, named: Names.forwardedHost).reversed() {
                let last = fields[index].withUnsafeBytesOfValue { value -> String?? in
                    var entry: Range<Int>?
                    Self.forEachListEntryFromTheRight(value) { range in
                        entry = range
                        return false
                    }
                    return entry.map { Self.authority(UnsafeBufferPointer(rebasing: value[$0])) }
                }
                if let last {
                    host = last
                    break
                }
            }
            origin.host = host
        }
        return origin
    }

    /// The client `X-Forwarded-For` names: the nearest untrusted entry, or the leftmost when all are trusted.
    private static func forwardedForClient(
        _ fields: HTTPFields, _ occurrences: Occurrences, trusted: ForwardedAllowList
    ) -> ForwardedOrigin.Client {
        let indices = occurrences.indices(in: fields, named: Names.forwardedFor)
        if trusted.trustsAll {
            // Every hop is trusted: the leftmost entry is the client.
            for index in indices {
                let leftmost = fields[index].withUnsafeBytesOfValue { value -> ForwardedOrigin.Client? in
                    guard let range = Self.firstListEntry(value) else {
                        return nil
                    }
                    return Self.client(Self.nodeAddress(UnsafeBufferPointer(rebasing: value[range])))
                }
                if let leftmost {
                    return leftmost
                }
            }
            return .unchanged
        }
        var hops = 0
        var leftmostTrusted: SocketAddress?
        for index in indices.reversed() {
            let decided = fields[index].withUnsafeBytesOfValue { value -> ForwardedOrigin.Client? in
                var decided: ForwardedOrigin.Client?
                Self.forEachListEntryFromTheRight(value) { range in
                    hops += 1
                    guard hops <= Self.maxHops else {
                        decided = .unknown
                        return false
                    }
                    let address = Self.nodeAddress(UnsafeBufferPointer(rebasing: value[range]))
                    guard Self.isTrustedHop(address, trusted) else {
                        decided = Self.client(address)
                        return false
                    }
                    leftmostTrusted = address
                    return true
                }
                return decided
            }
            if let decided {
                return decided
            }
        }
        return leftmostTrusted.map(ForwardedOrigin.Client.address) ?? .unchanged
    }

    /// Whether a hop a header names is a trusted address (with `*`, every hop is trusted, address or not).
    private static func isTrustedHop(_ address: SocketAddress?, _ trusted: ForwardedAllowList) -> Bool {
        if trusted.trustsAll {
            return true
        }
        guard let address, let bits = ForwardedAllowList.IPBits(address) else {
            return false
        }
        return trusted.contains(bits)
    }

    private static func client(_ address: SocketAddress?) -> ForwardedOrigin.Client {
        address.map(ForwardedOrigin.Client.address) ?? .unknown
    }

    // MARK: Values

    /// The address a node names (RFC 7239 §6, without its quotes) or an `X-Forwarded-For` entry: `1.2.3.4`,
    /// `1.2.3.4:80`, `[2001:db8::1]`, `[2001:db8::1]:80` or a bare `2001:db8::1`; the port is 0 when none is given or
    /// when it is obfuscated (`_abc`). Nil for anything else: `unknown`, `_hidden`, garbage, a port past 65535.
    static func nodeAddress(_ node: UnsafeBufferPointer<UInt8>) -> SocketAddress? {
        guard let first = node.first else {
            return nil
        }
        if first == UInt8(ascii: "[") {
            guard let close = node.firstIndex(of: UInt8(ascii: "]")) else {
                return nil
            }
            var port = 0
            if close + 1 < node.count {
                guard node[close + 1] == UInt8(ascii: ":"), let given = Self.port(node[(close + 2)...]) else {
                    return nil
                }
                port = given
            }
            guard let address = ForwardedAllowList.address(ipLiteral: node[1..<close], port: port),
                case .v6 = address
            else {
                return nil
            }
            return address
        }
        guard let colon = node.firstIndex(of: UInt8(ascii: ":")) else {
            return Self.ipv4(node[...], port: 0)
        }
        if node[(colon + 1)...].contains(UInt8(ascii: ":")) {
            // Two colons or more: a bare IPv6 address, which cannot carry a port.
            guard let address = ForwardedAllowList.address(ipLiteral: node, port: 0), case .v6 = address else {
                return nil
            }
            return address
        }
        guard let port = Self.port(node[(colon + 1)...]) else {
            return nil
        }
        return Self.ipv4(node[..<colon], port: port)
    }

    private static func ipv4(_ literal: Slice<UnsafeBufferPointer<UInt8>>, port: Int) -> SocketAddress? {
        guard let address = ForwardedAllowList.address(ipLiteral: literal, port: port), case .v4 = address else {
            return nil
        }
        return address
    }

    /// A port: 1 to 5 digits, at most 65535; or an obfuscated one (`_` and letters, digits, `.`, `_`, `-`), taken as 0.
    private static func port(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> Int? {
        guard let first = text.first, text.count <= 5 || first == UInt8(ascii: "_") else {
            return nil
        }
        if first == UInt8(ascii: "_") {
            guard text.count > 1, text.allSatisfy(Self.isObfuscatedByte) else {
                return nil
            }
            return 0
        }
        var port = 0
        for byte in text {
            guard Self.isDigit(byte) else {
                return nil
            }
            port = port * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return port <= 65_535 ? port : nil
    }

    /// `http` or `https`, in any case, also written `ws` or `wss` (as uvicorn takes them); nil for anything else.
    static func scheme(_ value: UnsafeBufferPointer<UInt8>) -> String? {
        if ForwardedSyntax.equalsIgnoringCase(value, "https") || ForwardedSyntax.equalsIgnoringCase(value, "wss") {
            return "https"
        }
        if ForwardedSyntax.equalsIgnoringCase(value, "http") || ForwardedSyntax.equalsIgnoringCase(value, "ws") {
            return "http"
        }
        return nil
    }

    /// `value` when it is a valid authority: a host of letters, digits and `-._~` (at most 255 bytes) or a bracketed
    /// IPv6 address, optionally with `:` and a port of 1 to 5 digits, at most 65535.
    static func authority(_ value: UnsafeBufferPointer<UInt8>) -> String? {
        guard let first = value.first else {
            return nil
        }
        let hostEnd: Int
        if first == UInt8(ascii: "[") {
            guard let close = value.firstIndex(of: UInt8(ascii: "]")),
                let address = ForwardedAllowList.address(ipLiteral: value[1..<close], port: 0), case .v6 = address
            else {
                return nil
            }
            hostEnd = close + 1
        } else {
            hostEnd = value.firstIndex(of: UInt8(ascii: ":")) ?? value.count
            guard hostEnd > 0, hostEnd <= 255, value[..<hostEnd].allSatisfy(Self.isHostByte) else {
                return nil
            }
        }
        if hostEnd < value.count {
            let port = value[(hostEnd + 1)...]
            guard value[hostEnd] == UInt8(ascii: ":"), !port.isEmpty, port.first != UInt8(ascii: "_"),
                Self.port(port) != nil
            else {
                return nil
            }
        }
        return String(decoding: value, as: UTF8.self)
    }

    // MARK: Lists

    /// Calls `body` with each non-empty entry of a comma-separated list, trimmed, from the right, until it returns
    /// false.
    private static func forEachListEntryFromTheRight(
        _ value: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Bool
    ) {
        var end = value.count
        while end >= 0 {
            var start = end
            while start > 0, value[start - 1] != UInt8(ascii: ",") {
                start -= 1
            }
            let entry = Self.trimmed(value, start..<end)
            end = start - 1
            if !entry.isEmpty, !body(entry) {
                return
            }
        }
    }

    /// The first non-empty entry of a comma-separated list, trimmed.
    private static func firstListEntry(_ value: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count, value[end] != UInt8(ascii: ",") {
                end += 1
            }
            let entry = Self.trimmed(value, start..<end)
            if !entry.isEmpty {
                return entry
            }
            start = end + 1
        }
        return nil
    }

    /// `range` without the spaces and tabs at its ends.
    static func trimmed(_ value: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, ForwardedSyntax.isBlank(value[lower]) {
            lower += 1
        }
        while upper > lower, ForwardedSyntax.isBlank(value[upper - 1]) {
            upper -= 1
        }
        return lower..<upper
    }

    // MARK: Bytes

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        Self.isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z"))
    }

    private static func isHostByte(_ byte: UInt8) -> Bool {
        Self.isLetterOrDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
    }

    private static func isObfuscatedByte(_ byte: UInt8) -> Bool {
        Self.isLetterOrDigit(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "-")
    }
}

// MARK: - Fields

/// The lowercased names of the proxy headers.
private enum Names {
    static let forwarded = "forwarded"
    static let forwardedFor = "x-forwarded-for"
    static let forwardedProto = "x-forwarded-proto"
    static let forwardedHost = "x-forwarded-host"
}

/// Where the fields of one name are: the first and last index, and how many.
private struct Occurrences {
    var first = 0
    var last = 0
    var count = 0

    mutating func note(_ index: Int) {
        if self.count == 0 {
            self.first = index
        }
        self.last = index
        self.count += 1
    }

    /// The indices of the fields named `name`, in order.
    func indices(in fields: HTTPFields, named name: String) -> some BidirectionalCollection<Int> {
        (self.count == 0 ? 0..<0 : self.first..<(self.last + 1)).lazy.filter {
            fields[$0].name.canonicalName == name
        }
    }
}

private struct FoundFields {
    var forwarded = Occurrences()
    var forwardedFor = Occurrences()
    var forwardedProto = Occurrences()
    var forwardedHost = Occurrences()
}

// MARK: - Forwarded's syntax

/// One forwarded-element's `for`, `proto` and `host`: ranges of the field value, a quoted-string's with its quotes.
private struct ForwardedElement {
    var forValue: Range<Int>?
    var proto: Range<Int>?
    var host: Range<Int>?
    var hasBy = false
}

/// RFC 7239's grammar, with RFC 9110's lists, tokens and quoted-strings:
///
/// ```
/// Forwarded         = #forwarded-element
/// forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
/// forwarded-pair    = token "=" value
/// value             = token / quoted-string
/// ```
///
/// Blanks are allowed around `,` and `;`, not around `=`.
private enum ForwardedSyntax {
    /// Calls `body` with `value` and each of its forwarded-elements that has a pair, left to right; returns whether the
    /// whole of `value` is well-formed (when it is not, `body` may have been called for the elements before the fault).
    static func forEachElement(
        in value: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, ForwardedElement) -> Void
    ) -> Bool {
        let count = value.count
        var index = 0
        var element = ForwardedElement()
        var hasPair = false
        while true {
            while index < count, Self.isBlank(value[index]) {
                index += 1
            }
            guard index < count else {
                if hasPair {
                    body(value, element)
                }
                return true
            }
            switch value[index] {
            case UInt8(ascii: ","):
                if hasPair {
                    body(value, element)
                }
                element = ForwardedElement()
                hasPair = false
                index += 1
                continue
            case UInt8(ascii: ";"):
                index += 1
                continue
            default:
                break
            }
            // A pair: token "=" value.
            let nameStart = index
            while index < count, Self.isTokenByte(value[index]) {
                index += 1
            }
            guard index > nameStart, index < count, value[index] == UInt8(ascii: "=") else {
                return false
            }
            let name = UnsafeBufferPointer(rebasing: value[nameStart..<index])
            index += 1
            let valueStart = index
            if index < count, value[index] == UInt8(ascii: "\"") {
                index += 1
                var closed = false
                while index < count {
                    let byte = value[index]
                    index += 1
                    if byte == UInt8(ascii: "\"") {
                        closed = true
                        break
                    } else if byte == UInt8(ascii: "\\") {
                        guard index < count, Self.isQuotedPairByte(value[index]) else {
                            return false
                        }
                        index += 1
                    } else if !Self.isQuotedTextByte(byte) {
                        return false
                    }
                }
                guard closed else {
                    return false
                }
            } else {
                while index < count, Self.isTokenByte(value[index]) {
                    index += 1
                }
                guard index > valueStart else {
                    return false
                }
            }
            let range = valueStart..<index
            if Self.equalsIgnoringCase(name, "for") {
                guard element.forValue == nil else {
                    return false
                }
                element.forValue = range
            } else if Self.equalsIgnoringCase(name, "proto") {
                guard element.proto == nil else {
                    return false
                }
                element.proto = range
            } else if Self.equalsIgnoringCase(name, "host") {
                guard element.host == nil else {
                    return false
                }
                element.host = range
            } else if Self.equalsIgnoringCase(name, "by") {
                guard !element.hasBy else {
                    return false
                }
                element.hasBy = true
            }
            hasPair = true
            while index < count, Self.isBlank(value[index]) {
                index += 1
            }
            guard index == count || value[index] == UInt8(ascii: ",") || value[index] == UInt8(ascii: ";") else {
                return false
            }
        }
    }

    /// `read` applied to the value at `range` of a well-formed field: a token as is, a quoted-string without its quotes
    /// and escapes.
    static func unquoted<Result>(
        _ value: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ read: (UnsafeBufferPointer<UInt8>) -> Result
    ) -> Result {
        guard range.count >= 2, value[range.lowerBound] == UInt8(ascii: "\"") else {
            return read(UnsafeBufferPointer(rebasing: value[range]))
        }
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        guard value[inner].contains(UInt8(ascii: "\\")) else {
            return read(UnsafeBufferPointer(rebasing: value[inner]))
        }
        var unescaped: [UInt8] = []
        unescaped.reserveCapacity(inner.count)
        var index = inner.lowerBound
        while index < inner.upperBound {
            if value[index] == UInt8(ascii: "\\"), index + 1 < inner.upperBound {
                index += 1
            }
            unescaped.append(value[index])
            index += 1
        }
        return unescaped.withUnsafeBufferPointer(read)
    }

    /// Whether `bytes` spell `lowercase`, a word of lowercase ASCII letters, in any case.
    static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: StaticString) -> Bool {
        lowercase.withUTF8Buffer { expected in
            // `| 0x20` lowercases a letter, and makes a lowercase letter of no other byte.
            bytes.count == expected.count && zip(bytes, expected).allSatisfy { $0 | 0x20 == $1 }
        }
    }

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    /// tchar (RFC 9110 §5.6.2).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// qdtext (RFC 9110 §5.6.4): HTAB, SP, visible ASCII but `"` and `\`, obs-text.
    static func isQuotedTextByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || byte == 0x20 || byte == 0x21 || (0x23...0x5B).contains(byte) || (0x5D...0x7E).contains(byte)
            || byte >= 0x80
    }

    /// What may follow `\` in a quoted-pair: HTAB, SP, visible ASCII, obs-text.
    static func isQuotedPairByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || (0x20...0x7E).contains(byte) || byte >= 0x80
    }
}
