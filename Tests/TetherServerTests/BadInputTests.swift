import NIOCore
import Synchronization
import TetherGateway
import TetherServer
import TestSupport
import Testing

/// Malformed and smuggling-shaped requests get a clear status and a closed connection, and reach no application.
@Suite struct BadInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var request: String
        var status: String
        var testDescription: String { self.name }
    }

    static let cases: [Case] = [
        Case(name: "garbage request line", request: "GARBAGE\r\n\r\n", status: "400"),
        Case(name: "no Host on HTTP/1.1", request: "GET / HTTP/1.1\r\n\r\n", status: "400"),
        Case(name: "two Hosts", request: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: "400"),
        Case(name: "HTTP/2 version", request: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", status: "505"),
        Case(name: "oversized head", request: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n", status: "431"),
        Case(name: "space in header name", request: "GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n", status: "400"),
        Case(name: "space before colon", request: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", status: "400"),
        Case(name: "control character in value", request: "GET / HTTP/1.1\r\nHost: x\r\nX: a\u{01}b\r\n\r\n", status: "400"),
        Case(name: "NUL in value", request: "GET / HTTP/1.1\r\nHost: x\r\nX: a\u{00}b\r\n\r\n", status: "400"),
        Case(name: "obsolete line folding", request: "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", status: "400"),
        Case(name: "Content-Length with Transfer-Encoding", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: "400"),
        Case(name: "conflicting Content-Lengths", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", status: "400"),
        Case(name: "negative Content-Length", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", status: "400"),
        Case(name: "Content-Length list", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd", status: "400"),
        Case(name: "unsupported coding before chunked", request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: "501"),
        Case(name: "chunked, identity", request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", status: "400"),
        Case(name: "xchunked", request: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", status: "400"),
        Case(name: "target without a slash", request: "GET foo HTTP/1.1\r\nHost: x\r\n\r\n", status: "400"),
        Case(name: "declared body over the limit", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", status: "413"),
    ]

    @Test(arguments: Self.cases)
    func refusedWithAStatusAndAClose(_ testCase: Case) async throws {
        let ran = Atomic(0)
        let app = InlineApplication { _, receive, send in
            ran.add(1, ordering: .relaxed)
            _ = try await receive()
            try await send(.start(status: .ok, headers: [.contentLength: "2"]))
            try await send(.body(ByteBuffer(string: "ok"), more: false))
        }
        try await withServer(app, configure: { $0.maxBodySize = 1000 }) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send(testCase.request)
            let text = try await client.waitForClose()
            #expect(text.hasPrefix("HTTP/1.1 \(testCase.status) "), "\(text)")
            #expect(text.contains("Connection: close\r\n"))
            #expect(ran.load(ordering: .relaxed) == 0)

            let next = try await RawClient.connect(port: port)
            try await next.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await next.waitFor("\r\n\r\nok")
        }
    }

    @Test func aBadChunkAfterAValidHeadClosesAndTheApplicationSeesTheClientLeave() async throws {
        let sawDisconnect = Box(false)
        let done = Latch()
        let app = InlineApplication { _, receive, _ in
            while true {
                let event = try await receive()
                if event == .disconnect { sawDisconnect.value = true; break }
            }
            done.open()
        }
        try await withServer(app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
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
            try await client.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n")
            let text = try await client.waitForClose()
            #expect(text.hasPrefix("HTTP/1.1 413 "))
        }
    }
}
