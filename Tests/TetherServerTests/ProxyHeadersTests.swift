import HTTPTypes
import NIOCore
import Testing

@testable import TetherServer

/// Which peers' proxy headers are believed, and what those headers say about a request's origin: the client's
/// address, the scheme and the host, as `ProxyHeaders.resolve` reads them, without a socket.
@Suite struct ProxyHeadersTests {
    /// The proxies of most tests: a private IPv4 network, a unique-local IPv6 one, and one loopback address.
    static let proxies = try! ForwardedAllowList(["10.0.0.0/8", "fd00::/8", "127.0.0.1"])

    static func address(_ ip: String, _ port: Int = 0) -> SocketAddress {
        try! SocketAddress(ipAddress: ip, port: port)
    }

    static func client(_ ip: String, _ port: Int = 0) -> ForwardedOrigin.Client {
        .address(Self.address(ip, port))
    }

    static func fields(_ pairs: [(String, String)]) -> HTTPFields {
        HTTPFields(pairs.map { HTTPField(name: HTTPField.Name($0.0)!, value: $0.1) })
    }

    /// What `pairs` say, from a proxy at 10.0.0.1 unless told otherwise.
    static func resolve(
        _ pairs: (String, String)..., peer: SocketAddress? = ProxyHeadersTests.address("10.0.0.1", 51_000),
        trusted: ForwardedAllowList = ProxyHeadersTests.proxies
    ) -> ForwardedOrigin? {
        ProxyHeaders.resolve(Self.fields(pairs), peer: peer, trusted: trusted)
    }

    // MARK: The allow list

    @Test func parsesAddressesRangesUnixAndStar() throws {
        let list = try ForwardedAllowList(["127.0.0.1", " 10.0.0.0/8 ", "fd00::/8", "::1", "UNIX", "*"])
        #expect(list.description == "127.0.0.1, 10.0.0.0/8, fd00::/8, ::1, UNIX, *")
        let ranges = try ForwardedAllowList(["127.0.0.1", "10.0.0.0/8", "fd00::/8", "::1"])
        #expect(ranges.contains(Self.address("127.0.0.1")))
        #expect(!ranges.contains(Self.address("127.0.0.2")))
        #expect(ranges.contains(Self.address("10.255.0.1")))
        #expect(ranges.contains(Self.address("fd12:3456::1")))
        #expect(ranges.contains(Self.address("::1")))
        #expect(!ranges.contains(Self.address("::2")))
        #expect(try ForwardedAllowList(["10.0.0.0/8"]) == ForwardedAllowList(parsing: "10.0.0.0/8"))
        #expect(try ForwardedAllowList(["10.0.0.0/8"]) != ForwardedAllowList(parsing: "10.0.0.0/9"))
    }

    @Test func parsingAListIgnoresBlanksAndSkipsEmptyEntries() throws {
        let list = try ForwardedAllowList(parsing: " 10.0.0.1 , ,\t192.168.0.0/16,, ")
        #expect(list.description == "10.0.0.1, 192.168.0.0/16")
        #expect(list.contains(Self.address("10.0.0.1")))
        #expect(!list.contains(Self.address("10.0.0.2")))
        #expect(list.contains(Self.address("192.168.44.1")))
        #expect(try ForwardedAllowList(parsing: "").description == "")
        #expect(try ForwardedAllowList(parsing: " , ") == ForwardedAllowList.none)
    }

    static let invalidEntries = [
        "localhost", "10.0.0.0/33", "::/129", "10.0.0.1/", "10.0.0.1/-1", "10.0.0.1/+8", "10.0.0.1/ 8", "10.0.0.0/8/8",
        "10.0.0.0/0008", "1.2.3", "1.2.3.4.5", "256.1.1.1", "fe80::1%eth0", "[::1]", "", "10.0.0.1:80", "unix:",
        "**", "2001:db8::g", "10.0.0.1\u{0}", "٣.1.1.1",
    ]

    @Test(arguments: Self.invalidEntries)
    func invalidEntriesThrowNamingTheEntry(_ entry: String) {
        #expect(throws: ForwardedAllowList.InvalidEntry(entry: entry)) {
            try ForwardedAllowList(["127.0.0.1", entry, "also-bad"])
        }
    }

    @Test func parsingAListThrowsNamingTheFirstInvalidEntryTrimmed() {
        #expect(throws: ForwardedAllowList.InvalidEntry(entry: "nope")) {
            try ForwardedAllowList(parsing: "10.0.0.1,  nope , 10.0.0.0/99")
        }
        let error = ForwardedAllowList.InvalidEntry(entry: "nope")
        #expect(error.description.contains("\"nope\""))
    }

    @Test func rangesIgnoreHostBitsAndCompareBitByBit() throws {
        let list = try ForwardedAllowList(["10.1.2.3/8", "192.168.1.0/24", "2001:db8::1/32", "2001:db8:1:0:8000::/65"])
        #expect(list.contains(Self.address("10.200.0.1")))
        #expect(!list.contains(Self.address("11.0.0.0")))
        #expect(list.contains(Self.address("192.168.1.0")))
        #expect(list.contains(Self.address("192.168.1.255")))
        #expect(!list.contains(Self.address("192.168.2.0")))
        #expect(!list.contains(Self.address("192.168.0.255")))
        #expect(list.contains(Self.address("2001:db8:ffff::1")))
        #expect(!list.contains(Self.address("2001:db9::1")))
        // The 65th bit decides.
        let bit65 = try ForwardedAllowList(["2001:db9:0:0:8000::/65"])
        #expect(bit65.contains(Self.address("2001:db9::8000:0:0:1")))
        #expect(bit65.contains(Self.address("2001:db9::ffff:ffff:ffff:ffff")))
        #expect(!bit65.contains(Self.address("2001:db9::7fff:ffff:ffff:ffff")))
        #expect(!bit65.contains(Self.address("2001:db9:0:1:8000::")))
    }

    @Test func zeroPrefixesMatchTheirWholeFamily() throws {
        let v4 = try ForwardedAllowList(["0.0.0.0/0"])
        #expect(v4.contains(Self.address("8.8.8.8")))
        #expect(v4.contains(Self.address("255.255.255.255")))
        #expect(v4.contains(Self.address("::ffff:8.8.8.8")))
        #expect(!v4.contains(Self.address("2001:db8::1")))
        let v6 = try ForwardedAllowList(["::/0"])
        #expect(v6.contains(Self.address("2001:db8::1")))
        #expect(v6.contains(Self.address("::ffff:8.8.8.8")))
        #expect(!v6.contains(Self.address("8.8.8.8")))
    }

    @Test func ipv4MappedPeersAndEntriesMatchEitherSpelling() throws {
        let list = try ForwardedAllowList(["10.0.0.0/8", "::ffff:192.0.2.1", "::ffff:198.51.100.0/120"])
        #expect(list.contains(Self.address("::ffff:10.1.2.3")))
        #expect(!list.contains(Self.address("::ffff:11.1.2.3")))
        #expect(list.contains(Self.address("192.0.2.1")))
        #expect(list.contains(Self.address("::ffff:192.0.2.1")))
        #expect(!list.contains(Self.address("192.0.2.2")))
        #expect(list.contains(Self.address("198.51.100.77")))
        #expect(!list.contains(Self.address("198.51.101.77")))
        // Not mapped: the IPv4-compatible form and NAT64 prefix are other IPv6 addresses.
        #expect(!list.contains(Self.address("::10.1.2.3")))
        #expect(!list.contains(Self.address("64:ff9b::10.1.2.3")))
        let mappedRange = try ForwardedAllowList(["::ffff:0:0/96"])
        #expect(mappedRange.contains(Self.address("203.0.113.9")))
        #expect(!mappedRange.contains(Self.address("2001:db8::1")))
    }

    @Test func unixPeersMatchOnlyUnixOrStarAndNilOnlyStar() throws {
        let socket = try SocketAddress(unixDomainSocketPath: "/tmp/tether-proxy.sock")
        #expect(try ForwardedAllowList(["unix"]).contains(socket))
        #expect(try ForwardedAllowList(["*"]).contains(socket))
        #expect(!Self.proxies.contains(socket))
        #expect(try !ForwardedAllowList(["0.0.0.0/0", "::/0"]).contains(socket))
        #expect(try !ForwardedAllowList(["unix"]).contains(Self.address("127.0.0.1")))
        #expect(try ForwardedAllowList(["*"]).contains(nil))
        #expect(try !ForwardedAllowList(["unix", "0.0.0.0/0", "::/0"]).contains(nil))
        #expect(try ForwardedAllowList(["*"]).contains(Self.address("2001:db8::1")))
    }

    @Test func noneTrustsNoPeer() {
        let none = ForwardedAllowList.none
        #expect(!none.contains(Self.address("127.0.0.1")))
        #expect(!none.contains(Self.address("::1")))
        #expect(!none.contains(nil))
        #expect(!none.contains(ipLiteral: "127.0.0.1"))
        #expect(none.description == "")
    }

    @Test func ipLiteralsFromHeaders() throws {
        #expect(Self.proxies.contains(ipLiteral: "10.9.8.7"))
        #expect(Self.proxies.contains(ipLiteral: "fd00::1"[...]))
        #expect(Self.proxies.contains(ipLiteral: "::ffff:10.9.8.7"))
        #expect(!Self.proxies.contains(ipLiteral: "203.0.113.9"))
        #expect(!Self.proxies.contains(ipLiteral: "10.9.8.7:80"))
        #expect(!Self.proxies.contains(ipLiteral: "[fd00::1]"))
        #expect(!Self.proxies.contains(ipLiteral: "unknown"))
        #expect(!Self.proxies.contains(ipLiteral: " 10.9.8.7"))
        #expect(!Self.proxies.contains(ipLiteral: ""))
        #expect(try ForwardedAllowList(["*"]).contains(ipLiteral: "unknown"))
        #expect(try !ForwardedAllowList(["unix"]).contains(ipLiteral: "unix"))
    }

    // MARK: Whether anything is read

    @Test func anUntrustedPeerChangesNothingWhateverTheHeadersSay() throws {
        let headers: [(String, String)] = [
            ("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "example.com"),
            ("Forwarded", "for=203.0.113.9;proto=https;host=example.com"),
        ]
        let fields = Self.fields(headers)
        #expect(ProxyHeaders.resolve(fields, peer: Self.address("203.0.113.5", 1234), trusted: Self.proxies) == nil)
        #expect(ProxyHeaders.resolve(fields, peer: Self.address("::ffff:11.0.0.1"), trusted: Self.proxies) == nil)
        let socket = try SocketAddress(unixDomainSocketPath: "/tmp/tether-proxy.sock")
        #expect(ProxyHeaders.resolve(fields, peer: socket, trusted: Self.proxies) == nil)
        #expect(ProxyHeaders.resolve(fields, peer: nil, trusted: Self.proxies) == nil)
        #expect(ProxyHeaders.resolve(fields, peer: Self.address("127.0.0.1"), trusted: .none) == nil)
        // The same headers from a trusted peer are read.
        let expected = ForwardedOrigin(client: Self.client("203.0.113.9"), scheme: "https", host: "example.com")
        #expect(ProxyHeaders.resolve(fields, peer: Self.address("10.0.0.1"), trusted: Self.proxies) == expected)
        #expect(ProxyHeaders.resolve(fields, peer: socket, trusted: try ForwardedAllowList(["unix"])) == expected)
        #expect(ProxyHeaders.resolve(fields, peer: nil, trusted: try ForwardedAllowList(["*"])) == expected)
    }

    @Test func noProxyHeaderOrNoUsableOneIsNil() {
        #expect(Self.resolve() == nil)
        #expect(Self.resolve(("Host", "example.com"), ("X-Forwarded-Port", "443"), ("X-Real-IP", "1.2.3.4")) == nil)
        #expect(Self.resolve(("X-Forwarded-Proto", "ftp"), ("X-Forwarded-Host", "bad host")) == nil)
        #expect(Self.resolve(("X-Forwarded-For", "")) == nil)
        #expect(Self.resolve(("X-Forwarded-For", " , ,")) == nil)
        #expect(Self.resolve(("Forwarded", "")) == nil)
    }

    // MARK: X-Forwarded-For

    @Test func xForwardedForSingleHop() {
        #expect(Self.resolve(("X-Forwarded-For", "203.0.113.9")) == ForwardedOrigin(client: Self.client("203.0.113.9")))
        #expect(
            Self.resolve(("x-forwarded-for", " 2001:db8::9 ")) == ForwardedOrigin(client: Self.client("2001:db8::9")))
    }

    @Test func xForwardedForSkipsTrustedHopsFromTheRight() {
        let origin = Self.resolve(("X-Forwarded-For", "203.0.113.9, 10.0.0.2,fd00::3 , 127.0.0.1"))
        #expect(origin == ForwardedOrigin(client: Self.client("203.0.113.9")))
        // An untrusted hop nearer than the client stops the walk: it is the client as far as we can tell.
        let stopped = Self.resolve(("X-Forwarded-For", "203.0.113.9, 198.51.100.4, 10.0.0.2"))
        #expect(stopped == ForwardedOrigin(client: Self.client("198.51.100.4")))
    }

    @Test func spoofedEntriesLeftOfTheUntrustedOneAreIgnored() {
        // The client sent `X-Forwarded-For: 1.1.1.1`; nginx appended the address it saw.
        #expect(Self.resolve(("X-Forwarded-For", "1.1.1.1, 203.0.113.9")) == .init(client: Self.client("203.0.113.9")))
        // A client that claims to be a trusted proxy gains nothing either.
        #expect(Self.resolve(("X-Forwarded-For", "10.0.0.9, 203.0.113.9")) == .init(client: Self.client("203.0.113.9")))
    }

    @Test func allTrustedHopsGiveTheLeftmost() {
        let origin = Self.resolve(("X-Forwarded-For", "10.0.0.5, 10.0.0.6, 127.0.0.1"))
        #expect(origin == ForwardedOrigin(client: Self.client("10.0.0.5")))
    }

    @Test func severalXForwardedForFieldsAreOneList() {
        let origin = Self.resolve(("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "203.0.113.9, 10.0.0.2"))
        #expect(origin == ForwardedOrigin(client: Self.client("203.0.113.9")))
        let leftField = Self.resolve(
            ("X-Forwarded-For", "203.0.113.7"), ("Accept", "*/*"), ("X-Forwarded-For", "10.0.0.2"))
        #expect(leftField == ForwardedOrigin(client: Self.client("203.0.113.7")))
        let allTrusted = Self.resolve(("X-Forwarded-For", "10.0.0.3, 10.0.0.4"), ("X-Forwarded-For", "10.0.0.2"))
        #expect(allTrusted == ForwardedOrigin(client: Self.client("10.0.0.3")))
    }

    static let entriesWithPorts: [(String, ForwardedOrigin.Client)] = [
        ("203.0.113.9:5678", client("203.0.113.9", 5678)),
        ("203.0.113.9:0", client("203.0.113.9", 0)),
        ("203.0.113.9:65535", client("203.0.113.9", 65_535)),
        ("[2001:db8::1]:80", client("2001:db8::1", 80)),
        ("[2001:db8::1]", client("2001:db8::1", 0)),
        ("2001:db8::1", client("2001:db8::1", 0)),
        ("::ffff:203.0.113.9", client("::ffff:203.0.113.9", 0)),
        ("203.0.113.9:65536", .unknown),
        ("203.0.113.9:", .unknown),
        ("203.0.113.9:80:80", .unknown),
        ("[2001:db8::1]80", .unknown),
        ("[203.0.113.9]:80", .unknown),
        ("2001:db8::1:80]", .unknown),
        ("[2001:db8::1", .unknown),
    ]

    @Test(arguments: Self.entriesWithPorts)
    func xForwardedForEntriesWithPorts(_ entry: String, _ client: ForwardedOrigin.Client) {
        #expect(Self.resolve(("X-Forwarded-For", "\(entry), 10.0.0.2")) == ForwardedOrigin(client: client))
    }

    static let notAddresses = [
        "unknown", "garbage", "_hidden", "203.0.113", "203.0.113.9 198.51.100.1", "fe80::1%eth0", "example.com",
        "\"203.0.113.9\"", "0x01.2.3.4", "-1.2.3.4", "203.0.113.9/32",
    ]

    @Test(arguments: Self.notAddresses)
    func anEntryThatIsNoAddressIsAnUnknownClientNeverAFartherOneNorThePeer(_ entry: String) {
        let origin = Self.resolve(("X-Forwarded-For", "203.0.113.9, \(entry), 10.0.0.2"))
        #expect(origin == ForwardedOrigin(client: .unknown))
    }

    @Test func emptyEntriesAreSkipped() {
        let origin = Self.resolve(("X-Forwarded-For", ",203.0.113.9, ,,10.0.0.2,"), ("X-Forwarded-For", ""))
        #expect(origin == ForwardedOrigin(client: Self.client("203.0.113.9")))
    }

    @Test func starTrustsEveryHopSoTheLeftmostIsTheClient() throws {
        let star = try ForwardedAllowList(["*"])
        let origin = Self.resolve(
            ("X-Forwarded-For", " , 1.1.1.1, 203.0.113.9"), peer: Self.address("8.8.8.8"), trusted: star)
        #expect(origin == ForwardedOrigin(client: Self.client("1.1.1.1")))
        let split = Self.resolve(
            ("X-Forwarded-For", ""), ("X-Forwarded-For", "1.1.1.2:7"), ("X-Forwarded-For", "9.9.9.9"), trusted: star)
        #expect(split == ForwardedOrigin(client: Self.client("1.1.1.2", 7)))
        let garbage = Self.resolve(("X-Forwarded-For", "unknown, 203.0.113.9"), trusted: star)
        #expect(garbage == ForwardedOrigin(client: .unknown))
    }

    @Test func theWalkStopsAfterMaxHops() {
        let hops = (0..<ProxyHeaders.maxHops).map { "10.0.\($0 / 250).\($0 % 250 + 1)" }
        // Exactly `maxHops` trusted hops: the leftmost.
        #expect(
            Self.resolve(("X-Forwarded-For", hops.joined(separator: ", "))) == .init(client: Self.client("10.0.0.1")))
        // One trusted hop fewer and the client: the client.
        let client = (["198.51.100.7"] + hops.dropFirst()).joined(separator: ", ")
        #expect(Self.resolve(("X-Forwarded-For", client)) == .init(client: Self.client("198.51.100.7")))
        // `maxHops` trusted hops and more: unknown, however the rest reads.
        let past = (["198.51.100.7"] + hops).joined(separator: ", ")
        #expect(Self.resolve(("X-Forwarded-For", past)) == ForwardedOrigin(client: .unknown))
        let pastAcrossFields = Self.resolve(
            ("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", hops.joined(separator: ",")))
        #expect(pastAcrossFields == ForwardedOrigin(client: .unknown))
    }

    @Test func tenThousandHopsAreHandled() {
        let trustedHops = Array(repeating: "10.0.0.2", count: 10_000).joined(separator: ",")
        #expect(Self.resolve(("X-Forwarded-For", trustedHops)) == ForwardedOrigin(client: .unknown))
        let withClient = trustedHops + ",203.0.113.9"
        #expect(Self.resolve(("X-Forwarded-For", withClient)) == ForwardedOrigin(client: Self.client("203.0.113.9")))
        let forwarded = Array(repeating: "for=10.0.0.2", count: 10_000).joined(separator: ",")
        #expect(Self.resolve(("Forwarded", forwarded)) == ForwardedOrigin(client: .unknown))
        #expect(
            Self.resolve(("Forwarded", forwarded + ",for=203.0.113.9")) == .init(client: Self.client("203.0.113.9")))
        let star = try! ForwardedAllowList(["*"])
        #expect(
            Self.resolve(("Forwarded", "for=1.2.3.4," + forwarded), trusted: star)
                == .init(client: Self.client("1.2.3.4")))
        let commas = String(repeating: ",", count: 50_000)
        #expect(Self.resolve(("X-Forwarded-For", commas), ("Forwarded", commas)) == nil)
    }

    // MARK: X-Forwarded-Proto and X-Forwarded-Host

    static let protos: [(String, String?)] = [
        ("https", "https"), ("http", "http"), (" HTTPS ", "https"), ("Http", "http"), ("\thttps", "https"),
        ("ftp", nil), ("ws", "http"), ("WSS", "https"), ("https, http", nil), ("http,https", nil), ("https,", nil),
        ("", nil), ("htt", nil), ("httpss", nil), ("\"https\"", nil), ("h ttps", nil),
    ]

    @Test(arguments: Self.protos)
    func xForwardedProto(_ value: String, _ scheme: String?) {
        let origin = Self.resolve(("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", value))
        #expect(origin == ForwardedOrigin(client: Self.client("203.0.113.9"), scheme: scheme))
    }

    @Test func xForwardedProtoAloneAndTwice() {
        #expect(Self.resolve(("X-Forwarded-Proto", "https")) == ForwardedOrigin(scheme: "https"))
        #expect(Self.resolve(("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "https")) == nil)
    }

    static let hosts: [(String, String?)] = [
        ("example.com", "example.com"), ("Example.COM:8443", "Example.COM:8443"), (" example.com ", "example.com"),
        ("a.example, b.example.org", "b.example.org"), ("a.example,", "a.example"),
        ("[2001:db8::1]:8080", "[2001:db8::1]:8080"),
        ("[2001:db8::1]", "[2001:db8::1]"), ("203.0.113.9:80", "203.0.113.9:80"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("under_score.example~", "under_score.example~"),
        ("exa mple.com", nil), ("evil.com/path", nil), ("user@evil.com", nil), ("example.com:", nil),
        ("example.com:99999", nil), ("example.com:123456", nil), ("example.com:8a", nil), ("ex%41mple.com", nil),
        ("", nil), ("example.com, ", "example.com"), ("[2001:db8::1", nil), ("[not-v6]", nil), ("[::1]x", nil),
        ("example.com\\", nil), ("bücher.example", nil), ("a.example, bad host", nil), ("example.com:_obf", nil),
        ("exa\"mple", nil), ("host;x=1", nil), (String(repeating: "a", count: 256), nil),
        (String(repeating: "a", count: 255), String(repeating: "a", count: 255)),
    ]

    @Test(arguments: Self.hosts)
    func xForwardedHost(_ value: String, _ host: String?) {
        let origin = Self.resolve(("X-Forwarded-Host", value), ("X-Forwarded-Proto", "https"))
        #expect(origin == ForwardedOrigin(scheme: "https", host: host))
    }

    @Test func theLastXForwardedHostFieldWins() {
        let origin = Self.resolve(("X-Forwarded-Host", "first.example"), ("X-Forwarded-Host", "second.example"))
        #expect(origin == ForwardedOrigin(host: "second.example"))
        let emptyLast = Self.resolve(("X-Forwarded-Host", "first.example"), ("X-Forwarded-Host", " , "))
        #expect(emptyLast == ForwardedOrigin(host: "first.example"))
    }

    // MARK: Forwarded

    @Test func forwardedWithAQuotedIPv6AndPort() {
        let origin = Self.resolve(("Forwarded", #"for="[2001:db8:cafe::17]:4711";proto=https;host=example.com"#))
        #expect(
            origin
                == ForwardedOrigin(client: Self.client("2001:db8:cafe::17", 4711), scheme: "https", host: "example.com")
        )
        let v4 = Self.resolve(("Forwarded", #"for="192.0.2.60:8080";proto=http;by=203.0.113.43"#))
        #expect(v4 == ForwardedOrigin(client: Self.client("192.0.2.60", 8080), scheme: "http"))
        let bracketed = Self.resolve(("Forwarded", #"for="[2001:db8:cafe::17]""#))
        #expect(bracketed == ForwardedOrigin(client: Self.client("2001:db8:cafe::17")))
    }

    static let forwardedNonAddresses: [(String, ForwardedOrigin)] = [
        ("for=_hidden;proto=https", ForwardedOrigin(client: .unknown, scheme: "https")),
        (#"for="_gazonk""#, ForwardedOrigin(client: .unknown)),
        ("for=unknown;host=example.com", ForwardedOrigin(client: .unknown, host: "example.com")),
        ("for=UNKNOWN", ForwardedOrigin(client: .unknown)),
        (#"for="""#, ForwardedOrigin(client: .unknown)),
        ("for=example.com", ForwardedOrigin(client: .unknown)),
        (#"for="203.0.113.9:99999""#, ForwardedOrigin(client: .unknown)),
        (#"for="2001:db8::1""#, ForwardedOrigin(client: client("2001:db8::1"))),
        (#"for="[2001:db8::1]:_port""#, ForwardedOrigin(client: client("2001:db8::1"))),
        (#"for="203.0.113.9:_p-1.x""#, ForwardedOrigin(client: client("203.0.113.9"))),
        (#"for="203.0.113.9:_""#, ForwardedOrigin(client: .unknown)),
    ]

    @Test(arguments: Self.forwardedNonAddresses)
    func forwardedObfuscatedAndUnknownNodes(_ value: String, _ origin: ForwardedOrigin) {
        #expect(Self.resolve(("Forwarded", value), ("X-Forwarded-For", "198.51.100.1")) == origin)
    }

    @Test func forwardedWalksFromTheRightAcrossFields() {
        let origin = Self.resolve(
            ("Forwarded", "for=1.1.1.1;proto=http;host=spoofed.example"),
            ("Forwarded", "for=203.0.113.9;proto=https;host=example.com, for=10.0.0.2;proto=http;host=internal"))
        #expect(origin == ForwardedOrigin(client: Self.client("203.0.113.9"), scheme: "https", host: "example.com"))
        let allTrusted = Self.resolve(("Forwarded", "for=10.0.0.7;proto=https, for=\"[fd00::8]\";proto=http"))
        #expect(allTrusted == ForwardedOrigin(client: Self.client("10.0.0.7"), scheme: "https"))
        let unknownNearer = Self.resolve(
            ("Forwarded", "for=203.0.113.9;proto=https, for=unknown;proto=http, for=10.0.0.2"))
        #expect(unknownNearer == ForwardedOrigin(client: .unknown, scheme: "http"))
    }

    @Test func anElementWithoutForLeavesTheClientUnchanged() {
        let origin = Self.resolve(("Forwarded", "proto=https;host=example.com"))
        #expect(origin == ForwardedOrigin(client: .unchanged, scheme: "https", host: "example.com"))
        // It is no trusted hop either: the walk stops there.
        let chain = Self.resolve(("Forwarded", "for=203.0.113.9;proto=http, proto=https"))
        #expect(chain == ForwardedOrigin(client: .unchanged, scheme: "https"))
    }

    @Test func forwardedTakesPrecedenceOverXForwarded() {
        let origin = Self.resolve(
            ("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-Proto", "http"), ("X-Forwarded-Host", "x.example"),
            ("Forwarded", "for=203.0.113.9"))
        #expect(origin == ForwardedOrigin(client: Self.client("203.0.113.9")))
    }

    static let malformedForwarded = [
        "for=203.0.113.9;proto", "for=\"203.0.113.9", "for=203.0.113.9:80", "for=1.1.1.1;for=2.2.2.2",
        "proto=https;PROTO=http", "host=a;Host=b", "by=a;by=b", "for==x", "for=a b", "=x", "for=",
        "for=\"[2001:db8::1]\"x", "for=\"a\\", "for=[2001:db8::1]", "for=1.2.3.4 proto=https",
        "for=1.2.3.4;proto=https, for=\"unterminated", "for=1.2.3.4,;=", "for = 1.2.3.4", "for=1.2.3.4\"",
        "for=\"a\"\"b\"", "fo r=1.2.3.4", "for=1.2.3.4;;proto=https;(x)=y",
    ]

    @Test(arguments: Self.malformedForwarded)
    func malformedForwardedFallsBackToXForwarded(_ value: String) {
        let origin = Self.resolve(
            ("X-Forwarded-For", "198.51.100.1"), ("Forwarded", "for=203.0.113.77;proto=http"), ("Forwarded", value),
            ("X-Forwarded-Proto", "https"))
        #expect(origin == ForwardedOrigin(client: Self.client("198.51.100.1"), scheme: "https"))
    }

    @Test func forwardedSyntaxIsReadAsTheRFCWritesIt() {
        // Names in any case, escapes in quoted-strings, blanks around `;` and `,`, empty elements and pairs,
        // extension parameters and `by`.
        let origin = Self.resolve(
            ("Forwarded", #" , FOR="\[2001:db8::1\]:443" ; Proto=HTTPS;;HOST="ex\ample.com" ;by=_proxy;ext="a,b;c", ,"#)
        )
        #expect(
            origin == ForwardedOrigin(client: Self.client("2001:db8::1", 443), scheme: "https", host: "example.com"))
        let quotedProto = Self.resolve(("Forwarded", #"for=203.0.113.9;proto="https";host="[::1]:8080""#))
        #expect(quotedProto == ForwardedOrigin(client: Self.client("203.0.113.9"), scheme: "https", host: "[::1]:8080"))
        let badValues = Self.resolve(("Forwarded", #"for=203.0.113.9;proto=ftp;host="a b""#))
        #expect(badValues == ForwardedOrigin(client: Self.client("203.0.113.9")))
        // An element of only separators is an empty element: the one left of it is read.
        let empty = Self.resolve(("Forwarded", "for=203.0.113.9, ;, for=10.0.0.2"))
        #expect(empty == ForwardedOrigin(client: Self.client("203.0.113.9")))
    }

    @Test func forwardedWithNoElementFallsBackToXForwarded() {
        let origin = Self.resolve(("Forwarded", " ,; , "), ("X-Forwarded-For", "198.51.100.1"))
        #expect(origin == ForwardedOrigin(client: Self.client("198.51.100.1")))
    }

    @Test func forwardedObsTextIsWellFormedButNoAddress() {
        var fields = Self.fields([("X-Forwarded-For", "198.51.100.1")])
        let bytes = Array(#"for=""#.utf8) + [0xFF, 0xC3] + Array(#"";proto=https"#.utf8)
        fields.append(HTTPField(name: HTTPField.Name("Forwarded")!, value: bytes))
        let origin = ProxyHeaders.resolve(fields, peer: Self.address("10.0.0.1"), trusted: Self.proxies)
        #expect(origin == ForwardedOrigin(client: .unknown, scheme: "https"))
        // A control character is no qdtext: the field is malformed (HTTPTypes keeps it only in a lenient value).
        var control = Self.fields([("X-Forwarded-For", "198.51.100.1")])
        control.append(HTTPField(name: HTTPField.Name("Forwarded")!, lenientValue: Array("for=\"\u{7}\"".utf8)))
        let fallBack = ProxyHeaders.resolve(control, peer: Self.address("10.0.0.1"), trusted: Self.proxies)
        #expect(fallBack == ForwardedOrigin(client: Self.client("198.51.100.1")))
    }

    @Test func forwardedStopsAfterMaxHopsToo() {
        let hops = (0..<ProxyHeaders.maxHops).map { "for=10.0.\($0 / 250).\($0 % 250 + 1);proto=http" }
        let exact = Self.resolve(("Forwarded", hops.joined(separator: ", ")))
        #expect(exact == ForwardedOrigin(client: Self.client("10.0.0.1"), scheme: "http"))
        let past = Self.resolve(("Forwarded", (["for=198.51.100.7;proto=https"] + hops).joined(separator: ",")))
        #expect(past == ForwardedOrigin(client: .unknown))
    }

    // MARK: Any input

    /// A few thousand header sets built from pieces of real ones, mutated byte by byte (invalid UTF-8 and controls
    /// included), the same on every run: nothing traps, an untrusted peer is never read, and whatever is read is valid.
    @Test func randomAndMutatedHeadersNeverTrapAndAnUntrustedPeerChangesNothing() throws {
        var random = SplitMix64(seed: 0x7E7E_0001)
        let names = ["Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Host"]
        let pieces = [
            "for=", "proto=", "host=", "by=", ";", ",", " ", "\"", "\\", "[", "]", ":", "_", "=", "unknown", "10.0.0.2",
            "203.0.113.9", "2001:db8::1", "fd00::1", "::ffff:10.0.0.1", "https", "http", "example.com", ":443",
            ":99999",
            "\t", "%", "@", "/", "1.2.3", "256.0.0.1",
        ]
        let star = try ForwardedAllowList(["*"])
        var read = 0
        for round in 0..<4_000 {
            var fields = HTTPFields()
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                var bytes: [UInt8] = []
                for _ in 0..<Int.random(in: 0...12, using: &random) {
                    bytes += Array(pieces.randomElement(using: &random)!.utf8)
                }
                for _ in 0..<Int.random(in: 0...3, using: &random) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
                let name = HTTPField.Name(names.randomElement(using: &random)!)!
                fields.append(
                    round.isMultiple(of: 2)
                        ? HTTPField(name: name, value: bytes) : HTTPField(name: name, lenientValue: bytes))
            }
            #expect(ProxyHeaders.resolve(fields, peer: Self.address("203.0.113.5"), trusted: Self.proxies) == nil)
            #expect(ProxyHeaders.resolve(fields, peer: nil, trusted: Self.proxies) == nil)
            for trusted in [Self.proxies, star] {
                let origin = ProxyHeaders.resolve(fields, peer: Self.address("10.0.0.1"), trusted: trusted)
                #expect(origin == ProxyHeaders.resolve(fields, peer: Self.address("10.0.0.1"), trusted: trusted))
                guard let origin else {
                    continue
                }
                read += 1
                #expect(origin != ForwardedOrigin())
                #expect(origin.scheme == nil || origin.scheme == "http" || origin.scheme == "https")
                if let host = origin.host {
                    #expect(!host.isEmpty && host.utf8.count <= 262)
                    #expect(!host.utf8.contains { $0 <= 0x20 || $0 >= 0x7F || "/@\\\",;%".utf8.contains($0) })
                }
                if case .address(let address) = origin.client {
                    #expect(address.ipAddress != nil)
                }
            }
        }
        // The generator does reach the readers.
        #expect(read > 1_000)
    }
}

/// SplitMix64: a seeded generator, so the random test is the same on every run.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = self.state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
