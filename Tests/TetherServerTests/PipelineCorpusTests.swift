import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
import TetherGateway
@_spi(Fuzzing) import TetherServer

/// The malformed-input corpus through a connection's real pipeline on an `EmbeddedChannel`, at every byte split.
@Suite struct PipelineCorpusTests {
    /// A raw request, the statuses it may get ("200": served, nothing refused), and its splits (`nil`: all).
    struct Feed: Sendable, CustomTestStringConvertible {
        var name: String
        var request: String
        var statuses: [String]
        var splits: [Int]? = nil
        var testDescription: String { self.name }
    }

    /// Configured as `BadInputTests` configures its servers; only its pipeline is used.
    static let server = Server(
        application: InlineApplication { _, _, _ in },
        configuration: {
            var configuration = Server.Configuration()
            configuration.maxBodySize = 1000
            configuration.accessLog = false
            return configuration
        }())

    /// The thread the splits are fed on: thousands of pipelines would otherwise hold Swift's cooperative threads,
    /// which every other test shares, for seconds.
    static let thread: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    @Test(arguments: BadInputTests.cases)
    func corpusCaseAtEverySplit(_ testCase: BadInputTests.Case) async throws {
        let feed = Feed(name: testCase.name, request: testCase.request, statuses: [testCase.status])
        try await Self.check(feed)
    }

    /// The exact limits: every byte of a head up to its blank line, 100 fields, 16 KiB of chunked framing.
    static let limitCases: [Feed] = [
        // 64 fields, not thousands of `a: b`: a head of 16 KiB in 100 fields or fewer cannot be made of tiny ones.
        Feed(name: "head of exactly maxHeadBytes", request: head(bytes: 16_384, fields: 64), statuses: ["200"]),
        Feed(name: "head one byte over maxHeadBytes", request: head(bytes: 16_385, fields: 64), statuses: ["431"]),
        Feed(name: "one long field, head one byte over", request: head(bytes: 16_385, fields: 2), statuses: ["431"]),
        Feed(name: "exactly maxHeaderFields fields", request: shortFields(100), statuses: ["200"]),
        Feed(name: "one field over maxHeaderFields", request: shortFields(101), statuses: ["431"]),
        {
            let request = chunkedPost("5;ext=\(String(repeating: "a", count: 1_000_000))\r\nhello\r\n0\r\n\r\n")
            let (head, n) = (chunkedPost("").utf8.count, request.utf8.count)
            // Five splits, not thousands: none, in `5;ext=`, in the extension, in the last chunk, after it all.
            let splits = [0, head + 3, n / 2, n - 4, n]
            return Feed(name: "1 MB chunk extension", request: request, statuses: ["400"], splits: splits)
        }(),
        Feed(
            name: "100 KB trailer section",
            request: chunkedPost("0\r\nX-T: \(String(repeating: "a", count: 100_000))\r\n\r\n"),
            statuses: ["400", "431"]),
    ]

    @Test(arguments: Self.limitCases)
    func limitCaseAtEverySplit(_ feed: Feed) async throws {
        try await Self.check(feed)
    }

    @Test func theLimitCasesHeadsHaveTheirStatedSizes() {
        #expect(Self.head(bytes: 16_384, fields: 64).utf8.count == 16_384)
        #expect(Self.head(bytes: 16_385, fields: 64).utf8.count == 16_385)
        #expect(Self.head(bytes: 16_385, fields: 2).utf8.count == 16_385)
        #expect(Self.head(bytes: 16_384, fields: 64).split(separator: "\r\n").count == 1 + 64)
        #expect(Self.shortFields(101).split(separator: "\r\n").count == 1 + 101)
    }

    // MARK: - Building requests

    /// A GET head of exactly `bytes` bytes with `fields` fields, Host among them: the request line (16 bytes),
    /// `Host: x\r\n` (9), then `X-<i>: <value>\r\n` fields (name + 4 bytes + value), then the blank line (2).
    static func head(bytes: Int, fields: Int) -> String {
        let start = "GET / HTTP/1.1\r\nHost: x\r\n"
        let names = (1..<max(fields, 2)).map { "X-\($0)" }
        // Everything but the values: the start, each name with its `: ` and CRLF, and the blank line.
        let framing = start.utf8.count + names.reduce(0) { $0 + $1.utf8.count + 4 } + 2
        let valueBytes = max(bytes - framing, 0)
        let fieldLines = names.enumerated().map { index, name in
            let length = valueBytes / names.count + (index < valueBytes % names.count ? 1 : 0)
            return "\(name): \(String(repeating: "a", count: length))\r\n"
        }
        return start + fieldLines.joined() + "\r\n"
    }

    /// A GET head of `count` fields in all: Host and `count - 1` fields `X-<i>: 1`.
    static func shortFields(_ count: Int) -> String {
        "GET / HTTP/1.1\r\nHost: x\r\n" + (1..<max(count, 1)).map { "X-\($0): 1\r\n" }.joined() + "\r\n"
    }

    /// A chunked POST whose body is `body`, as sent.
    static func chunkedPost(_ body: String) -> String {
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    }

    // MARK: - Feeding

    /// Every split of a request up to 2,048 bytes; of a longer one, within its first and last 256 bytes and every
    /// 61st byte between.
    static func splits(of count: Int) -> [Int] {
        guard count > 2048 else { return Array(0...count) }
        return Array(0...256) + Array(stride(from: 256 + 61, to: count - 256, by: 61)) + Array((count - 256)...count)
    }

    /// What the server wrote back, whether the connection is still open, and any error the channel threw.
    struct Outcome {
        var output: String
        var active: Bool
        var error: (any Error)?
    }

    /// Feeds `bytes` to a fresh connection in two reads, split at `split`, and drains what the server writes.
    static func feed(_ bytes: [UInt8], splitAt split: Int) throws -> Outcome {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        try Self.server.installHTTPPipeline(on: channel)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var thrown: (any Error)?
        do {
            // Once the server has closed, the rest of the bytes have nowhere to go.
            for part in [bytes[..<split], bytes[split...]] where !part.isEmpty && channel.isActive {
                try channel.writeInbound(ByteBuffer(bytes: part))
            }
        } catch {
            thrown = error
        }
        channel.embeddedEventLoop.run()
        var output = ByteBuffer()
        while let data = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(var buffer) = data { output.writeBuffer(&buffer) }
        }
        return Outcome(output: String(buffer: output), active: channel.isActive, error: thrown)
    }

    /// What is wrong with `outcome` for a request that may get `statuses`, or `nil` if nothing is.
    static func problem(with outcome: Outcome, statuses: [String]) -> String? {
        let output = outcome.output
        let isResponse = output.hasPrefix("HTTP/1.1 ") || output.hasPrefix("HTTP/1.0 ")
        let status = isResponse ? String(output.dropFirst(9).prefix(3)) : nil
        if statuses == ["200"] {
            if let status, status.hasPrefix("4") || status.hasPrefix("5") { return "refused with \(status)" }
            if !outcome.active { return "closed without a refusal" }
            if let error = outcome.error { return "the channel threw \(error)" }
            return nil
        }
        guard let status, statuses.contains(status) else { return "got status \(status ?? "none")" }
        if !output.contains("\r\nConnection: close\r\n") { return "no Connection: close" }
        if outcome.active { return "left open after the refusal" }
        return nil
    }

    /// Feeds `feed` at each of its splits; records one issue per case: its first failing split, and which fail.
    static func check(_ feed: Feed) async throws {
        if let problem = try await Self.thread.runIfActive({ try Self.problem(feeding: feed) }) {
            Issue.record(Comment(rawValue: problem))
        }
    }

    /// What goes wrong when `feed` is fed at each of its splits, or `nil`.
    static func problem(feeding feed: Feed) throws -> String? {
        let bytes = Array(feed.request.utf8)
        let splits = feed.splits ?? Self.splits(of: bytes.count)
        var first: (split: Int, problem: String, output: String)?
        var failing: [Int] = []
        for split in splits {
            let outcome = try Self.feed(bytes, splitAt: split)
            guard let problem = Self.problem(with: outcome, statuses: feed.statuses) else { continue }
            if first == nil { first = (split, problem, outcome.output) }
            failing.append(split)
        }
        guard let first else { return nil }
        let listed = failing.prefix(12).map(String.init).joined(separator: ", ") + (failing.count > 12 ? ", …" : "")
        let expected = feed.statuses.joined(separator: " or ")
        return """
            \(feed.name): at split \(first.split) of \(bytes.count) bytes, expected \(expected) but \(first.problem); \
            \(failing.count) of \(splits.count) splits fail (\(listed)). \
            Output: \(String(reflecting: first.output.prefix(160)))
            """
    }
}
