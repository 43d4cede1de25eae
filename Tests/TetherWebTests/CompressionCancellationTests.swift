import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// A compressed stream ends with its client: the compressor is released on every path, and nothing more is sent.
@Suite struct CompressionCancellationTests {
    enum Ending: String, CaseIterable, Sendable {
        case end, error, disconnect
    }

    struct StreamFailed: Error {}

    @Test func eachChunkArrivesCompressedAtOnceAndALeavingClientReleasesTheCompressor() async throws {
        let compression = CompressionMiddleware()
        let (lines, continuation) = AsyncStream<String>.makeStream()
        let ended = Latch()
        continuation.onTermination = { _ in ended.open() }
        let app = compressionApp(compression) { .stream(lines) }
        let communicator = ApplicationCommunicator(app, scope: httpScope(.get, "/", headers: [.acceptEncoding: "gzip"]))
        communicator.send(.body(ByteBuffer(), more: false))
        guard case .start(.ok, let headers, _) = try await communicator.receiveOutput(timeout: .seconds(10)) else {
            Issue.record("expected the head")
            return
        }
        #expect(headers[.contentEncoding] == "gzip")

        var body = ByteBuffer()
        for line in ["first line\n", "second line\n"] {
            continuation.yield(line)
            guard case .body(var chunk, true) = try await communicator.receiveOutput(timeout: .seconds(10)) else {
                Issue.record("expected a body chunk")
                return
            }
            body.writeBuffer(&chunk)
            // Flushed per chunk: what was written so far decodes from what arrived so far.
            #expect(try decodedSoFar(body).hasSuffix(line))
        }
        #expect(compression.activeCompressors == 1)

        communicator.send(.disconnect)
        try await communicator.wait(timeout: .seconds(10))
        #expect(await ended.wait())
        #expect(compression.activeCompressors == 0)
        continuation.yield("never sent\n")
        #expect(try await communicator.receiveNothing())
    }

    @Test(arguments: Ending.allCases)
    func theCompressorIsReleasedOnEveryPath(ending: Ending) async throws {
        let compression = CompressionMiddleware()
        let app = compressionApp(compression) {
            .stream(
                AsyncThrowingStream<String, any Error> { continuation in
                    continuation.yield(compressibleText(2000))
                    switch ending {
                    case .end: continuation.finish()
                    case .error: continuation.finish(throwing: StreamFailed())
                    case .disconnect: break
                    }
                })
        }
        let response = try? await TestClient(app).get(
            "/", headers: [.acceptEncoding: "gzip"], disconnectAfter: .milliseconds(200))
        #expect(compression.activeCompressors == 0)
        switch ending {
        case .end:
            #expect(response?.outcome == .completed)
            #expect(try decoded(response?.body ?? ByteBuffer(), "gzip") == compressibleText(2000))
        case .error:
            #expect(response == nil)
        case .disconnect:
            #expect(response?.outcome == .cancelled(.clientClosed))
            #expect(try decodedSoFar(response?.body ?? ByteBuffer()) == compressibleText(2000))
        }
    }

    @Test func aWholeBodyLeavesNoCompressorBehind() async throws {
        let compression = CompressionMiddleware()
        let app = compressionApp(compression) { .text(compressibleText(5000)) }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: "deflate"])
        #expect(response.headers[.contentEncoding] == "deflate")
        #expect(compression.activeCompressors == 0)
    }
}
