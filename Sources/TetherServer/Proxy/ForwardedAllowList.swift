import NIOCore

/// The peers whose proxy headers are believed (uvicorn's `--forwarded-allow-ips`): IP addresses, CIDR ranges
/// (`10.0.0.0/8`, `fd00::/8`), `unix` for any Unix-domain-socket peer, or `*` for every peer.
///
/// A range's host bits are ignored (`10.1.2.3/8` is `10.0.0.0/8`); a prefix longer than the address (`/33` on IPv4,
/// `/129` on IPv6) is an invalid entry. An IPv4-mapped IPv6 entry (`::ffff:10.0.0.1`, or a range of them with a
/// prefix of at least 96) is the IPv4 address or range it maps, so it matches either spelling of a peer. Host names
/// and scoped IPv6 addresses (`fe80::1%eth0`) are invalid entries: nothing here resolves a name.
///
/// ``contains(_:)`` runs on every request from a trusted-looking peer: it compares integers against the parsed
/// ranges, without allocating.
public struct ForwardedAllowList: Sendable, Hashable, CustomStringConvertible {
    /// An entry that is no IP address, CIDR range, `unix` or `*`.
    public struct InvalidEntry: Error, Hashable, CustomStringConvertible {
        /// The entry as given (blanks around it removed).
        public let entry: String

        public var description: String {
            "invalid forwarded-allow entry \"\(self.entry)\": expected an IP address, a CIDR range, unix or *"
        }
    }

    /// The entries as given, blanks around them removed: the ``description``.
    private var entries: [String]
    private var ipv4Ranges: [IPv4Range]
    private var ipv6Ranges: [IPv6Range]
    private var trustsUnixPeers: Bool
    /// `*`: every peer, and every hop a header names, is trusted.
    private(set) var trustsAll: Bool

    /// Parses entries; throws ``InvalidEntry`` naming the first entry that is none of the allowed forms. Blanks around
    /// an entry are ignored; an empty entry is invalid.
    public init(_ entries: [String]) throws {
        self.init()
        for entry in entries {
            try self.add(entry[...])
        }
    }

    /// Parses a comma-separated list, as given on the command line or in `TETHER_FORWARDED_ALLOW_IPS`; blanks around
    /// entries are ignored, empty entries skipped.
    public init(parsing list: String) throws {
        self.init()
        for entry in list.split(separator: ",", omittingEmptySubsequences: false)
        where !Self.trimmed(entry).isEmpty {
            try self.add(entry)
        }
    }

    /// Trusts no peer.
    public static let none = ForwardedAllowList()

    private init() {
        self.entries = []
        self.ipv4Ranges = []
        self.ipv6Ranges = []
        self.trustsUnixPeers = false
        self.trustsAll = false
    }

    /// Whether `peer` (the address a connection came from) is trusted. IPv4-mapped IPv6 peers (`::ffff:1.2.3.4`)
    /// match IPv4 entries and ranges; a `.unixDomainSocket` peer matches only `unix` or `*`; nil matches only `*`.
    public func contains(_ peer: SocketAddress?) -> Bool {
        if self.trustsAll {
            return true
        }
        guard let peer else {
            return false
        }
        guard let bits = IPBits(peer) else {
            return self.trustsUnixPeers  // a Unix-domain socket
        }
        return self.contains(bits)
    }

    /// Whether an address written in a header (an IP literal, no port) is trusted: used to skip trusted hops in a
    /// chain. Anything that is no IP literal (`unknown`, `_hidden`, `1.2.3.4:80`, a name) is trusted only by `*`.
    package func contains(ipLiteral: some StringProtocol) -> Bool {
        if self.trustsAll {
            return true
        }
        guard let address = Self.address(ipLiteral: ipLiteral.utf8, port: 0), let bits = IPBits(address) else {
            return false
        }
        return self.contains(bits)
    }

    /// Whether the IP address `bits` is in a range (not `*`, which the callers check first).
    func contains(_ bits: IPBits) -> Bool {
        switch bits {
        case .v4(let address):
            return self.ipv4Ranges.contains { $0.contains(address) }
        case .v6(let high, let low):
            if let mapped = bits.mappedIPv4, self.ipv4Ranges.contains(where: { $0.contains(mapped) }) {
                return true
            }
            return self.ipv6Ranges.contains { $0.contains(high: high, low: low) }
        }
    }

    /// The entries joined by `", "`.
    public var description: String {
        self.entries.joined(separator: ", ")
    }

    /// The longest IP literal read: an IPv6 address with an embedded IPv4 one is at most 45 bytes.
    static let maxIPLiteralBytes = 45

    /// The address of an IP literal without brackets, port or scope (`1.2.3.4`, `2001:db8::1`, `::ffff:1.2.3.4`),
    /// parsed by NIO; nil for anything else. Only hexadecimal digits, `.` and `:` are passed on, so a NUL or a `%`
    /// never reaches `inet_pton` or `getaddrinfo`.
    static func address(ipLiteral bytes: some Collection<UInt8>, port: Int) -> SocketAddress? {
        let count = bytes.count
        guard count >= 2, count <= Self.maxIPLiteralBytes, (0...65_535).contains(port) else {
            return nil
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: "."), UInt8(ascii: ":"):
                continue
            default:
                return nil
            }
        }
        return try? SocketAddress(ipAddress: String(decoding: bytes, as: UTF8.self), port: port)
    }

    private mutating func add(_ raw: Substring) throws {
        let entry = Self.trimmed(raw)
        let invalid = InvalidEntry(entry: String(entry))
        if entry == "*" {
            self.trustsAll = true
        } else if entry.lowercased() == "unix" {
            self.trustsUnixPeers = true
        } else {
            let addressPart: Substring
            var prefix: Int?
            if let slash = entry.firstIndex(of: "/") {
                addressPart = entry[..<slash]
                let digits = entry.utf8[entry.utf8.index(after: slash)...]
                guard !digits.isEmpty, digits.count <= 3,
                    digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
                else {
                    throw invalid
                }
                prefix = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            } else {
                addressPart = entry
            }
            guard let address = Self.address(ipLiteral: addressPart.utf8, port: 0), let bits = IPBits(address) else {
                throw invalid
            }
            switch bits {
            case .v4(let value):
                let length = prefix ?? 32
                guard length <= 32 else {
                    throw invalid
                }
                self.ipv4Ranges.append(IPv4Range(address: value, prefixLength: length))
            case .v6(let high, let low):
                let length = prefix ?? 128
                guard length <= 128 else {
                    throw invalid
                }
                if let mapped = bits.mappedIPv4, length >= 96 {
                    self.ipv4Ranges.append(IPv4Range(address: mapped, prefixLength: length - 96))
                } else {
                    self.ipv6Ranges.append(IPv6Range(high: high, low: low, prefixLength: length))
                }
            }
        }
        self.entries.append(String(entry))
    }

    private static func trimmed(_ text: Substring) -> Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) })
        else {
            return text[text.endIndex...]
        }
        return text[first...last]
    }
}

extension ForwardedAllowList {
    /// An IP address as integers in host order, read from a `SocketAddress`'s `sin_addr` or `sin6_addr`.
    enum IPBits: Hashable, Sendable {
        case v4(UInt32)
        case v6(high: UInt64, low: UInt64)

        /// The bits of an IPv4 or IPv6 address; nil for a Unix-domain socket.
        init?(_ address: SocketAddress) {
            switch address {
            case .v4(let ipv4):
                let value = withUnsafeBytes(of: ipv4.address.sin_addr) { $0.loadUnaligned(as: UInt32.self) }
                self = .v4(UInt32(bigEndian: value))
            case .v6(let ipv6):
                let (high, low) = withUnsafeBytes(of: ipv6.address.sin6_addr) {
                    (
                        $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                        $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                    )
                }
                self = .v6(high: UInt64(bigEndian: high), low: UInt64(bigEndian: low))
            case .unixDomainSocket:
                return nil
            }
        }

        /// The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) carries.
        var mappedIPv4: UInt32? {
            guard case .v6(let high, let low) = self, high == 0, low >> 32 == 0xffff else {
                return nil
            }
            return UInt32(truncatingIfNeeded: low)
        }
    }
}

/// An IPv4 network: the address with its host bits cleared, and the mask of its prefix.
private struct IPv4Range: Hashable, Sendable {
    var network: UInt32
    var mask: UInt32

    init(address: UInt32, prefixLength: Int) {
        self.mask = prefixLength == 0 ? 0 : ~UInt32(0) << (32 - prefixLength)
        self.network = address & self.mask
    }

    func contains(_ address: UInt32) -> Bool {
        address & self.mask == self.network
    }
}

/// An IPv6 network, as two 64-bit halves: the address with its host bits cleared, and the mask of its prefix.
private struct IPv6Range: Hashable, Sendable {
    var networkHigh: UInt64
    var networkLow: UInt64
    var maskHigh: UInt64
    var maskLow: UInt64

    init(high: UInt64, low: UInt64, prefixLength: Int) {
        self.maskHigh = Self.mask(bits: min(prefixLength, 64))
        self.maskLow = Self.mask(bits: max(prefixLength - 64, 0))
        self.networkHigh = high & self.maskHigh
        self.networkLow = low & self.maskLow
    }

    func contains(high: UInt64, low: UInt64) -> Bool {
        high & self.maskHigh == self.networkHigh && low & self.maskLow == self.networkLow
    }

    /// A 64-bit mask of `bits` leading ones, 0...64.
    private static func mask(bits: Int) -> UInt64 {
        bits == 0 ? 0 : ~UInt64(0) << (64 - bits)
    }
}
