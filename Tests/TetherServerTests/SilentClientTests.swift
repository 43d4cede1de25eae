// Network namespaces, veth pairs and TCP_USER_TIMEOUT are Linux's.
#if os(Linux)
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension SubprocessTests {
    /// A client whose network disappears mid-request, with no FIN and no RST, is noticed (TCP keepalive and
    /// TCP_USER_TIMEOUT for HTTP/1.1, an unanswered PING for HTTP/2) and its request is cancelled as client_unreachable.
    ///
    /// Tests/Scripts/silent_client.py runs tether-demo in a network namespace of its own, requests /slow/ from a second
    /// one joined to it by a veth pair, and sets the client's end of the link down; it needs root and iproute2, which
    /// CI has. The traffic stays inside the two namespaces, and the script removes them on every exit.
    @Suite(.serialized) struct SilentClientTests {
        /// The script's line of JSON.
        struct Report: Decodable {
            var mode: String
            var error: String?
            var cancelledBeforeCut: Int?
            var clientErrors: [String]?
            var cancelled: Bool?
            var reasons: [String: Int]?
            var noticedAfterS: Double?
            var clientSawAfterCut: String?
        }

        static let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

        /// tether-demo from the build these tests come from, or else from the package's `.build/debug`.
        static func demo() throws -> URL {
            let candidates = [
                URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                    .appendingPathComponent("tether-demo"),
                packageRoot.appendingPathComponent(".build/debug/tether-demo"),
            ]
            let found = candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
            return try #require(found, "build tether-demo first (swift build): none at \(candidates.map(\.path))")
        }

        static func findIP() -> String? {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
            let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            return directories.map { "\($0)/ip" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        }

        /// Runs the script to its end (it bounds its own waits), and returns its report and its whole output.
        static func runScript(demo: URL, mode: String) async throws -> (Report?, status: Int32, output: String) {
            // The script removes its namespaces and its server on SIGTERM, and when its parent ends.
            let (status, text) = try await SubprocessTests.run(
                [
                    "python3", packageRoot.appendingPathComponent("Tests/Scripts/silent_client.py").path,
                    "--server", demo.path, "--mode", mode,
                ], showingErrors: true)
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let line = text.split(separator: "\n").last.map { Data($0.utf8) } ?? Data()
            return (try? decoder.decode(Report.self, from: line), status, text)
        }

        @Test(.timeLimit(.minutes(2)), arguments: ["h1", "h2"])
        func aClientWhoseNetworkDisappearsIsCancelledAsUnreachable(mode: String) async throws {
            try #require(
                getuid() == 0,
                "this test makes network namespaces: run it as root (CI does), e.g. sudo swift test")
            try #require(
                Self.findIP() != nil,
                "this test needs iproute2's ip: apt-get install -y iproute2")
            let demo = try Self.demo()

            let (decoded, status, output) = try await Self.runScript(demo: demo, mode: mode)
            let report = try #require(decoded, "the script printed no report: \(output)")
            #expect(status == 0, "\(output)")
            #expect(report.error == nil, "\(output)")
            #expect(report.mode == mode)
            // While the link was up the client answered keepalive probes and PINGs: nothing was cancelled.
            #expect(report.cancelledBeforeCut == 0, "\(output)")
            #expect(report.clientErrors == nil, "\(output)")
            // The cut was silent: the client received nothing after it, not even the server's close.
            #expect(report.clientSawAfterCut == "nothing", "\(output)")
            #expect(report.cancelled == true, "\(output)")
            #expect(report.reasons?["client_unreachable"] == 1, "\(output)")
        }
    }
}
#endif
