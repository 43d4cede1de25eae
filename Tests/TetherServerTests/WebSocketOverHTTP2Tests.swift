import Foundation
import Testing
import TetherGateway
import TetherServer

extension SubprocessTests {
    /// WebSocket over HTTP/2 (RFC 8441), the client being Tests/Scripts/ws_h2.py (the `h2` package): the server
    /// offers extended CONNECT, a stream carries the WebSocket, and the stream's reset, a close frame or the
    /// connection's GOAWAY cancels the handler for that reason, as on HTTP/1.1.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct WebSocketOverHTTP2Tests {
        struct Report: Decodable, Sendable {
            var settings_connect: Bool
            var status: Int?
            var messages: [String]
            var close: [Close]?
            var error: String?

            /// A close frame's code or reason, as the script prints them: `[1000, ""]`.
            enum Close: Decodable, Sendable, Equatable {
                case code(Int)
                case reason(String)

                init(from decoder: any Decoder) throws {
                    let container = try decoder.singleValueContainer()
                    if let code = try? container.decode(Int.self) {
                        self = .code(code)
                    } else {
                        self = .reason(try container.decode(String.self))
                    }
                }
            }
        }

        static func script(port: Int, path: String, how: String) async throws -> Report {
            let (status, output) = try await SubprocessTests.run(
                [
                    "python3", SilentClientTests.packageRoot.appendingPathComponent("Tests/Scripts/ws_h2.py").path,
                    "--port", "\(port)", "--path", path, "--how", how,
                ], showingErrors: true)
            #expect(status == 0, "\(output)")
            return try JSONDecoder().decode(Report.self, from: Data(output.utf8))
        }

        @Test func anExtendedConnectOpensAWebSocketOnAStream() async throws {
            try await withServer(WebSocketOverSocketTests.App().application) { port, _ in
                let report = try await Self.script(port: port, path: "/echo/", how: "echo")
                #expect(report.settings_connect && report.status == 200, "\(report)")
                #expect(report.messages == ["hello", "hé"])
                #expect(report.close == [.code(1000), .reason("")])
                #expect(report.error == nil)
            }
        }

        @Test(arguments: [
            ("reset", CancellationReason.streamReset), ("close", .closeFrame), ("goaway", .clientClosed),
        ])
        func leavingCancelsTheHandlerForHowItLeft(how: String, expected: CancellationReason) async throws {
            let app = WebSocketOverSocketTests.App()
            try await withServer(app.application) { port, _ in
                let report = try await Self.script(port: port, path: "/ticker/", how: how)
                #expect(report.status == 200 && report.messages.count >= 2, "\(report)")
                #expect(await app.cancelled.wait())
                #expect(app.reason.value == expected)
            }
        }

        /// Under TLS, a client that asks for HTTP/1.1 by ALPN (Python's `websockets`) gets its WebSocket with the
        /// scheme `wss`.
        @Test func aWebSocketUnderTLS() async throws {
            let certificate = try await TestCertificate.make()
            defer { certificate.remove() }
            let tls = Server.Configuration.TLS(
                certificateChainPath: certificate.certificatePath, privateKeyPath: certificate.keyPath)
            try await withServer(WebSocketOverSocketTests.App().application, configure: { $0.tls = tls }) { port, _ in
                let client = """
                    import asyncio, ssl, sys, websockets
                    async def main():
                        context = ssl.create_default_context()
                        context.check_hostname = False
                        context.verify_mode = ssl.CERT_NONE
                        async with websockets.connect(sys.argv[1], ssl=context) as socket:
                            await socket.send("over TLS")
                            print(await socket.recv())
                    asyncio.run(main())
                    """
                let (status, output) = try await SubprocessTests.run(
                    ["python3", "-c", client, "wss://127.0.0.1:\(port)/echo/"], showingErrors: true)
                #expect(status == 0)
                #expect(output == "over TLS\n")
            }
        }
    }
}
