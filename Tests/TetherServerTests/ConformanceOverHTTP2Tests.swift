// The demo binary, as the silent-client test finds it, and /proc: Linux's.
#if os(Linux)
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

extension SubprocessTests {
    /// The conformance routes of docs/ConformanceRoutes.md, served by tether-demo itself under TLS and spoken to by
    /// async-http-client over HTTP/2 (ALPN): answers as over HTTP/1.1, and a client that gives up on /slow/ or
    /// /blocking/ resets its stream, which /stats/ counts as a `stream_reset` cancellation.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct ConformanceOverHTTP2Tests {
        /// The demo over TLS on a free port, and an HTTP/2 client for it, while `body` runs.
        static func withDemo(_ body: (HTTPClient, _ base: String) async throws -> Void) async throws {
            let certificate = try await TestCertificate.make()
            defer { certificate.remove() }
            let (server, port) = try await HTTP2ChurnTests.startDemo([
                "--tls-cert", certificate.certificatePath, "--tls-key", certificate.keyPath,
            ])
            defer { server.terminate() }

            var configuration = HTTPClient.Configuration()
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            configuration.tlsConfiguration = tls
            configuration.httpVersion = .automatic
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            let result = await Result { try await body(client, "https://127.0.0.1:\(port)") }
            try await client.shutdown()
            try result.get()
        }

        /// The response's HTTP major version, status and body.
        static func fetch(
            _ client: HTTPClient, _ url: String, method: HTTPMethod = .GET, body: ByteBuffer? = nil
        ) async throws -> (major: Int, status: Int, body: ByteBuffer) {
            var request = HTTPClientRequest(url: url)
            request.method = method
            if let body { request.body = .bytes(body) }
            let response = try await client.execute(request, timeout: .seconds(30))
            return (response.version.major, Int(response.status.code), try await response.body.collect(upTo: 16 << 20))
        }

        struct Stats: Decodable {
            var started: Int
            var completed: Int
            var cancelled: Int
            var reasons: [String: Int]
        }

        static func stats(_ client: HTTPClient, _ base: String) async throws -> Stats {
            try JSONDecoder().decode(
                Stats.self, from: Data(try await Self.fetch(client, base + "/stats/").body.readableBytesView))
        }

        @Test func theRoutesAnswerOverHTTP2AsOverHTTP1() async throws {
            try await Self.withDemo { client, base in
                let hello = try await Self.fetch(client, base + "/hello/?name=Ada")
                #expect(hello.major == 2 && hello.status == 200 && String(buffer: hello.body) == "Hello Ada!")

                let payload = ByteBuffer(repeating: 0x61, count: 300_000)
                let echoed = try await Self.fetch(client, base + "/post/", method: .POST, body: payload)
                #expect(echoed.status == 200 && echoed.body == payload)

                let upload = try await Self.fetch(
                    client, base + "/upload/", method: .POST, body: ByteBuffer(repeating: 0x62, count: 1 << 20))
                #expect(String(buffer: upload.body).replacingOccurrences(of: " ", with: "") == #"{"bytes":1048576}"#)

                let stream = try await Self.fetch(client, base + "/stream/?chunks=3&ms=10")
                #expect(String(buffer: stream.body) == "chunk 0\nchunk 1\nchunk 2\n")

                let slow = try await Self.fetch(client, base + "/slow/?ms=20")
                #expect(String(buffer: slow.body) == "done")
                let stats = try await Self.stats(client, base)
                #expect(stats.started == 2 && stats.completed == 2 && stats.cancelled == 0, "\(stats)")
            }
        }

        @Test(arguments: ["/slow/", "/blocking/"])
        func aClientThatGivesUpResetsItsStreamAndTheHandlerIsCancelled(path: String) async throws {
            try await Self.withDemo { client, base in
                let request = Task { try await Self.fetch(client, base + path + "?ms=30000") }
                var started = 0
                for _ in 0..<500 where started == 0 {
                    started = try await Self.stats(client, base).started
                    if started == 0 { try await Task.sleep(for: .milliseconds(10)) }
                }
                #expect(started == 1)
                request.cancel()
                _ = await request.result
                var stats = try await Self.stats(client, base)
                for _ in 0..<500 where stats.cancelled == 0 {
                    try await Task.sleep(for: .milliseconds(10))
                    stats = try await Self.stats(client, base)
                }
                #expect(stats.cancelled == 1 && stats.completed == 0, "\(stats)")
                #expect(stats.reasons == ["stream_reset": 1], "\(stats)")
            }
        }
    }
}
#endif
