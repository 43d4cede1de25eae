import Foundation
import Testing

extension SubprocessTests {
    /// The soak, run in its own process so that its descriptor and memory counts are its own; one soak at a time, as
    /// each takes a core and the other tests need the other.
    @Suite(.serialized) struct SoakTests {
        /// Over HTTP/1.1, WebSocket sessions included, and over HTTP/2, where streams also leave by RST_STREAM and
        /// connections by GOAWAY.
        @Test(.timeLimit(.minutes(3)), arguments: [false, true])
        func aShortSoakLeaksNothing(http2: Bool) async throws {
            let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            let soak = directory.appendingPathComponent("tether-soak")
            try #require(
                FileManager.default.isExecutableFile(atPath: soak.path), "build tether-soak first: \(soak.path)")
            // Scripts/sanitizers.sh raises the memory bound: AddressSanitizer's quarantine holds freed memory.
            let memoryBound = ProcessInfo.processInfo.environment["TETHER_SOAK_MAX_RESIDENT_MIB"] ?? "128"
            let (status, report) = try await SubprocessTests.run(
                ["--seconds", "15", "--concurrency", "64", "--max-resident-growth-mib", memoryBound]
                    + (http2 ? ["--http2"] : []),
                executable: soak)
            #expect(status == 0, "\(report)")
            #expect(report.hasSuffix("; OK\n"), "\(report)")
            #expect(report.contains("left by FIN"))
            if http2 { #expect(!report.contains("by RST_STREAM 0,") && !report.contains("by GOAWAY 0;"), "\(report)") }
            // WebSocket sessions are part of the HTTP/1.1 soak: some complete (their echoes checked, then the close
            // handshake), some leave by close frame.
            let figures = try #require(
                report.firstMatch(of: /websocket sessions (\d+) \(complete (\d+),.*echoes checked (\d+),/), "\(report)")
            let leftByCloseFrame = try #require(report.firstMatch(of: /by close frame (\d+),/), "\(report)")
            let (sessions, completed, echoes) = (Int(figures.1)!, Int(figures.2)!, Int(figures.3)!)
            if http2 {
                #expect(sessions == 0, "\(report)")
            } else {
                #expect(sessions > 0 && completed > 0 && echoes > 0, "\(report)")
                #expect(Int(leftByCloseFrame.1)! > 0, "\(report)")
            }
        }
    }
}
