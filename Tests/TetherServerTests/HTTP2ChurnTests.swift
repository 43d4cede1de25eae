// /proc and the demo binary the silent-client test finds, both Linux's.
#if os(Linux)
import Foundation
import Glibc
import Testing

extension SubprocessTests {
    /// Connections that end in an HTTP/2 connection error after opening streams (a rapid reset, a bad frame) leave
    /// nothing behind: tether-demo, in its own process so that its memory is its own, keeps its resident size while
    /// hundreds of them come and go (Tests/Scripts/h2_churn.py).
    @Suite struct HTTP2ChurnTests {
        @Test(.timeLimit(.minutes(2)))
        func connectionsEndedByAConnectionErrorLeaveNoMemoryBehind() async throws {
            let (server, port) = try await Self.startDemo()
            defer { server.terminate() }

            _ = try await Self.churn(port: port, connections: 50)
            let before = try Self.residentKiB(server.processIdentifier)
            let report = try await Self.churn(port: port, connections: 200)
            let after = try Self.residentKiB(server.processIdentifier)

            #expect(report.contains("\"closed_by_server\": 200"), "\(report)")
            // Each connection opened 100 streams: a stream's few KiB kept per connection would be tens of MiB.
            #expect(after - before < 8 * 1024, "resident \(before) KiB -> \(after) KiB")
        }

        /// tether-demo on a free port of 127.0.0.1, with `arguments`, once it accepts connections. It logs warnings
        /// only, to the test's standard error: no pipe to drain.
        static func startDemo(_ arguments: [String] = []) async throws -> (Process, port: Int) {
            let port = try Self.freePort()
            let server = Process()
            server.executableURL = try SilentClientTests.demo()
            server.arguments = ["--port", "\(port)", "--log-level", "warning"] + arguments
            try server.run()
            for _ in 0..<1000 where server.isRunning {
                if Self.accepts(port) { return (server, port) }
                try await Task.sleep(for: .milliseconds(10))
            }
            server.terminate()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "tether-demo did not listen"])
        }

        /// A port of 127.0.0.1 that nothing listens on now.
        static func freePort() throws -> Int {
            let socket = try Self.loopbackSocket()
            defer { close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
                }
            }
            try #require(bound, "no free port: errno \(errno)")
            return Int(UInt16(bigEndian: address.sin_port))
        }

        /// Whether something accepts connections on 127.0.0.1:`port`.
        static func accepts(_ port: Int) -> Bool {
            guard let socket = try? Self.loopbackSocket() else { return false }
            defer { close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
        }

        private static func loopbackSocket() throws -> Int32 {
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            try #require(socket >= 0, "socket(): errno \(errno)")
            return socket
        }

        static func residentKiB(_ pid: Int32) throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
            return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        }

        static func churn(port: Int, connections: Int) async throws -> String {
            let (status, report) = try await SubprocessTests.run([
                "python3", SilentClientTests.packageRoot.appendingPathComponent("Tests/Scripts/h2_churn.py").path,
                "--port", "\(port)", "--connections", "\(connections)",
            ])
            #expect(status == 0, "\(report)")
            return report
        }
    }
}
#endif
