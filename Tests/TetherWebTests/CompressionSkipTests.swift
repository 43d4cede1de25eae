import HTTPTypes
import NIOCore
import Testing
import TetherTesting
import TetherWeb

/// The responses the compression middleware leaves as they are.
@Suite struct CompressionSkipTests {
    static let text = compressibleText(4000)

    /// A response of `text` with `headers` added.
    static func response(_ headers: HTTPFields, status: HTTPResponse.Status = .ok) -> Response {
        var response = Response.text(Self.text, status: status)
        for field in headers { response.headers[field.name] = field.value }
        return response
    }

    static let leftAlone: [(String, HTTPFields)] = [
        ("already encoded", [.contentEncoding: "br"]),
        ("an image", [.contentType: "image/png"]),
        ("a video", [.contentType: "video/mp4"]),
        ("an archive", [.contentType: "application/zip"]),
        ("no-transform", [.cacheControl: "public, no-transform"]),
        ("a range", [.contentRange: "bytes 0-3999/8000"]),
    ]

    @Test(arguments: Self.leftAlone)
    func isLeftAlone(what: String, headers: HTTPFields) async throws {
        let app = compressionApp { Self.response(headers) }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: "gzip"])
        #expect(response.headers[.contentEncoding] == headers[.contentEncoding], "\(what)")
        #expect(response.headers[.vary] == nil, "\(what)")
        #expect(response.text == Self.text, "\(what)")
    }

    @Test func aSmallBodyIsLeftAlone() async throws {
        let app = compressionApp(CompressionMiddleware(minimumSize: 100)) { .text(compressibleText(99)) }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: "gzip"])
        #expect(response.headers[.contentEncoding] == nil)
        #expect(response.headers[.contentLength] == "99")
    }

    @Test func aStreamDeclaringASmallLengthIsLeftAlone() async throws {
        let app = compressionApp {
            .stream(
                AsyncStream<String> {
                    $0.yield("tiny")
                    $0.finish()
                }, headers: [.contentLength: "4"])
        }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: "gzip"])
        #expect(response.headers[.contentEncoding] == nil)
        #expect(response.text == "tiny")
    }

    @Test func svgIsCompressedThoughItIsAnImage() async throws {
        let app = compressionApp { Self.response([.contentType: "image/svg+xml"]) }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: "gzip"])
        #expect(response.headers[.contentEncoding] == "gzip")
    }

    @Test func headGetsVaryButNoEncoding() async throws {
        var router = Router()
        router.head("/") { _ in .text(Self.text) }
        let app = WebApplication(router: router, middleware: [CompressionMiddleware()])
        let response = try await TestClient(app).head("/", headers: [.acceptEncoding: "gzip"])
        #expect(response.headers[.contentEncoding] == nil)
        #expect(response.headers[.contentLength] == String(Self.text.utf8.count))
        #expect(response.headers[.vary] == "Accept-Encoding")
    }

    @Test(arguments: [HTTPResponse.Status.noContent, .notModified])
    func aStatusWithoutBodyIsLeftAlone(status: HTTPResponse.Status) async throws {
        let app = compressionApp { Self.response([:], status: status) }
        let response = try await TestClient(app).get("/", headers: [.acceptEncoding: "gzip"])
        #expect(response.headers[.contentEncoding] == nil)
        #expect(response.body.readableBytes == 0)
    }

    @Test func anEventStreamIsLeftAloneUnlessEnabled() async throws {
        let events = { @Sendable in
            Response.eventStream(
                AsyncStream<String> { continuation in
                    for event in 0..<100 { continuation.yield("event \(event)") }
                    continuation.finish()
                }, keepAlive: nil)
        }
        let plain = try await TestClient(compressionApp(CompressionMiddleware(), events)).get(
            "/", headers: [.acceptEncoding: "gzip"])
        #expect(plain.headers[.contentEncoding] == nil)
        #expect(plain.headers[.vary] == nil)

        let enabled = CompressionMiddleware(compressesEventStreams: true)
        let compressed = try await TestClient(compressionApp(enabled, events)).get(
            "/", headers: [.acceptEncoding: "gzip"])
        #expect(compressed.headers[.contentEncoding] == "gzip")
        #expect(try decoded(compressed.body, "gzip") == plain.text)
    }
}
