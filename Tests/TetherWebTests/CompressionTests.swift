import HTTPTypes
import NIOCore
import Testing
import TetherTesting
import TetherWeb

/// The compression middleware: gzip or deflate as the request ranks them, on every kind of body, and the responses
/// it leaves alone.
@Suite struct CompressionTests {
    static let text = compressibleText(4000)

    @Test(arguments: ["gzip", "deflate"])
    func aWholeBodyIsCompressedAndDecodesBack(coding: String) async throws {
        let app = compressionApp { .text(Self.text) }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: coding])
        #expect(response.headers[.contentEncoding] == coding)
        #expect(response.headers[.vary] == "Accept-Encoding")
        #expect(response.headers[.contentLength] == String(response.body.readableBytes))
        #expect(response.body.readableBytes < Self.text.utf8.count / 4)
        #expect(try decoded(response.body, coding) == Self.text)
    }

    @Test(arguments: ["gzip", "deflate"])
    func aStreamIsCompressedChunkByChunk(coding: String) async throws {
        let app = compressionApp {
            .stream(
                AsyncStream<String> { continuation in
                    for line in 0..<200 { continuation.yield("line \(line) of the stream\n") }
                    continuation.finish()
                })
        }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: coding])
        #expect(response.headers[.contentEncoding] == coding)
        #expect(response.headers[.contentLength] == nil)
        #expect(try decoded(response.body, coding) == (0..<200).map { "line \($0) of the stream\n" }.joined())
    }

    @Test(arguments: [true, false])
    func aFileIsReadThroughTheStreamAndCompressed(fileSend: Bool) async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write(compressibleText(300_000), to: "big.txt")
        let app = compressionApp(CompressionMiddleware(fileChunkSize: 16 * 1024)) { try await .file(at: path) }
        let response = try await TestClient(app, fileSend: fileSend).get("/", headers: [.acceptEncoding: "gzip"])
        #expect(response.status == .ok)
        #expect(response.headers[.contentEncoding] == "gzip")
        #expect(response.headers[.contentLength] == nil)
        #expect(try decoded(response.body, "gzip") == compressibleText(300_000))
    }

    @Test func aStrongETagBecomesWeak() async throws {
        let app = compressionApp {
            var response = Response.text(Self.text)
            response.headers[.eTag] = "\"v1\""
            return response
        }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: "gzip"])
        #expect(response.headers[.eTag] == "W/\"v1\"")
    }

    @Test(
        arguments: [
            ("gzip;q=0.5, deflate", "deflate"),
            ("deflate;q=0.4, gzip;q=0.8", "gzip"),
            ("gzip, deflate", "gzip"),
            ("*", "gzip"),
            ("*;q=0.1, gzip;q=0", "deflate"),
            ("x-gzip", "gzip"),
            ("GZIP ; Q=1", "gzip"),
            ("br", nil),
            ("gzip;q=0, deflate;q=0", nil),
            ("identity", nil),
            ("gzip;q=bad, deflate;q=0.2", "deflate"),
        ] as [(String, String?)])
    func theCodingFollowsTheQValues(acceptEncoding: String, expected: String?) async throws {
        let app = compressionApp { .text(Self.text) }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: acceptEncoding])
        #expect(response.headers[.contentEncoding] == expected)
        #expect(response.headers[.vary] == "Accept-Encoding")
        if expected == nil { #expect(response.text == Self.text) }
    }

    @Test func theOfferedOrderBreaksTies() async throws {
        let app = compressionApp(CompressionMiddleware(codings: [.deflate, .gzip])) { .text(Self.text) }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: "gzip, deflate"])
        #expect(response.headers[.contentEncoding] == "deflate")
    }

    @Test func aRequestWithoutAcceptEncodingGetsIdentityAndVary() async throws {
        let app = compressionApp { .text(Self.text) }
        let response = try await TestClient(app).get("/")
        #expect(response.headers[.contentEncoding] == nil)
        #expect(response.headers[.vary] == "Accept-Encoding")
        #expect(response.text == Self.text)
    }

    @Test func varyKeepsWhatItHad() async throws {
        let app = compressionApp {
            var response = Response.text(Self.text)
            response.headers[.vary] = "Origin"
            return response
        }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: "gzip"])
        #expect(response.headers[.vary] == "Origin, Accept-Encoding")
    }
}
