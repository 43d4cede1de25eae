import Foundation
import Testing
import TetherSoak

#if canImport(Glibc)
import Glibc
#endif

extension SubprocessTests {
    /// `tether-demo --workers 2`: its supervisor replaces a worker that dies, reloads on SIGHUP without failing a
    /// request, and drains on SIGTERM.
    @Suite struct SupervisorTests {
        /// The demo with `arguments` under a supervisor on a free port, while `body` runs; stopped (SIGKILL to the
        /// supervisor and its workers) if `body` did not stop it.
        static func withSupervisor<T>(
            _ arguments: [String], _ body: (_ supervisor: Process, _ port: Int) async throws -> T
        ) async throws -> T {
            let port = try HTTP2ChurnTests.freePort()
            let process = Process()
            process.executableURL = try SilentClientTests.demo()
            process.arguments = ["--port", "\(port)", "--no-access-log", "--log-level", "warning"] + arguments
            process.standardError = FileHandle.nullDevice
            try process.run()
            defer {
                if process.isRunning {
                    for worker in Self.workers(of: process.processIdentifier) { kill(worker, SIGKILL) }
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                }
            }
            try await Self.waitUntil("both workers serve") { Self.workers(of: process.processIdentifier).count == 2 }
            try await Self.waitUntil("the port answers") { (try? await Self.worker(port: port)) != nil }
            return try await body(process, port)
        }

        /// The worker processes of `supervisor`, zombies not counted.
        static func workers(of supervisor: Int32) -> Set<Int32> {
            Set(ProxyDeploymentTests.children(of: supervisor))
        }

        /// The worker that answers `/scope/` on a new connection.
        static func worker(port: Int) async throws -> Int32 {
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /scope/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let text = try await client.waitForClose()
            let match = try #require(text.firstRange(of: /"worker":(\d+)/))
            return try #require(Int32(text[match].dropFirst(9)))
        }

        static func waitUntil(
            _ what: String, within seconds: Double = 20, _ condition: () async throws -> Bool
        ) async throws {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline {
                if try await condition() { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            Issue.record("timed out waiting until \(what)")
            throw CancellationError()
        }

        @Test func aWorkerThatDiesIsReplacedAndOnlyItsOwnRequestsAreLost() async throws {
            try await Self.withSupervisor(["--workers", "2"]) { supervisor, port in
                // One connection to each worker: the kernel picks, so new ones are opened until both are covered.
                var byWorker: [Int32: RawClient] = [:]
                for _ in 0..<200 where byWorker.count < 2 {
                    let client = try await RawClient.connect(port: port)
                    try await client.send("GET /scope/ HTTP/1.1\r\nHost: x\r\n\r\n")
                    let text = try await client.waitFor("}")
                    let match = try #require(text.firstRange(of: /"worker":(\d+)/))
                    let pid = try #require(Int32(text[match].dropFirst(9)))
                    if byWorker[pid] == nil { byWorker[pid] = client } else { try await client.close() }
                }
                try #require(byWorker.count == 2, "both workers answered")
                let (doomed, survivor) = (byWorker.keys.min()!, byWorker.keys.max()!)
                for client in byWorker.values {
                    try await client.send("GET /slow/?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
                }
                try await Task.sleep(for: .milliseconds(300))
                kill(doomed, SIGKILL)

                // The other worker's request finishes; the dead one's connection ends without an answer.
                let survived = try await byWorker[survivor]!.waitFor("done")
                #expect(survived.contains("200 OK"))
                let lost = try await byWorker[doomed]!.waitForClose()
                #expect(!lost.contains("done"))
                for client in byWorker.values { try? await client.close() }

                try await Self.waitUntil("a new worker takes the dead one's place") {
                    let workers = Self.workers(of: supervisor.processIdentifier)
                    return workers.count == 2 && !workers.contains(doomed) && workers.contains(survivor)
                }
                var answered: Set<Int32> = []
                try await Self.waitUntil("both workers answer again") {
                    answered.insert(try await Self.worker(port: port))
                    return answered.count == 2
                }
                #expect(!answered.contains(doomed))
            }
        }

        @Test func aReloadUnderLoadFailsNoRequestAndReplacesEveryWorker() async throws {
            try await Self.withSupervisor(["--workers", "2"]) { supervisor, port in
                let script = SilentClientTests.packageRoot.appendingPathComponent("Tests/Scripts/reload_load.py").path
                let stop = FileManager.default.temporaryDirectory.appendingPathComponent("tether-stop-\(UUID())")
                defer { try? FileManager.default.removeItem(at: stop) }
                async let load = SubprocessTests.run(["python3", script, "\(port)", stop.path, "8"])
                var generations = [Self.workers(of: supervisor.processIdentifier)]
                for _ in 0..<2 {
                    try await Task.sleep(for: .seconds(1))
                    kill(supervisor.processIdentifier, SIGHUP)
                    try await Self.waitUntil("every worker is replaced", within: 60) {
                        let workers = Self.workers(of: supervisor.processIdentifier)
                        return workers.count == 2 && workers.isDisjoint(with: generations.last!)
                    }
                    generations.append(Self.workers(of: supervisor.processIdentifier))
                }
                try await Task.sleep(for: .seconds(1))
                _ = FileManager.default.createFile(atPath: stop.path, contents: nil)
                let (status, output) = try await load
                #expect(status == 0)
                struct Totals: Decodable {
                    var requests: Int
                    var failures: Int
                    var errors: [String]
                    var workers: [Int32]
                }
                let totals = try JSONDecoder().decode(Totals.self, from: Data(output.utf8))
                // Requests went on through both reloads, answered by workers of more than one generation.
                #expect(totals.failures == 0, "\(totals.errors)")
                #expect(totals.requests > 100)
                #expect(Set(totals.workers).isSubset(of: generations.reduce([], { $0.union($1) })))
                #expect(!Set(totals.workers).isDisjoint(with: generations[0]))
                #expect(!Set(totals.workers).isDisjoint(with: generations[2]))
            }
        }

        @Test func sigtermLetsRequestsInFlightFinishThenEveryProcessExits() async throws {
            try await Self.withSupervisor(["--workers", "2"]) { supervisor, port in
                let workers = Self.workers(of: supervisor.processIdentifier)
                let client = try await RawClient.connect(port: port)
                try await client.send("GET /slow/?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
                try await Task.sleep(for: .milliseconds(300))
                kill(supervisor.processIdentifier, SIGTERM)
                let answer = try await client.waitFor("done")
                #expect(answer.contains("200 OK"))
                #expect(answer.lowercased().contains("connection: close"))
                try? await client.close()
                try await Self.waitUntil("the supervisor exits") { !supervisor.isRunning }
                #expect(supervisor.terminationStatus == 0)
                for worker in workers { #expect(kill(worker, 0) != 0, "worker \(worker) exited") }
                await #expect(throws: (any Error).self) { _ = try await RawClient.connect(port: port) }
            }
        }
    }
}
