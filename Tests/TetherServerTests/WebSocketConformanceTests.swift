// tether-demo as a process of its own, started by HTTP2ChurnTests.startDemo, which is Linux's.
#if os(Linux)
import Foundation
import Testing

extension SubprocessTests {
    /// tether-demo's `/ws/echo/` conforms to RFC 6455 (and RFC 7692's permessage-deflate): the cases of
    /// Tests/Scripts/ws_conformance.py, which crafts frames byte by byte over a plain socket, good and bad, and checks
    /// every echo byte for byte and every failure's close code. docs/WebSocketConformance.md describes the cases.
    ///
    /// One test per category, each against a demo of its own, so that a category's failures are reported as its own
    /// and a server left in a bad state by one category cannot fail the next. The script needs Python's
    /// `websockets` package (for its reference client); it bounds its own waits (2 s a step, 90 s a run).
    @Suite struct WebSocketConformanceTests {
        /// The script's categories, in Autobahn|Testsuite's numbering: 0 the opening handshake, 1 framing, 2 ping and
        /// pong, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 closing, 9 size limits, 12 and 13
        /// permessage-deflate.
        static let categories = ["0", "1", "2", "3", "4", "5", "6", "7", "9", "12", "13"]

        /// tether-demo's WebSocket message limit in bytes, which categories 9 and 12 probe from both sides: a message
        /// of exactly this size is echoed, one byte more is refused with close 1009.
        static let maxMessage = 1_048_576

        @Test(.timeLimit(.minutes(2)), arguments: Self.categories)
        func theEchoEndpointPassesEveryCase(category: String) async throws {
            let (server, port) = try await HTTP2ChurnTests.startDemo()
            defer { server.terminate() }

            let (status, output) = try await SubprocessTests.run(
                [
                    "python3",
                    SilentClientTests.packageRoot.appendingPathComponent("Tests/Scripts/ws_conformance.py").path,
                    "--url", "ws://127.0.0.1:\(port)/ws/echo/", "--max-message", "\(Self.maxMessage)",
                    "--only", category,
                ], showingErrors: true)

            let lines = output.split(separator: "\n")
            let summary = lines.last { $0.hasPrefix("SUMMARY") } ?? "no summary: the script exited with \(status)"
            let failures = lines.filter { $0.hasPrefix("FAIL") }
            #expect(status == 0, "category \(category): \(summary)\n\(failures.joined(separator: "\n"))")
            #expect(server.isRunning, "tether-demo exited during category \(category)")
        }
    }
}
#endif
