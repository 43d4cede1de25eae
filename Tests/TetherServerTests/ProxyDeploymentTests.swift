// nginx, HAProxy and tether-demo as processes of their own, and /proc: Linux's.
#if os(Linux)
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension SubprocessTests {
    /// The shipped deployment files of deploy/ keep Tether's promise through a real nginx and a real HAProxy: a client
    /// that leaves at the proxy (FIN, RST or half-close; after its body or in the middle of it; while a response or a
    /// WebSocket streams) stops its request's work in Tether, and the client's address reaches the application through
    /// the proxy's headers, never through what the client itself claimed. docs/Deployment.md tells the story.
    ///
    /// Each test runs tether-demo (over TCP or a Unix socket) and the proxy with the shipped file, in which only the
    /// proxy's ports, Tether's port and its socket path are replaced (each replacement is checked to have happened), as
    /// child processes of its own, stopped when the test ends, however it ends. Tests/Scripts/proxy_client.py is the
    /// client: raw sockets, so that it can leave exactly as a test asks, and it watches Tether's `/stats/` (directly,
    /// not through the proxy) with bounded waits. nginx and HAProxy must be installed (`apt-get install nginx
    /// haproxy`).
    @Suite(.timeLimit(.minutes(2))) struct ProxyDeploymentTests {
        enum ProxyKind: String, Sendable, CaseIterable {
            case nginx, haproxy
        }

        enum Upstream: String, Sendable {
            case tcp, unixSocket
        }

        /// A proxy, and how it reaches Tether.
        struct Route: Sendable, CustomTestStringConvertible {
            var proxy: ProxyKind
            var upstream: Upstream
            var testDescription: String { "\(self.proxy.rawValue) to Tether over \(self.upstream.rawValue)" }

            static let all = [
                Route(proxy: .nginx, upstream: .tcp), Route(proxy: .nginx, upstream: .unixSocket),
                Route(proxy: .haproxy, upstream: .tcp), Route(proxy: .haproxy, upstream: .unixSocket),
            ]
        }

        /// How a client leaves (proxy_client.py's `--scenario` and `--how`), and whether it stops a stream (counted as
        /// `stream_stopped`) or a handler (`cancelled`).
        struct Departure: Sendable, CustomTestStringConvertible {
            var scenario: String
            var how: String
            var stopsAStream = false
            var testDescription: String

            static let all = [
                Departure(scenario: "slow", how: "fin", testDescription: "FIN during /slow/"),
                Departure(scenario: "slow", how: "rst", testDescription: "RST during /slow/"),
                Departure(scenario: "slow", how: "half", testDescription: "half-close (still reading) during /slow/"),
                Departure(scenario: "blocking", how: "fin", testDescription: "FIN during /blocking/"),
                Departure(scenario: "post-after-body", how: "fin", testDescription: "FIN after a POST body"),
                Departure(scenario: "post-after-body", how: "rst", testDescription: "RST after a POST body"),
                Departure(scenario: "stream", how: "fin", stopsAStream: true, testDescription: "FIN during /stream/"),
                Departure(scenario: "stream", how: "rst", stopsAStream: true, testDescription: "RST during /stream/"),
                Departure(scenario: "ws", how: "fin", stopsAStream: true, testDescription: "FIN during /ws/ticker/"),
                Departure(scenario: "ws", how: "rst", stopsAStream: true, testDescription: "RST during /ws/ticker/"),
            ]
        }

        /// What a proxy's close of its connection to Tether can be counted as: Tether cannot tell whose FIN or RST it
        /// is, only that the peer left (`half_closed` only on a server that serves half-closed connections).
        static let departureReasons: Set<String> = ["client_closed", "client_reset", "half_closed"]

        // MARK: Leaving at the proxy

        @Test(arguments: Route.all, Departure.all)
        func aClientThatLeavesAtTheProxyStopsItsWorkInTether(route: Route, departure: Departure) async throws {
            try await Self.withStack(route) { stack in
                let report = try await Self.leave(
                    stack, departure.scenario, how: departure.how,
                    until: departure.stopsAStream ? "stream_stopped" : "cancelled")
                let (before, after) = (report.before, report.after)
                let context = "\(report)\n\(stack.logTail())"
                #expect(report.underway, "the request never got under way: \(context)")
                #expect(report.reached, "Tether did not stop the work within 5 s: \(context)")
                #expect(after.started == before.started + 1, "\(context)")
                #expect(after.completed == before.completed, "\(context)")
                #expect(after.cancelled == before.cancelled + (departure.stopsAStream ? 0 : 1), "\(context)")
                #expect(after.streamStopped == before.streamStopped + (departure.stopsAStream ? 1 : 0), "\(context)")
                let reasons = after.reasons(since: before)
                #expect(
                    reasons.count == 1 && reasons.values.allSatisfy { $0 == 1 }
                        && reasons.keys.allSatisfy(Self.departureReasons.contains),
                    "reasons counted: \(reasons): \(context)")
            }
        }

        /// The proxies pass a body on as it comes (nginx: `proxy_request_buffering off`), so Tether spools it as it
        /// comes; a client that leaves in the middle of it ends the request in Tether at once: no handler runs, and
        /// the spooled body is removed.
        @Test(arguments: Route.all, ["fin", "rst"])
        func aClientThatLeavesMidBodyHasItsSpooledBodyRemoved(route: Route, how: String) async throws {
            try await Self.withStack(route) { stack in
                let report = try await Self.leave(stack, "post-mid-body", how: how, until: "spool_gone")
                let (before, after) = (report.before, report.after)
                let context = "\(report)\n\(stack.logTail())"
                #expect(
                    report.underway,
                    "no spooled body appeared in Tether's temporary directory: the body did not flow: \(context)")
                #expect(report.reached, "the abandoned request's spooled body was not removed within 5 s: \(context)")
                #expect(after.started == before.started, "a handler ran for a body that never ended: \(context)")
                #expect(after.cancelled == before.cancelled && after.completed == before.completed, "\(context)")
            }
        }

        /// The control for the tests above: with the one directive that forwards a client's departure turned off
        /// (nginx's `proxy_ignore_client_abort on`, HAProxy's `no option abortonclose`), the same departure no longer
        /// reaches Tether, and the handler runs to its end for nobody. So the shipped directive is what keeps the
        /// promise; measured with a FIN and with a RST.
        @Test(arguments: ProxyKind.allCases, ["fin", "rst"])
        func withoutTheAbortDirectiveTheHandlerRunsForNobody(proxy: ProxyKind, how: String) async throws {
            let (shipped, disabled) =
                proxy == .nginx
                ? ("proxy_ignore_client_abort off;", "proxy_ignore_client_abort on;")
                : ("\n    option abortonclose\n", "\n    no option abortonclose\n")
            try await Self.withStack(
                Route(proxy: proxy, upstream: .tcp),
                editing: { try Self.substituting([(shipped, disabled)], in: $0) }
            ) { stack in
                let report = try await Self.leave(stack, "slow-short", how: how, until: "completed")
                let (before, after) = (report.before, report.after)
                let context = "\(report)\n\(stack.logTail())"
                #expect(report.underway, "\(context)")
                #expect(report.reached, "the 1.5 s handler did not complete: \(context)")
                #expect(after.completed == before.completed + 1 && after.cancelled == before.cancelled, "\(context)")
            }
        }

        // MARK: The client's address

        /// The test's client connects from 127.0.0.2 and claims to be 198.51.100.7 (X-Forwarded-For), 198.51.100.8
        /// (Forwarded, which Tether would prefer), https and another host: the proxy appends the address it saw, sets
        /// the scheme and the host and drops the client's Forwarded, and Tether, trusting only the proxy (127.0.0.1,
        /// or `unix` on a Unix socket), reports 127.0.0.2, http and the Host the client asked for.
        @Test(arguments: Route.all)
        func theClientIsTheAddressTheProxySawNotTheOneItClaimed(route: Route) async throws {
            try await Self.withStack(route) { stack in
                let report = try await Self.client(
                    [
                        "scope", "--connect", stack.front, "--source", "127.0.0.2",
                        "--header", "X-Forwarded-For: 198.51.100.7",
                        "--header", "Forwarded: for=198.51.100.8;proto=https",
                        "--header", "X-Forwarded-Proto: https", "--header", "X-Forwarded-Host: evil.example",
                    ], as: ScopeReport.self)
                let context = "\(report)\n\(stack.logTail())"
                #expect(report.status == 200, "\(context)")
                let scope = try #require(report.scope, "/scope/ answered no scope: \(context)")
                #expect(scope.client == Endpoint(host: "127.0.0.2", port: 0), "\(context)")
                #expect(scope.scheme == "http" && scope.host == "tether.test", "\(context)")
                #expect(scope.type == "http" && scope.method == "GET" && scope.path == "/scope/", "\(context)")
                #expect(scope.httpVersion == "1.1", "the proxies speak HTTP/1.1 to Tether: \(context)")
                switch route.upstream {
                case .tcp: #expect(scope.server == Endpoint(host: "127.0.0.1", port: stack.demoPort), "\(context)")
                case .unixSocket: #expect(scope.server == Endpoint(host: stack.socketPath, port: nil), "\(context)")
                }
                #expect(scope.worker == stack.demo.processIdentifier, "\(context)")
            }
        }

        /// The shipped upstream keep-alive works with Tether: three requests on one client connection reach Tether on
        /// one connection from the proxy (with `--no-proxy-headers` the scope's client is the proxy's end of it). A
        /// proxy that spoke HTTP/1.0 or sent `Connection: close` would open one connection per request.
        @Test(arguments: ProxyKind.allCases)
        func theProxyKeepsItsConnectionToTetherAlive(proxy: ProxyKind) async throws {
            try await Self.withStack(Route(proxy: proxy, upstream: .tcp), demo: ["--no-proxy-headers"]) { stack in
                let report = try await Self.client(
                    ["scope", "--connect", stack.front, "--repeat", "3"], as: ScopeReport.self)
                let context = "\(report)\n\(stack.logTail())"
                let clients = (report.scopes ?? []).map(\.client)
                #expect(clients.count == 3, "\(context)")
                #expect(Set(clients.map { $0?.port }).count == 1, "not one upstream connection: \(context)")
                #expect(clients.allSatisfy { $0?.host == "127.0.0.1" && $0?.port != 0 }, "\(context)")
            }
        }

        /// Proxy headers sent straight to tether-demo (no proxy), from 127.0.0.1, with the trust the arguments give.
        struct Trust: Sendable, CustomTestStringConvertible {
            var arguments: [String] = []
            var environment: [String: String] = [:]
            var headers: [String]
            /// The client, scheme and host expected; a nil client: the peer itself (127.0.0.1 and its own port).
            var client: String?
            var scheme: String
            var host = "tether.test"
            var testDescription: String

            static let claims = [
                "X-Forwarded-For: 198.51.100.7", "X-Forwarded-Proto: https", "X-Forwarded-Host: app.example",
            ]
            static let all = [
                Trust(
                    headers: claims, client: "198.51.100.7", scheme: "https", host: "app.example",
                    testDescription: "127.0.0.1 is trusted by default: X-Forwarded-For, -Proto and -Host are believed"),
                Trust(
                    headers: ["Forwarded: for=198.51.100.9;proto=https;host=app.example"], client: "198.51.100.9",
                    scheme: "https", host: "app.example", testDescription: "RFC 7239 Forwarded is believed"),
                Trust(
                    arguments: ["--forwarded-allow-ips", "127.0.0.1,10.0.0.0/8"],
                    headers: ["X-Forwarded-For: 198.51.100.7, 10.1.2.3"], client: "198.51.100.7", scheme: "http",
                    testDescription: "trusted hops are skipped from the right"),
                Trust(
                    arguments: ["--forwarded-allow-ips", "*"], headers: ["X-Forwarded-For: 198.51.100.7, 203.0.113.5"],
                    client: "198.51.100.7", scheme: "http", testDescription: "'*' trusts every hop: the leftmost"),
                Trust(
                    arguments: ["--forwarded-allow-ips", "10.0.0.1"], headers: claims, client: nil, scheme: "http",
                    testDescription: "an untrusted peer's headers are ignored"),
                Trust(
                    environment: ["TETHER_FORWARDED_ALLOW_IPS": "10.0.0.1"], headers: claims, client: nil,
                    scheme: "http", testDescription: "TETHER_FORWARDED_ALLOW_IPS does what the option does"),
                Trust(
                    arguments: ["--no-proxy-headers"], headers: claims, client: nil, scheme: "http",
                    testDescription: "--no-proxy-headers: ignored even from 127.0.0.1"),
            ]
        }

        @Test(arguments: Trust.all)
        func proxyHeadersAreBelievedFromTrustedPeersOnly(trust: Trust) async throws {
            let directory = try Self.makeDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let port = try HTTP2ChurnTests.freePort()
            let demo = try Self.launch(
                SilentClientTests.demo(), ["--port", "\(port)", "--log-level", "warning"] + trust.arguments,
                log: directory.appendingPathComponent("tether.log"), environment: trust.environment)
            defer { Self.stop(demo) }
            try await Self.waitUntil("tether-demo listens", demo) { HTTP2ChurnTests.accepts(port) }

            let report = try await Self.client(
                ["scope", "--connect", "tcp:127.0.0.1:\(port)"] + trust.headers.flatMap { ["--header", $0] },
                as: ScopeReport.self)
            let scope = try #require(report.scope, "/scope/ answered no scope: \(report)")
            if let client = trust.client {
                #expect(scope.client == Endpoint(host: client, port: 0), "\(report)")
            } else {
                #expect(scope.client?.host == "127.0.0.1" && scope.client?.port != 0, "\(report)")
            }
            #expect(scope.scheme == trust.scheme && scope.host == trust.host, "\(report)")
        }

        // MARK: Several workers, and systemd

        /// `--workers 2` behind nginx: nginx's concurrent requests are answered by both workers (children of the
        /// supervisor), and a client that leaves is cancelled in the worker that ran its request. Counters are per
        /// process, so the script holds one keep-alive connection to each worker and reads each worker's own /stats/.
        @Test func severalWorkersBehindNginxShareTheWorkAndEachCancelsItsOwn() async throws {
            try await Self.withStack(Route(proxy: .nginx, upstream: .tcp), demo: ["--workers", "2"]) { stack in
                let report = try await Self.client(
                    ["workers", "--proxy", stack.front, "--direct", stack.stats, "--workers", "2"],
                    as: WorkersReport.self)
                let context = "\(report)\n\(stack.logTail())"
                Self.expectWorkers(report, of: stack.demo.processIdentifier, context: context)
                #expect(
                    Set(report.proxyPids).count == 2 && Set(report.proxyPids) == Set(report.workers),
                    "nginx's requests were not answered by both workers: \(context)")
            }
        }

        /// deploy/tether.service's ExecStart (the binary's path replaced), started as systemd starts it: on a
        /// listening socket inherited as fd 3 with LISTEN_FDS (deploy/tether.socket's ListenStream address, another
        /// port), with the unit's Environment. It serves with two workers on that socket and cancels a client that
        /// leaves; ExecReload's SIGHUP replaces both workers while the socket keeps answering; SIGTERM (KillMode=mixed:
        /// the supervisor alone) stops it and its workers within TimeoutStopSec.
        @Test func theSystemdServiceServesItsSocketReloadsAndStops() async throws {
            let deploy = SilentClientTests.packageRoot.appendingPathComponent("deploy")
            let service = try String(contentsOf: deploy.appendingPathComponent("tether.service"), encoding: .utf8)
            let socketUnit = try String(contentsOf: deploy.appendingPathComponent("tether.socket"), encoding: .utf8)
            var command = try #require(Self.unitValues("ExecStart", in: service).first).split(separator: " ")
                .map(String.init)
            try #require(command.first == "/usr/local/bin/tether-demo", "ExecStart: \(command)")
            command[0] = try SilentClientTests.demo().path
            let fd = try #require(command.firstIndex(of: "--fd"), "ExecStart has no --fd: \(command)")
            #expect(command[fd + 1] == "3", "systemd passes the first socket as fd 3")
            #expect(Self.unitValues("ExecReload", in: service) == ["/bin/kill -HUP $MAINPID"])
            #expect(Self.unitValues("KillMode", in: service) == ["mixed"])
            let stopSeconds = try #require(Self.unitValues("TimeoutStopSec", in: service).first.flatMap { Int($0) })
            let listen = try #require(Self.unitValues("ListenStream", in: socketUnit).first)
            let host = try #require(listen.split(separator: ":").first.map(String.init), "ListenStream=\(listen)")
            var environment: [String: String] = [:]
            for assignment in Self.unitValues("Environment", in: service) {
                let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { environment[parts[0]] = parts[1] }
            }

            let directory = try Self.makeDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let port = try HTTP2ChurnTests.freePort()
            let address = "tcp:\(host):\(port)"
            let supervisor = try Self.launch(
                URL(fileURLWithPath: "/usr/bin/env"),
                ["python3", Self.script, "systemd-exec", "--listen", "\(host):\(port)", "--"] + command,
                log: directory.appendingPathComponent("tether.log"), environment: environment)
            defer { Self.stop(supervisor) }
            let pid = supervisor.processIdentifier
            let log = { Self.tail(directory.appendingPathComponent("tether.log")) }
            try await Self.waitUntil("two workers started", supervisor) { Self.children(of: pid).count == 2 }

            let report = try await Self.client(
                ["workers", "--proxy", address, "--direct", address, "--workers", "2"], as: WorkersReport.self)
            Self.expectWorkers(report, of: pid, context: "\(report)\n\(log())")

            let old = Set(Self.children(of: pid))
            kill(pid, SIGHUP)
            var replaced = false
            let reloadDeadline = ContinuousClock.now + .seconds(20)
            while !replaced, supervisor.isRunning, ContinuousClock.now < reloadDeadline {
                let now = Set(Self.children(of: pid))
                replaced = now.count == 2 && now.isDisjoint(with: old)
                if !replaced { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(replaced, "SIGHUP did not replace both workers within 20 s: \(old) -> \(Self.children(of: pid))")
            let after = try await Self.client(["scope", "--connect", address], as: ScopeReport.self)
            #expect(after.status == 200, "\(after)\n\(log())")
            #expect(after.scope.map { !old.contains($0.worker) } == true, "answered by an old worker: \(after)")

            let workers = Self.children(of: pid)
            kill(pid, SIGTERM)
            let stopDeadline = ContinuousClock.now + .seconds(stopSeconds)
            while supervisor.isRunning, ContinuousClock.now < stopDeadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(!supervisor.isRunning, "still running \(stopSeconds) s after SIGTERM: \(log())")
            if !supervisor.isRunning {
                #expect(supervisor.terminationStatus == 0, "exit status after SIGTERM: \(log())")
            }
            #expect(workers.allSatisfy { kill($0, 0) != 0 }, "workers outlived the supervisor: \(workers)")
        }

        /// Both workers are the supervisor's children, and the worker that ran the abandoned /slow/ counted its
        /// cancellation, the other nothing.
        static func expectWorkers(_ report: WorkersReport, of supervisor: Int32, context: String) {
            #expect(Set(report.workers).count == 2, "\(context)")
            for worker in report.workers {
                #expect(Self.parent(of: worker) == supervisor, "worker \(worker) is not the supervisor's: \(context)")
            }
            guard let worker = report.worker, let before = report.before, let after = report.after else {
                Issue.record("no worker started the /slow/ request: \(context)")
                return
            }
            #expect(report.reached, "the worker did not count the cancellation within 5 s: \(context)")
            for pid in report.workers {
                guard let was = before["\(pid)"], let now = after["\(pid)"] else {
                    Issue.record("no stats of worker \(pid): \(context)")
                    continue
                }
                let mine = pid == worker ? 1 : 0
                #expect(now.started == was.started + mine && now.cancelled == was.cancelled + mine, "\(context)")
                #expect(now.completed == was.completed, "\(context)")
                let reasons = now.reasons(since: was)
                #expect(
                    reasons.values.reduce(0, +) == mine && reasons.keys.allSatisfy(Self.departureReasons.contains),
                    "\(context)")
            }
        }

        // MARK: The script's reports

        struct Stats: Decodable, Sendable, CustomStringConvertible {
            var started: Int
            var completed: Int
            var cancelled: Int
            var streamStopped: Int
            var lastCancelNs: UInt64
            var reasons: [String: Int]

            /// The reasons counted since `earlier`.
            func reasons(since earlier: Stats) -> [String: Int] {
                var counted: [String: Int] = [:]
                for (reason, count) in self.reasons where count != earlier.reasons[reason, default: 0] {
                    counted[reason] = count - earlier.reasons[reason, default: 0]
                }
                return counted
            }

            var description: String {
                "started \(self.started) completed \(self.completed) cancelled \(self.cancelled) "
                    + "stream_stopped \(self.streamStopped) reasons \(self.reasons)"
            }
        }

        struct LeaveReport: Decodable, Sendable {
            var before: Stats
            var after: Stats
            var reached: Bool
            var underway: Bool
            var statusLine: String
            var receivedBytes: Int
            var bodyBytesSent: Int
            var latencyMs: Double?
        }

        /// A scope's `client` or `server`: `[host, port]`, the port null on a Unix socket.
        struct Endpoint: Decodable, Sendable, Equatable {
            var host: String
            var port: Int?

            init(host: String, port: Int?) {
                self.host = host
                self.port = port
            }

            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                self.host = try container.decode(String.self)
                self.port = try container.decodeIfPresent(Int.self)
            }
        }

        struct Scope: Decodable, Sendable {
            var type: String
            var httpVersion: String
            var scheme: String
            var method: String
            var path: String
            var rootPath: String
            /// The Host the application sees (X-Forwarded-Host's, from a trusted proxy).
            var host: String?
            var client: Endpoint?
            var server: Endpoint?
            var worker: Int32
        }

        struct ScopeReport: Decodable, Sendable {
            var status: Int
            /// Nil when the answer was not a scope (the script then gives the body as a string).
            var scope: Scope?
            /// With `--repeat`: every answer, in order.
            var scopes: [Scope]?

            enum CodingKeys: String, CodingKey { case status, scope, scopes }

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                self.status = try container.decode(Int.self, forKey: .status)
                self.scope = try? container.decode(Scope.self, forKey: .scope)
                self.scopes = try? container.decode([Scope].self, forKey: .scopes)
            }
        }

        struct WorkersReport: Decodable, Sendable {
            var proxyPids: [Int32]
            var workers: [Int32]
            var worker: Int32?
            var before: [String: Stats]?
            var after: [String: Stats]?
            var reached: Bool
        }

        struct ScriptFailure: Error, CustomStringConvertible {
            var description: String
        }

        static let script = SilentClientTests.packageRoot.appendingPathComponent("Tests/Scripts/proxy_client.py").path

        /// Runs proxy_client.py with `arguments` and decodes its last line.
        static func client<Report: Decodable>(_ arguments: [String], as type: Report.Type) async throws -> Report {
            let (status, output) = try await SubprocessTests.run(
                ["python3", Self.script] + arguments, showingErrors: true)
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let line = output.split(separator: "\n").last.map { Data($0.utf8) } ?? Data()
            guard let report = try? decoder.decode(Report.self, from: line) else {
                throw ScriptFailure(description: "proxy_client.py \(arguments) exited with \(status): \(output)")
            }
            return report
        }

        static func leave(_ stack: Stack, _ scenario: String, how: String, until: String) async throws -> LeaveReport {
            try await Self.client(
                [
                    "leave", "--connect", stack.front, "--stats", stack.stats, "--scenario", scenario, "--how", how,
                    "--until", until, "--spool", stack.spool.path,
                ], as: LeaveReport.self)
        }

        // MARK: Processes

        /// tether-demo and a proxy in front of it, and the addresses the script needs.
        struct Stack: Sendable {
            var directory: URL
            var demo: Process
            /// The proxy's door for the route: `tcp:127.0.0.1:port`.
            var front: String
            /// Tether itself, for /stats/: `tcp:127.0.0.1:port` or `unix:path`.
            var stats: String
            var demoPort: Int?
            var socketPath: String
            var spool: URL
            var logs: [URL]

            /// The end of every log, for a failure's message.
            func logTail() -> String {
                self.logs.map { "--- \($0.lastPathComponent):\n\(ProxyDeploymentTests.tail($0))" }
                    .joined(separator: "\n")
            }
        }

        /// Runs `body` with tether-demo (with `arguments`) behind the proxy of `route`, whose shipped configuration is
        /// changed by `edit` besides the ports and the socket path; stops both, however `body` ends.
        static func withStack(
            _ route: Route, demo arguments: [String] = [], editing edit: (String) throws -> String = { $0 },
            _ body: (Stack) async throws -> Void
        ) async throws {
            let directory = try Self.makeDirectory()
            var processes: [Process] = []
            defer {
                for process in processes.reversed() { Self.stop(process) }
                try? FileManager.default.removeItem(at: directory)
            }
            let spool = directory.appendingPathComponent("spool")
            try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
            let logs = directory.appendingPathComponent("logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let socketPath = directory.appendingPathComponent("tether.sock").path

            // Tether.
            let demoLog = logs.appendingPathComponent("tether.log")
            var demoArguments = [
                "--log-level", "info", "--temporary-directory", spool.path, "--grace-period", "1",
            ]
            let demoPort: Int?
            let stats: String
            switch route.upstream {
            case .tcp:
                let port = try HTTP2ChurnTests.freePort()
                (demoPort, stats) = (port, "tcp:127.0.0.1:\(port)")
                demoArguments += ["--port", "\(port)"]
            case .unixSocket:
                (demoPort, stats) = (nil, "unix:\(socketPath)")
                // A proxy on a Unix socket has no address: `unix` trusts any peer of the socket.
                demoArguments += ["--uds", socketPath, "--forwarded-allow-ips", "unix"]
            }
            let demo = try Self.launch(SilentClientTests.demo(), demoArguments + arguments, log: demoLog)
            processes.append(demo)
            try await Self.waitUntil("tether-demo listens", demo, log: demoLog) {
                if let demoPort { HTTP2ChurnTests.accepts(demoPort) } else { Self.acceptsUnix(socketPath) }
            }

            // The proxy, with its shipped file.
            let (tcpFront, unixFront) = try Self.twoFreePorts()
            let upstreamPort = try demoPort ?? HTTP2ChurnTests.freePort()
            let proxyLogs: [URL]
            let proxy: Process
            switch route.proxy {
            case .nginx:
                let configuration = try edit(
                    Self.substituting(
                        [
                            ("127.0.0.1:8080", "127.0.0.1:\(tcpFront)"), ("127.0.0.1:8081", "127.0.0.1:\(unixFront)"),
                            ("127.0.0.1:8000", "127.0.0.1:\(upstreamPort)"), ("/run/tether/tether.sock", socketPath),
                        ], in: Self.shipped("nginx.conf")))
                let file = directory.appendingPathComponent("nginx.conf")
                try configuration.write(to: file, atomically: true, encoding: .utf8)
                // Under root the workers would run as nobody: as root here, to reach the test's socket.
                let global = getuid() == 0 ? "daemon off; user root;" : "daemon off;"
                let output = logs.appendingPathComponent("nginx.out")
                proxy = try Self.launch(
                    Self.tool("nginx"),
                    ["-p", directory.path + "/", "-e", "logs/error.log", "-c", file.path, "-g", global], log: output)
                proxyLogs = [
                    output, logs.appendingPathComponent("error.log"), logs.appendingPathComponent("access.log"),
                ]
            case .haproxy:
                let configuration = try edit(
                    Self.substituting(
                        [
                            ("127.0.0.1:8090", "127.0.0.1:\(tcpFront)"), ("127.0.0.1:8091", "127.0.0.1:\(unixFront)"),
                            ("127.0.0.1:8000", "127.0.0.1:\(upstreamPort)"), ("/run/tether/tether.sock", socketPath),
                        ], in: Self.shipped("haproxy.cfg")))
                let file = directory.appendingPathComponent("haproxy.cfg")
                try configuration.write(to: file, atomically: true, encoding: .utf8)
                let output = logs.appendingPathComponent("haproxy.log")
                proxy = try Self.launch(Self.tool("haproxy"), ["-db", "-f", file.path], log: output)
                proxyLogs = [output]
            }
            processes.append(proxy)
            try await Self.waitUntil("\(route.proxy) listens", proxy, log: proxyLogs[0]) {
                HTTP2ChurnTests.accepts(tcpFront) && HTTP2ChurnTests.accepts(unixFront)
            }
            try await body(
                Stack(
                    directory: directory, demo: demo,
                    front: "tcp:127.0.0.1:\(route.upstream == .tcp ? tcpFront : unixFront)", stats: stats,
                    demoPort: demoPort, socketPath: socketPath, spool: spool, logs: [demoLog] + proxyLogs))
        }

        /// The shipped file deploy/`name`.
        static func shipped(_ name: String) throws -> String {
            try String(
                contentsOf: SilentClientTests.packageRoot.appendingPathComponent("deploy").appendingPathComponent(name),
                encoding: .utf8)
        }

        /// `text` with every occurrence of each canonical value replaced; each must occur.
        static func substituting(_ replacements: [(String, String)], in text: String) throws -> String {
            var text = text
            for (canonical, value) in replacements {
                try #require(
                    text.contains(canonical), "the shipped file no longer contains \(canonical.debugDescription)")
                text = text.replacingOccurrences(of: canonical, with: value)
            }
            return text
        }

        /// The values of `key=` lines of a systemd unit.
        static func unitValues(_ key: String, in unit: String) -> [String] {
            unit.split(separator: "\n").compactMap { line in
                line.hasPrefix(key + "=") ? String(line.dropFirst(key.count + 1)) : nil
            }
        }

        /// A fresh directory, short enough for a Unix socket's path inside it.
        static func makeDirectory() throws -> URL {
            let base =
                FileManager.default.temporaryDirectory.path.count < 40
                ? FileManager.default.temporaryDirectory : URL(fileURLWithPath: "/tmp")
            let directory = base.appendingPathComponent("tether-deploy-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return directory
        }

        static func twoFreePorts() throws -> (Int, Int) {
            let first = try HTTP2ChurnTests.freePort()
            var second = try HTTP2ChurnTests.freePort()
            while second == first { second = try HTTP2ChurnTests.freePort() }
            return (first, second)
        }

        /// `name` on the PATH or in the sbin directories.
        static func tool(_ name: String) throws -> URL {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
            let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/local/sbin"]
            let found = directories.map { URL(fileURLWithPath: $0).appendingPathComponent(name) }
                .first { FileManager.default.isExecutableFile(atPath: $0.path) }
            return try #require(found, "\(name) is not installed (apt-get install -y nginx haproxy)")
        }

        /// Starts `executable`, its standard output and error going to `log`.
        static func launch(
            _ executable: URL, _ arguments: [String], log: URL, environment: [String: String] = [:]
        ) throws -> Process {
            try Data().write(to: log)
            let output = try FileHandle(forWritingTo: log)
            defer { try? output.close() }
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            process.standardOutput = output
            process.standardError = output
            if !environment.isEmpty {
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            }
            try process.run()
            return process
        }

        /// Polls `condition` for up to 10 s while `process` runs; throws, with the end of `log`, if it never holds.
        static func waitUntil(
            _ what: String, _ process: Process, log: URL? = nil, _ condition: () -> Bool
        ) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while process.isRunning, ContinuousClock.now < deadline {
                if condition() { return }
                try await Task.sleep(for: .milliseconds(10))
            }
            let state = process.isRunning ? "still running" : "exited with \(process.terminationStatus)"
            throw ScriptFailure(
                description: "not so within 10 s: \(what) (\(state)): \(log.map { Self.tail($0) } ?? "")")
        }

        /// SIGTERM, then SIGKILL after 5 s for the process and for the children it had (the workers of a
        /// supervisor), which are this test's too.
        static func stop(_ process: Process) {
            guard process.isRunning else { return }
            let children = Self.children(of: process.processIdentifier)
            process.terminate()
            let deadline = ContinuousClock.now + .seconds(5)
            while process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGKILL)
            for child in children { kill(child, SIGKILL) }
            process.waitUntilExit()
        }

        /// The parent of `pid`, from /proc/`pid`/stat (after the command's closing parenthesis: state, then ppid).
        static func parent(of pid: Int32) -> Int32? {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 ? Int32(fields[1]) : nil
        }

        /// The live processes whose parent is `pid`.
        static func children(of pid: Int32) -> [Int32] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap { Int32($0) }.filter { child in
                guard Self.parent(of: child) == pid,
                    let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { return false }
                return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
            }
        }

        static func acceptsUnix(_ path: String) -> Bool {
            let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard socket >= 0 else { return false }
            defer { close(socket) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
                }
            }
        }

        /// The last 3,000 characters of `file`.
        static func tail(_ file: URL) -> String {
            guard let data = FileManager.default.contents(atPath: file.path) else { return "(no \(file.path))" }
            return String(String(decoding: data, as: UTF8.self).suffix(3000))
        }
    }
}
#endif
