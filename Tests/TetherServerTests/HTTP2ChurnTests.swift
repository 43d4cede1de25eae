// /proc and the demo binary the silent-client test finds, both Linux's.
#if os(Linux)
import Foundation
import Testing

/// Connections that end in an HTTP/2 connection error after opening streams (a rapid reset, a bad frame) leave
/// nothing behind: tether-demo, in its own process so that its memory is its own, keeps its resident size while
/// hundreds of them come and go (Tests/Scripts/h2_churn.py).
@Suite struct HTTP2ChurnTests {
    @Test(.timeLimit(.minutes(2)))
    func connectionsEndedByAConnectionErrorLeaveNoMemoryBehind() async throws {
        let demo = try SilentClientTests.demo()
        let server = Process()
        server.executableURL = demo
        server.arguments = ["--port", "0", "--log-level", "info"]
        let log = Pipe()
        server.standardError = log
        try server.run()
        defer { server.terminate() }
        let port = try #require(
            await Self.listeningPort(log.fileHandleForReading), "tether-demo did not say where it listens")
        // The access log goes on: drained, so that a full pipe never stops the server.
        log.fileHandleForReading.readabilityHandler = { _ = $0.availableData }
        defer { log.fileHandleForReading.readabilityHandler = nil }

        _ = try await Self.churn(port: port, connections: 50)
        let before = try Self.residentKiB(server.processIdentifier)
        let report = try await Self.churn(port: port, connections: 200)
        let after = try Self.residentKiB(server.processIdentifier)

        #expect(report.contains("\"closed_by_server\": 200"), "\(report)")
        // Each connection opened 100 streams: a stream's few KiB kept per connection would be tens of MiB.
        #expect(after - before < 8 * 1024, "resident \(before) KiB -> \(after) KiB")
    }

    /// The port in tether-demo's "Listening" line, read on a thread of its own: a blocking read on Swift's few
    /// cooperative threads would stall every other test meanwhile.
    static func listeningPort(_ log: FileHandle) async -> Int? {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: Self.readListeningPort(log)) }
        }
    }

    private static func readListeningPort(_ log: FileHandle) -> Int? {
        var text = ""
        while !text.contains("Listening") {
            let data = log.availableData
            if data.isEmpty { return nil }
            text += String(decoding: data, as: UTF8.self)
        }
        let line = text.split(separator: "\n").first { $0.contains("Listening") } ?? ""
        return line.split(separator: " ").first { $0.hasPrefix("address=") }?.split(separator: ":").last.flatMap {
            Int($0)
        }
    }

    static func residentKiB(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    static func churn(port: Int, connections: Int) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", SilentClientTests.packageRoot.appendingPathComponent("Tests/Scripts/h2_churn.py").path,
            "--port", "\(port)", "--connections", "\(connections)",
        ]
        let output = Pipe()
        process.standardOutput = output
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        // One short line: it fits in the pipe's buffer, so reading after the exit cannot block.
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status == 0, "\(report)")
        return report
    }
}
#endif
