import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TetherServer

/// Drives an in-process server with requests that end at random moments, then checks that nothing leaked.
public enum Soak {
    /// How long and how hard to soak, and what counts as a leak.
    public struct Configuration: Sendable {
        /// How long clients keep starting requests. Default 15 s.
        public var duration: Duration = .seconds(15)
        /// Requests in flight at once. Default 64.
        public var concurrency = 64
        /// The seed of the random choices, to repeat a run. Default: random.
        public var seed = UInt64.random(in: .min ... .max)
        /// Bodies past this many bytes are spooled to disk. Default 64 KiB.
        public var spoolThreshold: Int64 = 64 * 1024
        /// Resident memory the run may add. Default 128 MiB.
        public var maxResidentGrowth = 128 * 1024 * 1024
        /// The moments requests end at, chosen among at random. Default: all of them.
        public var moments = Moment.allCases
        /// Whether clients speak HTTP/2 (h2c): each opens a connection with one to four streams, which leave by
        /// RST_STREAM, or all at once by the connection's GOAWAY, FIN or RST. Default `false`: HTTP/1.1. WebSocket
        /// sessions are HTTP/1.1 only: `.webSocket` is left out of an HTTP/2 soak.
        public var http2 = false

        /// The defaults.
        public init() {}
    }

    /// Where a request ends.
    public enum Moment: String, CaseIterable, Sendable {
        case complete, head
        case smallBody = "small body"
        case largeBody = "large body"
        case handler, blocking, stream
        /// A WebSocket session (HTTP/1.1 only) that completes or leaves at a random ``WebSocketEnding``.
        case webSocket = "websocket"
    }

    /// Where a WebSocket session ends.
    public enum WebSocketEnding: String, CaseIterable, Sendable {
        /// Echoes checked, then the close handshake: a close frame, the server's close frame and its FIN.
        case complete
        /// Half a request head (or a whole one, not waiting for the 101), then FIN or RST.
        case handshake
        /// Right after the 101.
        case upgraded = "after 101"
        /// Messages sent, their echoes partly received.
        case echoing = "mid-echo"
        /// In the middle of a fragmented message.
        case fragment = "mid-fragment"
        /// While `/ws/ticker/?ms=1` ticks.
        case ticker
        /// A client that stops reading while the ticker sends, then leaves by RST.
        case stalled = "stopped reading"
    }

    /// The figures of a run and the leaks it found.
    public struct Report: Sendable, CustomStringConvertible {
        public var seed: UInt64 = 0
        public var seconds = 0.0
        public var requests = 0
        public var failedCompletions = 0
        public var byMoment: [Moment: Int] = [:]
        public var leftByFIN = 0
        public var leftByRST = 0
        public var leftByStreamReset = 0
        public var leftByGoAway = 0
        public var leftByCloseFrame = 0
        /// WebSocket sessions by how they ended.
        public var webSocketEndings: [WebSocketEnding: Int] = [:]
        /// WebSocket echoes received and found equal to what was sent.
        public var webSocketEchoes = 0
        /// WebSocket sessions whose handshake negotiated permessage-deflate.
        public var webSocketDeflated = 0
        /// Close frames the server did not answer with its own and a FIN within 30 s.
        public var webSocketClosesUnanswered = 0
        public var started = 0
        public var finished = 0
        public var inFlight = 0
        public var temporaryFilesLeft = 0
        public var descriptorsBefore = 0
        public var descriptorsAfter = 0
        public var residentGrowth = 0
        public var serverAnswers = false
        /// What went wrong; empty when the run is clean.
        public var violations: [String] = []

        public var description: String {
            let moments = self.byMoment.keys.sorted { $0.rawValue < $1.rawValue }.map {
                "\($0.rawValue) \(self.byMoment[$0, default: 0])"
            }.joined(separator: ", ")
            let endings = WebSocketEnding.allCases.map { "\($0.rawValue) \(self.webSocketEndings[$0, default: 0])" }
                .joined(separator: ", ")
            let sessions = self.webSocketEndings.values.reduce(0, +)
            return
                "soak seed \(self.seed): \(self.requests) requests in \(String(format: "%.1f", self.seconds)) s (\(moments)); "
                + "websocket sessions \(sessions) (\(endings)), echoes checked \(self.webSocketEchoes), "
                + "permessage-deflate \(self.webSocketDeflated), close frames unanswered \(self.webSocketClosesUnanswered); "
                + "left by FIN \(self.leftByFIN), by RST \(self.leftByRST), by close frame \(self.leftByCloseFrame), "
                + "by RST_STREAM \(self.leftByStreamReset), by GOAWAY \(self.leftByGoAway); "
                + "failed completions \(self.failedCompletions); "
                + "started \(self.started), finished \(self.finished), in flight \(self.inFlight); temporary files left \(self.temporaryFilesLeft); "
                + "descriptors \(self.descriptorsBefore) -> \(self.descriptorsAfter); resident +\(self.residentGrowth / 1024) KiB; "
                + "server answers: \(self.serverAnswers ? "yes" : "no"); "
                + (self.violations.isEmpty ? "OK" : "VIOLATIONS: " + self.violations.joined(separator: "; "))
        }
    }

    /// Runs a soak and returns its report; `report.violations` is empty when nothing leaked.
    public static func run(_ configuration: Configuration = Configuration()) async throws -> Report {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tether-soak-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let counters = HookCounters()
        let application = SoakApplication.make(
            temporaryDirectory: directory, spoolThreshold: configuration.spoolThreshold, counters: counters)
        var serverConfiguration = Server.Configuration(host: "127.0.0.1", port: 0)
        serverConfiguration.accessLog = false
        serverConfiguration.lifespan = .off
        serverConfiguration.backlog = 1024
        var logger = Logger(label: "tether.soak")
        logger.logLevel = .critical
        let server = Server(application: application, configuration: serverConfiguration, logger: logger)
        let clients = MultiThreadedEventLoopGroup.singleton

        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.localAddress.port!
            let driver = Driver(port: port, group: clients, seed: configuration.seed)
            // Warm up, so that every pool and thread the server keeps exists before the baseline is taken.
            for moment in Moment.allCases { await driver.request(moment, reset: false) }
            await driver.webSocketWarmUp()
            _ = await driver.settle(counters: counters, descriptors: nil)
            let descriptorsBefore = openDescriptors()
            let residentBefore = residentBytes()
            driver.tally.withLockedValue { $0 = Tally() }

            let start = ContinuousClock.now
            let deadline = start + configuration.duration
            // WebSocket over HTTP/2 (RFC 8441) is not served: an HTTP/2 soak leaves it out.
            let http2Moments = configuration.moments.filter { $0 != .webSocket }
            try await withThrowingTaskGroup(of: Void.self) { workers in
                for worker in 0..<configuration.concurrency {
                    workers.addTask {
                        var random = SplitMix64(seed: configuration.seed &+ UInt64(worker))
                        while ContinuousClock.now < deadline {
                            if configuration.http2 {
                                await driver.http2Session(moments: http2Moments, random: &random)
                                continue
                            }
                            let moment = configuration.moments.randomElement(using: &random)!
                            await driver.request(moment, reset: Bool.random(using: &random), random: &random)
                        }
                    }
                }
                try await workers.waitForAll()
            }
            let seconds = (ContinuousClock.now - start) / .seconds(1)

            var report = Report()
            report.seed = configuration.seed
            report.seconds = seconds
            let settled = await driver.settle(counters: counters, descriptors: descriptorsBefore)
            report.inFlight = counters.inFlight
            report.started = counters.started.load(ordering: .relaxed)
            report.finished = counters.finished.load(ordering: .relaxed)
            report.descriptorsBefore = descriptorsBefore
            report.descriptorsAfter = openDescriptors()
            report.residentGrowth = max(0, residentBytes() - residentBefore)
            report.temporaryFilesLeft = (try? FileManager.default.contentsOfDirectory(atPath: directory).count) ?? -1
            report.serverAnswers = await driver.answers()
            let tally = driver.tally.withLockedValue { $0 }
            report.requests = tally.requests
            report.byMoment = tally.byMoment
            report.leftByFIN = tally.leftByFIN
            report.leftByRST = tally.leftByRST
            report.leftByStreamReset = tally.leftByStreamReset
            report.leftByGoAway = tally.leftByGoAway
            report.leftByCloseFrame = tally.leftByCloseFrame
            report.webSocketEndings = tally.webSocketEndings
            report.webSocketEchoes = tally.webSocketEchoes
            report.webSocketDeflated = tally.webSocketDeflated
            report.webSocketClosesUnanswered = tally.webSocketClosesUnanswered
            report.failedCompletions = tally.failedCompletions

            if !settled { report.violations.append("requests still in flight or descriptors open after 30 s") }
            if report.inFlight != 0 { report.violations.append("\(report.inFlight) requests in flight") }
            if report.started != report.finished {
                report.violations.append("request-started \(report.started) != request-finished \(report.finished)")
            }
            if report.descriptorsAfter > report.descriptorsBefore {
                report.violations.append("\(report.descriptorsAfter - report.descriptorsBefore) descriptors leaked")
            }
            if report.temporaryFilesLeft != 0 {
                report.violations.append("\(report.temporaryFilesLeft) temporary body files left")
            }
            if report.residentGrowth > configuration.maxResidentGrowth {
                report.violations.append("resident memory grew by \(report.residentGrowth) bytes")
            }
            if report.failedCompletions > 0 {
                report.violations.append(
                    "\(report.failedCompletions) requests meant to complete did not: \(tally.failures.joined(separator: ", "))"
                )
            }
            if report.webSocketClosesUnanswered > 0 {
                report.violations.append(
                    "\(report.webSocketClosesUnanswered) WebSocket close frames unanswered: "
                        + tally.closeFailures.joined(separator: ", "))
            }
            if !report.serverAnswers { report.violations.append("the server no longer answers") }
            return report
        }
    }
}

/// The counts of what the clients did.
struct Tally: Sendable {
    var requests = 0
    var byMoment: [Soak.Moment: Int] = [:]
    var leftByFIN = 0
    var leftByRST = 0
    var leftByStreamReset = 0
    var leftByGoAway = 0
    var leftByCloseFrame = 0
    var webSocketEndings: [Soak.WebSocketEnding: Int] = [:]
    var webSocketEchoes = 0
    var webSocketDeflated = 0
    var webSocketClosesUnanswered = 0
    var failedCompletions = 0
    var failures: [String] = []
    /// The first few unanswered close frames, described.
    var closeFailures: [String] = []
}

/// Runs one request of each kind against the server.
final class Driver: Sendable {
    let port: Int
    let group: any EventLoopGroup
    let tally = NIOLockedValueBox(Tally())
    let seed: UInt64

    init(port: Int, group: any EventLoopGroup, seed: UInt64) {
        self.port = port
        self.group = group
        self.seed = seed
    }

    func request(_ moment: Soak.Moment, reset: Bool) async {
        var random = SplitMix64(seed: self.seed)
        await self.request(moment, reset: reset, random: &random)
    }

    /// One request that ends at `moment`; those that leave, leave by RST when `reset`, else by FIN.
    func request(_ moment: Soak.Moment, reset: Bool, random: inout SplitMix64) async {
        if moment == .webSocket { return await self.webSocketSession(reset: reset, random: &random) }
        guard let connection = try? await RawClient.connect(port: self.port, group: self.group) else {
            self.tally.withLockedValue { $0.failedCompletions += 1 }
            return
        }
        let pause = Duration.milliseconds(Int.random(in: 1...20, using: &random))
        var completed = true
        var kind = "\(moment)"
        switch moment {
        case .complete:
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                kind = "hello"
                try? await connection.send(.init(string: "GET /hello/ HTTP/1.1\r\nHost: soak\r\n\r\n"))
                completed = (try? await connection.waitFor("Hello", timeout: .seconds(30))) != nil
            case 1:
                let size = Bool.random(using: &random) ? 1000 : 300_000
                kind = "upload \(size)"
                try? await connection.send(
                    .init(string: "POST /upload/ HTTP/1.1\r\nHost: soak\r\nContent-Length: \(size)\r\n\r\n"))
                try? await connection.send(ByteBuffer(repeating: 0x73, count: size))
                completed = (try? await connection.waitFor("{\"bytes\": \(size)}", timeout: .seconds(30))) != nil
            default:
                kind = "stream"
                try? await connection.send(.init(string: "GET /stream/?chunks=3&ms=1 HTTP/1.1\r\nHost: soak\r\n\r\n"))
                completed = (try? await connection.waitFor("chunk 2\n", timeout: .seconds(30))) != nil
            }
        case .head:
            try? await connection.send(.init(string: "GET /hello/ HTTP/1.1\r\nHo"))
        case .smallBody:
            try? await connection.send(
                .init(string: "POST /upload/ HTTP/1.1\r\nHost: soak\r\nContent-Length: 10000\r\n\r\n"))
            try? await connection.send(ByteBuffer(repeating: 0x73, count: 5000))
        case .largeBody:
            try? await connection.send(
                .init(string: "POST /upload/ HTTP/1.1\r\nHost: soak\r\nContent-Length: 1048576\r\n\r\n"))
            try? await connection.send(ByteBuffer(repeating: 0x73, count: 300_000))
            try? await Task.sleep(for: pause)
        case .handler:
            try? await connection.send(
                .init(string: "POST /slow/?ms=5000 HTTP/1.1\r\nHost: soak\r\nContent-Length: 100\r\n\r\n"))
            try? await connection.send(ByteBuffer(repeating: 0x73, count: 100))
            try? await Task.sleep(for: pause)
        case .blocking:
            try? await connection.send(.init(string: "GET /blocking/?ms=5000 HTTP/1.1\r\nHost: soak\r\n\r\n"))
            try? await Task.sleep(for: pause)
        case .stream:
            try? await connection.send(.init(string: "GET /stream/?chunks=100000&ms=2 HTTP/1.1\r\nHost: soak\r\n\r\n"))
            _ = try? await connection.waitFor("chunk 1\n", timeout: .seconds(30))
        case .webSocket:
            break
        }
        if moment != .complete && reset {
            try? await connection.reset()
        } else {
            try? await connection.close()
        }
        self.count(moment, completed: completed, kind: kind, received: connection.text) { tally in
            if reset { tally.leftByRST += 1 } else { tally.leftByFIN += 1 }
        }
    }

    /// Counts a request that ended at `moment`; `left` counts how it left, unless it was meant to complete.
    func count(
        _ moment: Soak.Moment, completed: Bool, kind: String, received: String, left: (inout Tally) -> Void
    ) {
        self.tally.withLockedValue { tally in
            tally.requests += 1
            tally.byMoment[moment, default: 0] += 1
            guard moment == .complete else { return left(&tally) }
            guard !completed else { return }
            tally.failedCompletions += 1
            if tally.failures.count < 5 { tally.failures.append("\(kind): \(received.prefix(300).debugDescription)") }
        }
    }

    /// Waits until no request is in flight and, given a baseline, the descriptors are back to it.
    func settle(counters: HookCounters, descriptors baseline: Int?) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if counters.inFlight == 0, baseline.map({ openDescriptors() <= $0 }) ?? true { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Whether the server still answers a plain request.
    func answers() async -> Bool {
        guard let connection = try? await RawClient.connect(port: self.port, group: self.group) else { return false }
        try? await connection.send(.init(string: "GET /hello/ HTTP/1.1\r\nHost: soak\r\n\r\n"))
        let answered = (try? await connection.waitFor("Hello", timeout: .seconds(10))) != nil
        try? await connection.close()
        return answered
    }
}

/// SplitMix64: a small seeded generator, so that a run can be repeated.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        self.state = seed
    }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The number of file descriptors this process has open, pipes aside: the server opens sockets and files, and
/// a sanitizer opens pipes to its symbolizer the first time it prints a stack.
func openDescriptors() -> Int {
    guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return -1 }
    return descriptors.filter { descriptor in
        let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + descriptor)
        return !(target?.hasPrefix("pipe:") ?? false)
    }.count
}

/// This process's resident memory, in bytes.
func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = statm.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}
