import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import TestSupport
import Testing
import TetherGateway
import TetherServer
import TetherSoak

extension SubprocessTests {
    /// TLS on real sockets, with a certificate made for the test: HTTP/2 by ALPN (async-http-client), HTTP/1.1 when
    /// the client asks for it (curl), the scheme `https`, and handshakes that fail (plain text, garbage, silence, a
    /// client refusing the certificate) closing their connections without leaking a descriptor.
    @Suite(.timeLimit(.minutes(2))) struct TLSOverSocketTests {
        /// Runs a TLS server for `app` with a fresh certificate while `body` runs; the certificate is removed after.
        static func withTLSServer<T: Sendable>(
            _ app: H2TestApp,
            configure: (inout Server.Configuration) -> Void = { _ in },
            _ body: @Sendable (_ port: Int) async throws -> T
        ) async throws -> T {
            let certificate = try await TestCertificate.make()
            defer { certificate.remove() }
            return try await withServer(
                app.application,
                configure: { configuration in
                    configuration.tls = .init(
                        certificateChainPath: certificate.certificatePath, privateKeyPath: certificate.keyPath)
                    configure(&configuration)
                }
            ) { port, _ in try await body(port) }
        }

        /// Runs `body` with an async-http-client that offers h2 and http/1.1 and, unless `verifying`, trusts any
        /// certificate and retries a connection that fails before its handshake completes; shuts it down after.
        static func withClient<T: Sendable>(
            verifying: Bool = false, _ body: (HTTPClient) async throws -> T
        ) async throws -> T {
            var configuration = HTTPClient.Configuration()
            var tls = TLSConfiguration.makeClientConfiguration()
            if !verifying { tls.certificateVerification = .none }
            configuration.tlsConfiguration = tls
            // A verifying client's refused handshake fails the request at once, rather than being retried until its
            // deadline. The others retry: on a busy machine a short handshake timeout may cut a first attempt.
            configuration.connectionPool.retryConnectionEstablishment = !verifying
            configuration.httpVersion = .automatic
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            let result = await Result { try await body(client) }
            try await client.shutdown()
            return try result.get()
        }

        /// The status, HTTP major version and body of `method` `path`.
        static func fetch(
            _ client: HTTPClient, port: Int, _ path: String, method: HTTPMethod = .GET, body: ByteBuffer? = nil
        ) async throws -> (status: Int, major: Int, body: ByteBuffer) {
            var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)\(path)")
            request.method = method
            if let body { request.body = .bytes(body) }
            let response = try await client.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
            return (Int(response.status.code), response.version.major, bytes)
        }

        @Test func http2ByALPNServesAGet() async throws {
            let app = H2TestApp()
            try await Self.withTLSServer(app) { port in
                try await Self.withClient { client in
                    let (status, major, body) = try await Self.fetch(client, port: port, "/hello/")
                    #expect(status == 200 && major == 2)
                    #expect(String(buffer: body) == "Hello World!")
                    let scheme = try await Self.fetch(client, port: port, "/scheme/")
                    #expect(String(buffer: scheme.body) == "https 2.0")
                }
                #expect(app.versions == [.http2, .http2])
                #expect(app.schemes == ["https", "https"])
            }
        }

        @Test func http2ByALPNEchoesAPost() async throws {
            let app = H2TestApp()
            try await Self.withTLSServer(app) { port in
                let sent = ByteBuffer(bytes: (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
                try await Self.withClient { client in
                    let (status, major, body) = try await Self.fetch(
                        client, port: port, "/echo/", method: .POST, body: sent)
                    #expect(status == 200 && major == 2)
                    #expect(body == sent)
                }
            }
        }

        @Test func http2ByALPNStreamsAResponse() async throws {
            let app = H2TestApp()
            try await Self.withTLSServer(app) { port in
                try await Self.withClient { client in
                    let (status, major, body) = try await Self.fetch(client, port: port, "/stream/")
                    #expect(status == 200 && major == 2)
                    let expected = (0..<H2TestApp.streamChunks).map { "chunk \($0)\n" }.joined()
                    #expect(String(buffer: body) == expected)
                }
            }
        }

        /// A request the client gives up on, by cancelling its task (RST_STREAM) or by shutting down (the connection
        /// closes), cancels its handler.
        @Test(arguments: [("cancel", CancellationReason.streamReset), ("shutdown", .clientClosed)])
        func aRequestTheClientGivesUpOnCancelsItsHandler(how: String, expected: CancellationReason) async throws {
            let app = H2TestApp()
            try await Self.withTLSServer(app) { port in
                var configuration = HTTPClient.Configuration()
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.certificateVerification = .none
                configuration.tlsConfiguration = tls
                configuration.httpVersion = .automatic
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
                let request = Task { try await Self.fetch(client, port: port, "/slow/") }
                #expect(try await eventually { app.started("/slow/") == 1 })
                if how == "cancel" {
                    request.cancel()
                    _ = await request.result
                    #expect(try await eventually { !app.cancellations("/slow/").isEmpty })
                    try await client.shutdown()
                } else {
                    try await client.shutdown()
                    _ = await request.result
                    #expect(try await eventually { !app.cancellations("/slow/").isEmpty })
                }
                #expect(app.cancellations("/slow/") == [expected])
                #expect(app.versions == [.http2])
            }
        }

        @Test(
            .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "needs curl"),
            arguments: [("--http1.1", "1.1"), ("--http2", "2")])
        func curlGetsTheVersionItAsksForAndTheSchemeIsHTTPS(option: String, version: String) async throws {
            let app = H2TestApp()
            try await Self.withTLSServer(app) { port in
                let output = try await Self.curl([
                    "-sk", option, "-w", "\n%{http_version}", "https://127.0.0.1:\(port)/scheme/",
                ])
                let lines = output.split(separator: "\n").map(String.init)
                #expect(lines == ["https \(version == "2" ? "2.0" : "1.1")", version], "\(output)")
                #expect(app.schemes == ["https"])
            }
        }

        /// curl's standard output, once it exits 0.
        static func curl(_ arguments: [String]) async throws -> String {
            let (status, text) = try await SubprocessTests.run(
                ["--max-time", "10"] + arguments, executable: URL(fileURLWithPath: "/usr/bin/curl"))
            #expect(status == 0, "curl \(arguments) exited \(status): \(text)")
            return text
        }

        enum FailedHandshake: String, CaseIterable, Sendable {
            /// An HTTP/1.1 request in plain text.
            case plainText
            /// Bytes that are no TLS record.
            case garbage
            /// A client that connects and sends nothing: closed after `tlsHandshakeTimeout` (300 ms here).
            case silence
            /// A client that does not trust the server's certificate and aborts the handshake.
            case refusedCertificate
        }

        @Test(arguments: FailedHandshake.allCases)
        func aFailedHandshakeClosesTheConnectionAndLeaksNothing(failure: FailedHandshake) async throws {
            let app = H2TestApp()
            // Short for the silent client (the client of the request that follows retries, should a busy machine let
            // its handshake outlast it); the others fail their handshake at once.
            let timeout: Duration = failure == .silence ? .milliseconds(300) : .seconds(10)
            try await Self.withTLSServer(app, configure: { $0.tlsHandshakeTimeout = timeout }) { port in
                // The listening socket alone.
                let baseline = socketDescriptors(port: port)
                #expect(baseline == 1)
                switch failure {
                case .plainText, .garbage, .silence:
                    let client = try await RawClient.connect(port: port)
                    // The server may reset the connection before the write completes.
                    if failure == .plainText {
                        try? await client.send("GET /hello/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    } else if failure == .garbage {
                        try? await client.send(
                            ByteBuffer(bytes: (0..<2048).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 13) }))
                    }
                    let received = try await client.waitForClose()
                    #expect(!received.hasPrefix("HTTP/"), "\(received.debugDescription)")
                    if failure == .silence { #expect(received.isEmpty, "\(received.debugDescription)") }
                    try? await client.close()
                case .refusedCertificate:
                    // The client's own verification fails: the handshake reached the certificate.
                    let refusal = await #expect(throws: NIOSSLError.self) {
                        try await Self.withClient(verifying: true) { client in
                            _ = try await Self.fetch(client, port: port, "/hello/")
                        }
                    }
                    #expect("\(refusal.map { String(describing: $0) } ?? "")".contains("CERTIFICATE_VERIFY_FAILED"))
                }
                #expect(app.started("/hello/") == 0)
                #expect(
                    try await eventually { socketDescriptors(port: port) <= baseline },
                    "\(socketDescriptors(port: port)) sockets, \(baseline) before")

                // The server still serves, and the connection it served goes too once its client is gone.
                try await Self.withClient { client in
                    let (status, _, body) = try await Self.fetch(client, port: port, "/hello/")
                    #expect(status == 200 && String(buffer: body) == "Hello World!")
                }
                #expect(
                    try await eventually { socketDescriptors(port: port) <= baseline },
                    "\(socketDescriptors(port: port)) sockets, \(baseline) before")
            }
        }
    }
}
