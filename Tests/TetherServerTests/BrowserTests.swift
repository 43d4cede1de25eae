// tether-demo as a process of its own, and Debian's chromium and chromedriver: Linux's.
#if os(Linux)
import Foundation
import Testing

extension SubprocessTests {
    /// The demo page in a real browser (issue 14): Tests/Scripts/browser_test.py drives Debian's chromium, headless,
    /// through chromedriver and selenium 4, against tether-demo on a free port of 127.0.0.1. It loads `/`, follows
    /// every link, sends a message through the WebSocket echo, then clicks the page's abort demo: a `fetch` of
    /// `/slow/?ms=30000` aborted with an `AbortController`, after which the page reads `/stats/` until the server
    /// counts the handler cancelled, and shows the reason and how long after the abort it saw it.
    ///
    /// chromium, chromium-driver (`apt-get install -y chromium chromium-driver`) and selenium (`python3 -m pip install
    /// selenium`) must be installed, as .ci/run installs them: with `CI` set a missing one fails the test, elsewhere
    /// it skips it.
    @Suite struct BrowserTests {
        static let chromium = "/usr/bin/chromium"
        static let chromedriver = "/usr/bin/chromedriver"
        static let script = SilentClientTests.packageRoot.appendingPathComponent("Tests/Scripts/browser_test.py")

        /// What a browser's leaving is counted as: it closed or reset its connection.
        static let departureReasons: Set<String> = ["client_closed", "client_reset", "half_closed"]

        static var isCI: Bool { !(ProcessInfo.processInfo.environment["CI"] ?? "").isEmpty }

        /// What the test needs and this machine lacks, each with how to install it; empty when all is there.
        static let missing: [String] = {
            var missing: [String] = []
            if !FileManager.default.isExecutableFile(atPath: Self.chromium) {
                missing.append("\(Self.chromium) (apt-get install -y chromium)")
            }
            if !FileManager.default.isExecutableFile(atPath: Self.chromedriver) {
                missing.append("\(Self.chromedriver) (apt-get install -y chromium-driver)")
            }
            let python = Process()
            python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            python.arguments = ["python3", "-c", "import selenium"]
            python.standardOutput = FileHandle.nullDevice
            python.standardError = FileHandle.nullDevice
            if (try? python.run()) == nil {
                missing.append("python3 (apt-get install -y python3)")
            } else {
                python.waitUntilExit()
                if python.terminationStatus != 0 {
                    missing.append("python3's selenium (python3 -m pip install selenium)")
                }
            }
            return missing
        }()

        /// The counters of /stats/ the script reports.
        struct Stats: Decodable, Sendable {
            var started: Int
            var completed: Int
            var cancelled: Int
            var reasons: [String: Int]
        }

        /// The script's last line.
        struct Summary: Decodable, Sendable {
            var ok: Bool
            var error: String?
            var title: String?
            var links: [String: Int]?
            var echo: String?
            var states: [String]?
            var stateText: String?
            var before: Stats?
            var after: Stats?
            var reason: String?
            var shownReason: String?
            var pageLatencyMs: Double?
            var serverCloseToCancelUs: Double?
            var screenshotSize: [Int]?

            enum CodingKeys: String, CodingKey {
                case ok, error, title, links, echo, states, before, after, reason
                case stateText = "state_text"
                case shownReason = "shown_reason"
                case pageLatencyMs = "page_latency_ms"
                case serverCloseToCancelUs = "server_close_to_cancel_us"
                case screenshotSize = "screenshot_size"
            }
        }

        @Test(
            .timeLimit(.minutes(2)),
            .enabled(
                if: BrowserTests.isCI || BrowserTests.missing.isEmpty,
                "needs chromium, chromium-driver and python3's selenium (as .ci/run installs them)"))
        func theDemoPageShowsAnAbortedRequestCancelledByTheServer() async throws {
            try #require(
                Self.missing.isEmpty,
                "the browser test needs what is not installed: \(Self.missing.joined(separator: ", "))")
            let directory = try ProxyDeploymentTests.makeDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let (demo, port) = try await HTTP2ChurnTests.startDemo(["--grace-period", "1"])
            defer { ProxyDeploymentTests.stop(demo) }
            let screenshot = directory.appendingPathComponent("demo-cancelled.png")

            // The script bounds its own waits, and gives up on the whole run after --limit seconds.
            let (status, output) = try await SubprocessTests.run(
                ["python3", Self.script.path, "http://127.0.0.1:\(port)", screenshot.path, "--limit", "90"],
                showingErrors: true)
            let line = output.split(separator: "\n").last.map { Data($0.utf8) } ?? Data()
            let summary = try #require(
                try? JSONDecoder().decode(Summary.self, from: line),
                "browser_test.py exited with \(status) and printed no summary: \(output)")
            #expect(status == 0, "\(output)")
            #expect(summary.ok, "\(summary.error ?? ""): \(output)")
            #expect(summary.error == nil, "\(output)")

            // The page, its links and its WebSocket echo.
            #expect(summary.title == "Tether", "\(output)")
            let links = summary.links ?? [:]
            #expect(links.keys.contains("/stats/") && links.keys.contains { $0.hasPrefix("/slow/") }, "\(output)")
            #expect(links.values.allSatisfy { $0 == 200 }, "\(output)")
            #expect(summary.echo == "browser test", "\(output)")

            // The abort demo: running, aborted, then cancelled by the server, one handler, for a departure.
            #expect(summary.states?.last == "cancelled", "\(output)")
            #expect(summary.states?.contains("aborted") == true, "the page never showed the abort: \(output)")
            let before = try #require(summary.before, "\(output)")
            let after = try #require(summary.after, "\(output)")
            #expect(after.started == before.started + 1, "\(output)")
            #expect(after.cancelled == before.cancelled + 1, "\(output)")
            #expect(after.completed == before.completed, "\(output)")
            let reason = try #require(summary.reason, "\(output)")
            #expect(Self.departureReasons.contains(reason), "the server counted \(reason): \(output)")
            #expect(summary.shownReason == reason, "\(output)")
            #expect(summary.stateText?.hasPrefix("cancelled by the server: reason \(reason), seen ") == true)
            let latency = try #require(summary.pageLatencyMs, "the page showed no latency: \(output)")
            #expect(latency.isFinite && latency >= 0 && latency < 5000, "\(output)")
            if let server = summary.serverCloseToCancelUs { #expect(server > 0, "\(output)") }

            // The screenshot of that state.
            #expect(FileManager.default.fileExists(atPath: screenshot.path), "\(output)")
            #expect(summary.screenshotSize == [1200, 900], "\(output)")
        }
    }
}
#endif
