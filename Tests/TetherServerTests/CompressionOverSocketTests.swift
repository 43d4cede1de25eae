import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherServer
import TetherSoak
import TetherWeb

/// A compressed stream over a real socket stops when its client leaves: the handler's stream ends, the compressor
/// is released, and nothing more is produced.
@Suite struct CompressionOverSocketTests {
    /// Whether `condition` holds within 10 seconds.
    static func eventually(_ condition: @Sendable () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        return condition()
    }

    @Test(arguments: DisconnectOverSocketTests.Leaving.allCases)
    func aCompressedStreamStopsWhenItsClientLeaves(leaving: DisconnectOverSocketTests.Leaving) async throws {
        let compression = CompressionMiddleware()
        let (produced, streamEnded) = (Box(0), Latch())
        var router = Router()
        router.get("/ticks") { _ in
            // The writer's own loop, not a stream's onCancel: a cancellation between two reads never reaches that.
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(stream: { writer in
                    defer { streamEnded.open() }
                    while true {
                        try await Task.sleep(for: .milliseconds(5))
                        produced.mutate { $0 += 1 }
                        try await writer.write(ByteBuffer(string: "the same line, over and over, compresses well\n"))
                    }
                }))
        }
        let app = WebApplication(router: router, middleware: [compression])
        try await withServer(app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /ticks HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
            let head = try await client.waitFor("\r\n\r\n")
            #expect(head.lowercased().contains("content-encoding: gzip"))
            #expect(try await Self.eventually { produced.value >= 5 })
            #expect(compression.activeCompressors == 1)

            try await DisconnectOverSocketTests.leave(client, by: leaving)
            #expect(await streamEnded.wait())
            #expect(try await Self.eventually { compression.activeCompressors == 0 })
            let producedAtEnd = produced.value
            try await Task.sleep(for: .milliseconds(100))
            #expect(produced.value == producedAtEnd)
        }
    }
}
