import HTTPTypes
import NIOCore
import Synchronization
import TestSupport
import Testing
import TetherGateway
import TetherServer
import TetherSoak
import TetherWeb

/// A corpus of malformed and smuggling-shaped requests (RFC 9112): each gets its status and a closed connection,
/// reaches no handler, and leaves the server answering.
@Suite struct BadInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var request: String
        var status: String
        var testDescription: String { self.name }
    }

    /// Each raw request with the status it must get; a 200 case is valid and reaches the handler once.
    static let cases: [Case] = [
        // Request lines and methods.
        Case(name: "garbage request line", request: "GARBAGE\r\n\r\n", status: "400"),
        Case(name: "method with an invalid character", request: "G@T / HTTP/1.1\r\nHost: x\r\n\r\n", status: "400"),
        Case(name: "lower-case method", request: "get / HTTP/1.1\r\nHost: x\r\n\r\n", status: "400"),
        Case(name: "missing version", request: "GET /\r\nHost: x\r\n\r\n", status: "400"),
        Case(name: "space in the target", request: "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", status: "400"),
        Case(name: "NUL in the target", request: "GET /\u{00} HTTP/1.1\r\nHost: x\r\n\r\n", status: "400"),
        Case(name: "target without a slash", request: "GET foo HTTP/1.1\r\nHost: x\r\n\r\n", status: "400"),
        Case(name: "asterisk target on GET", request: "GET * HTTP/1.1\r\nHost: x\r\n\r\n", status: "400"),
        Case(name: "fragment in the target", request: "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", status: "400"),
        Case(
            name: "over-long target",
            request: "GET /\(String(repeating: "a", count: 10_000)) HTTP/1.1\r\nHost: x\r\n\r\n", status: "414"),
        Case(
            name: "target longer than the head limit",
            request: "GET /\(String(repeating: "a", count: 20_000)) HTTP/1.1\r\nHost: x\r\n\r\n", status: "414"),
        Case(name: "absolute-form target", request: "GET http://x/ok HTTP/1.1\r\nHost: x\r\n\r\n", status: "200"),
        // Versions and Host.
        // Not HTTP/2's preface from its third line on: read as an HTTP/1 request line naming version 2.0.
        Case(name: "broken HTTP/2 preface", request: "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", status: "505"),
        Case(name: "HTTP/2.0 request line", request: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", status: "505"),
        Case(name: "HTTP/3.0 request line", request: "GET / HTTP/3.0\r\nHost: x\r\n\r\n", status: "505"),
        Case(name: "HTTP/1.1 without Host", request: "GET / HTTP/1.1\r\n\r\n", status: "400"),
        Case(name: "HTTP/1.1 with two Hosts", request: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: "400"),
        Case(name: "HTTP/1.0 without Host", request: "GET / HTTP/1.0\r\n\r\n", status: "200"),
        Case(name: "HTTP/1.0 with two Hosts", request: "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", status: "400"),
        // Header fields.
        Case(
            name: "oversized header block",
            request: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n",
            status: "431"),
        Case(
            name: "many fields over the head limit",
            request: "GET / HTTP/1.1\r\nHost: x\r\n\(String(repeating: "X-Field: 0123456789\r\n", count: 1_000))\r\n",
            status: "431"),
        Case(
            name: "space in a header name", request: "GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n", status: "400"),
        Case(
            name: "invalid character in a header name", request: "GET / HTTP/1.1\r\nHost: x\r\nX(: 1\r\n\r\n",
            status: "400"),
        Case(name: "empty header name", request: "GET / HTTP/1.1\r\nHost: x\r\n: x\r\n\r\n", status: "400"),
        Case(name: "header without a colon", request: "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", status: "400"),
        Case(name: "space before the colon", request: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", status: "400"),
        Case(
            name: "control character in a value", request: "GET / HTTP/1.1\r\nHost: x\r\nX: a\u{01}b\r\n\r\n",
            status: "400"),
        Case(name: "NUL in a value", request: "GET / HTTP/1.1\r\nHost: x\r\nX: a\u{00}b\r\n\r\n", status: "400"),
        Case(name: "bare CR in a value", request: "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", status: "400"),
        Case(name: "obsolete line folding", request: "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", status: "400"),
        Case(name: "LF-only line ends", request: "GET / HTTP/1.1\nHost: x\n\n", status: "400"),
        // Smuggling shapes.
        Case(
            name: "Content-Length with Transfer-Encoding",
            request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            status: "400"),
        Case(
            name: "Transfer-Encoding with Content-Length",
            request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            status: "400"),
        Case(
            name: "conflicting Content-Lengths",
            request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", status: "400"),
        Case(
            name: "repeated equal Content-Lengths",
            request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd", status: "400"),
        Case(
            name: "Content-Length list", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd",
            status: "400"),
        Case(
            name: "negative Content-Length", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            status: "400"),
        Case(
            name: "signed Content-Length", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
            status: "400"),
        Case(
            name: "hexadecimal Content-Length",
            request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x4\r\n\r\nabcd", status: "400"),
        Case(
            name: "overflowing Content-Length",
            request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", status: "400"),
        Case(
            name: "chunked, identity",
            request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
            status: "400"),
        Case(
            name: "chunked sent twice",
            request:
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            status: "400"),
        Case(
            name: "chunked not last",
            request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", status: "400"),
        Case(
            name: "xchunked", request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
            status: "400"),
        Case(
            name: "unsupported coding before chunked",
            request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: "501"),
        Case(
            name: "space before the Transfer-Encoding colon",
            request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", status: "400"),
        // Chunked bodies.
        Case(
            name: "invalid chunk size",
            request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            status: "400"),
        Case(
            name: "chunk size overflow",
            request:
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
            status: "400"),
        Case(
            name: "control character in a chunk extension",
            request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e\u{01}x\r\nhello\r\n0\r\n\r\n",
            status: "400"),
        Case(
            name: "missing CRLF after chunk data",
            request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX0\r\n\r\n",
            status: "400"),
        Case(
            name: "chunk extension",
            request:
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n",
            status: "200"),
        Case(
            name: "chunked body with trailers",
            request:
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n",
            status: "200"),
        // Bodies and limits.
        Case(
            name: "body on GET", request: "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", status: "200"),
        Case(
            name: "declared body over the limit", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n",
            status: "413"),
        Case(
            name: "chunked body over the limit",
            request:
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3E8\r\n\(String(repeating: "a", count: 1000))\r\n3E8\r\n\(String(repeating: "a", count: 1000))\r\n0\r\n\r\n",
            status: "413"),
    ]

    @Test(arguments: Self.cases)
    func answeredWithItsStatus(_ testCase: Case) async throws {
        let ran = Atomic(0)
        let counted: Handler = { _ in
            ran.add(1, ordering: .relaxed)
            return .text("ok")
        }
        var router = Router()
        for method in [HTTPRequest.Method.get, .post] {
            router.on(method, "/*rest", counted)
            router.on(method, "/", counted)
        }
        try await withServer(WebApplication(router: router), configure: { $0.maxBodySize = 1000 }) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send(testCase.request)
            if testCase.status == "200" {
                let text = try await client.waitFor("\r\n\r\nok")
                #expect(text.hasPrefix("HTTP/1."), "\(text)")
                #expect(text.contains(" 200 OK\r\n"), "\(text)")
                #expect(ran.load(ordering: .relaxed) == 1)
            } else {
                let text = try await client.waitForClose()
                #expect(
                    text.hasPrefix("HTTP/1.1 \(testCase.status) ") || text.hasPrefix("HTTP/1.0 \(testCase.status) "),
                    "\(text.prefix(200))")
                #expect(text.contains("Connection: close\r\n"))
                #expect(ran.load(ordering: .relaxed) == 0)
            }

            let next = try await RawClient.connect(port: port)
            try await next.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await next.waitFor("\r\n\r\nok")
        }
    }

    /// HTTP/2's preface is answered by HTTP/2 (the server's SETTINGS frame), or with 505 where HTTP/2 is off.
    @Test(arguments: [true, false])
    func theHTTP2PrefaceIsServedOnlyWhereHTTP2Is(enabled: Bool) async throws {
        let router = Router()
        try await withServer(WebApplication(router: router), configure: { $0.http2.isEnabled = enabled }) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            if enabled {
                // A frame header: 3 bytes of length, then type 4 (SETTINGS), flags 0, stream 0.
                let bytes = try await client.waitForBytes(9)
                #expect(bytes[3] == 0x04 && bytes[4] == 0x00 && bytes[5..<9].allSatisfy { $0 == 0 }, "\(bytes)")
            } else {
                let text = try await client.waitForClose()
                #expect(text.hasPrefix("HTTP/1.1 505 "), "\(text.prefix(200))")
            }
        }
    }

    @Test func aBadChunkAfterAValidHeadClosesAndTheApplicationSeesTheClientLeave() async throws {
        let sawDisconnect = Box(false)
        let done = Latch()
        let app = InlineApplication { _, receive, _ in
            while true {
                let event = try await receive()
                if event == .disconnect {
                    sawDisconnect.value = true
                    break
                }
            }
            done.open()
        }
        try await withServer(app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
            let text = try await client.waitForClose()
            #expect(text.hasPrefix("HTTP/1.1 400 "))
            #expect(await done.wait())
            #expect(sawDisconnect.value)
        }
    }

    @Test func aBodyThatGrowsPastTheLimitIs413() async throws {
        let app = InlineApplication { _, receive, _ in
            while try await receive() != .disconnect {}
        }
        try await withServer(app, configure: { $0.maxBodySize = 10 }) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n")
            let text = try await client.waitForClose()
            #expect(text.hasPrefix("HTTP/1.1 413 "))
        }
    }
}
