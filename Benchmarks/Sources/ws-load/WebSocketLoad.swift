import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The WebSocket echo load generator of the load benchmarks.
///
/// Opens `--connections` WebSocket connections to `ws://HOST:PORT/PATH` (the handshake by NIOWebSocketClientUpgrader),
/// then on each one sends a text message of `--size` bytes and waits for its echo before sending the next, for
/// `--warmup` seconds (discarded) and then `--seconds` seconds (measured). It prints `measuring` as the measured run
/// starts and `done` as it ends (flushed, so that a driver can read a server's CPU time at those moments), then one
/// line of JSON: round trips, round trips/s, latency percentiles (µs), and the generator's own CPU time over the
/// measured run (getrusage, all its threads).
///
///     ws-load --port 8000 [--host 127.0.0.1] [--path /ws/echo/] [--connections 64] [--seconds 10] [--warmup 2]
///             [--size 24] [--threads 1]
///
/// Every loop is bounded in time: the run stops by itself, and a connection that makes no progress for 10 s fails it.
@main
enum WebSocketLoad {
    struct Options {
        var host = "127.0.0.1"
        var port = 8000
        var path = "/ws/echo/"
        var connections = 64
        var seconds = 10.0
        var warmup = 2.0
        var size = 24
        var threads = 1
    }

    static func parse() -> Options {
        var options = Options()
        var arguments = CommandLine.arguments.dropFirst()[...]
        func fail(_ message: String) -> Never {
            FileHandleStandardError.write("ws-load: \(message)\n")
            exit(2)
        }
        func number<T: LosslessStringConvertible>(_ name: String, _ value: String) -> T {
            guard let number = T(value) else { fail("\(name) \(value)?") }
            return number
        }
        while let name = arguments.popFirst() {
            guard let value = arguments.popFirst() else { fail("\(name) needs a value") }
            switch name {
            case "--host": options.host = value
            case "--port": options.port = number(name, value)
            case "--path": options.path = value
            case "--connections", "-c": options.connections = number(name, value)
            case "--seconds": options.seconds = number(name, value)
            case "--warmup": options.warmup = number(name, value)
            case "--size": options.size = number(name, value)
            case "--threads": options.threads = number(name, value)
            default: fail("unknown option \(name)")
            }
        }
        guard options.connections > 0, options.seconds > 0, options.warmup >= 0, options.size > 0,
            options.size < 126, options.threads > 0
        else { fail("connections, seconds, size (1...125) and threads must be positive") }
        return options
    }

    static func main() throws {
        let options = Self.parse()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
        defer { try? group.syncShutdownGracefully() }
        let payload = ByteBuffer(string: String(repeating: "x", count: options.size))

        // Connect and upgrade every connection; each starts its round trips as soon as it is upgraded.
        let connectStarted = monotonicNanoseconds()
        var channels: [any Channel] = []
        var clients: [NIOLoopBoundBox<EchoClient?>] = []
        var upgrades: [EventLoopFuture<Void>] = []
        for index in 0..<options.connections {
            let loop = group.next()
            let upgraded = loop.makePromise(of: Void.self)
            let client = NIOLoopBoundBox.makeEmptyBox(valueType: EchoClient.self, eventLoop: loop)
            clients.append(client)
            let host = options.host
            let path = options.path
            let bootstrap = ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let request = UpgradeRequestHandler(host: host, path: path, upgraded: upgraded)
                        let upgrader = NIOWebSocketClientUpgrader(
                            maxFrameSize: 1 << 20,
                            upgradePipelineHandler: { channel, _ in
                                channel.eventLoop.makeCompletedFuture {
                                    let seed = UInt64(index) &+ 0x9E37_79B9_7F4A_7C15
                                    let echo = EchoClient(payload: payload, seed: seed)
                                    client.value = echo
                                    try channel.pipeline.syncOperations.addHandler(echo)
                                    upgraded.succeed()
                                }
                            })
                        try channel.pipeline.syncOperations.addHTTPClientHandlers(
                            leftOverBytesStrategy: .forwardBytes,
                            withClientUpgrade: (
                                upgraders: [upgrader],
                                completionHandler: { context in
                                    context.pipeline.removeHandler(name: "upgrade-request", promise: nil)
                                }
                            ))
                        try channel.pipeline.syncOperations.addHandler(request, name: "upgrade-request")
                    }
                }
            let channel = try bootstrap.connect(host: options.host, port: options.port).wait()
            channels.append(channel)
            upgrades.append(upgraded.futureResult)
        }
        do {
            try EventLoopFuture.andAllSucceed(upgrades, on: group.any()).wait()
        } catch {
            FileHandleStandardError.write("ws-load: a WebSocket handshake failed: \(error)\n")
            exit(1)
        }
        let connected = monotonicNanoseconds()

        // The warm-up, then the measured run: each connection records the round trips answered within it.
        let start = connected + UInt64(options.warmup * 1e9)
        let end = start + UInt64(options.seconds * 1e9)
        Window.start.store(start, ordering: .relaxed)
        Window.end.store(end, ordering: .releasing)
        sleep(until: start)
        let cpuAtStart = cpuSeconds()
        print("measuring")
        fflush(nil)
        sleep(until: end)
        let cpuAtEnd = cpuSeconds()
        let wall = Double(monotonicNanoseconds() - start) / 1e9
        print("done")
        fflush(nil)

        // Collect each connection's figures once its last round trip is back (or 2 s have passed).
        var reports: [EchoClient.Report] = []
        let deadline = monotonicNanoseconds() + 2_000_000_000
        for client in clients {
            func collect() throws -> EchoClient.Report {
                try client.eventLoop.submit { client.value!.report() }.wait()
            }
            var report = try collect()
            while !report.stopped && report.open && monotonicNanoseconds() < deadline {
                usleep(1000)
                report = try collect()
            }
            reports.append(report)
        }
        for channel in channels { channel.close(promise: nil) }

        var latencies = reports.flatMap(\.latencies)
        latencies.sort()
        func percentile(_ q: Double) -> Double {
            latencies.isEmpty ? 0 : Double(latencies[min(latencies.count - 1, Int(q * Double(latencies.count)))]) / 1000
        }
        let roundTrips = latencies.count
        let mean = latencies.isEmpty ? 0 : Double(latencies.reduce(0) { $0 + UInt64($1) }) / Double(roundTrips) / 1000
        let user = cpuAtEnd.user - cpuAtStart.user
        let system = cpuAtEnd.system - cpuAtStart.system
        let cpu = user + system
        let fields: [(String, String)] = [
            ("connections", "\(options.connections)"),
            ("message_bytes", "\(options.size)"),
            ("threads", "\(options.threads)"),
            ("warmup_s", "\(options.warmup)"),
            ("seconds", "\(wall)"),
            ("connect_and_upgrade_s", "\(Double(connected - connectStarted) / 1e9)"),
            ("round_trips", "\(roundTrips)"),
            ("round_trips_per_s", "\(Double(roundTrips) / options.seconds)"),
            ("mean_us", "\(mean)"),
            ("p50_us", "\(percentile(0.5))"),
            ("p90_us", "\(percentile(0.9))"),
            ("p99_us", "\(percentile(0.99))"),
            ("p999_us", "\(percentile(0.999))"),
            ("max_us", "\(latencies.last.map { Double($0) / 1000 } ?? 0)"),
            ("wrong_echoes", "\(reports.reduce(0) { $0 + $1.wrongEchoes })"),
            ("closed_early", "\(reports.filter { !$0.open && !$0.stopped }.count)"),
            ("stuck", "\(reports.filter { $0.open && !$0.stopped }.count)"),
            ("load_cpu_s", "\(cpu)"),
            ("load_user_s", "\(user)"),
            ("load_system_s", "\(system)"),
            ("load_cpu_us_per_round_trip", "\(roundTrips > 0 ? cpu / Double(roundTrips) * 1e6 : 0)"),
            ("load_cores_used", "\(cpu / wall)"),
        ]
        print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
        fflush(nil)
    }
}

/// The measured window, in CLOCK_MONOTONIC nanoseconds: unset (max) until every connection is upgraded.
enum Window {
    static let start = Atomic<UInt64>(.max)
    static let end = Atomic<UInt64>(.max)
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func sleep(until deadline: UInt64) {
    while true {
        let now = monotonicNanoseconds()
        guard now < deadline else { return }
        let remaining = deadline - now
        var request = timespec(tv_sec: Int(remaining / 1_000_000_000), tv_nsec: Int(remaining % 1_000_000_000))
        nanosleep(&request, nil)
    }
}

/// User and system CPU time of this process so far, all threads.
func cpuSeconds() -> (user: Double, system: Double) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return (
        Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
        Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    )
}

private let writeBytes = write

enum FileHandleStandardError {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { _ = writeBytes(2, $0.baseAddress, $0.count) }
    }
}

/// Sends the handshake's GET as the connection becomes active (NIOHTTPClientUpgradeHandler adds the upgrade fields);
/// an answer that is not an upgrade fails the connection.
final class UpgradeRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let host: String
    private let path: String
    private let upgraded: EventLoopPromise<Void>

    init(host: String, path: String, upgraded: EventLoopPromise<Void>) {
        self.host = host
        self.path = path
        self.upgraded = upgraded
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: self.host)
        context.write(
            self.wrapOutboundOut(
                .head(HTTPRequestHead(version: .http1_1, method: .GET, uri: self.path, headers: headers))),
            promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = self.unwrapInboundIn(data) {
            self.upgraded.fail(HandshakeRefused(status: head.status.code))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.upgraded.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.upgraded.fail(HandshakeRefused(status: 0))
        context.fireChannelInactive()
    }
}

struct HandshakeRefused: Error {
    var status: UInt
}

/// One connection's round trips: a masked text message out, its echo back, the next out.
final class EchoClient: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    struct Report: Sendable {
        var latencies: [UInt32]
        var wrongEchoes: Int
        var stopped: Bool
        var open: Bool
    }

    private let payload: ByteBuffer
    private var random: UInt64
    private var sentAt: UInt64 = 0
    /// Nanoseconds of each round trip answered within the measured window.
    private var latencies: [UInt32] = []
    private var wrongEchoes = 0
    private var stopped = false
    private var open = true

    init(payload: ByteBuffer, seed: UInt64) {
        self.payload = payload
        self.random = seed | 1
        self.latencies.reserveCapacity(1 << 16)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.send(context: context)
    }

    func report() -> Report {
        Report(latencies: self.latencies, wrongEchoes: self.wrongEchoes, stopped: self.stopped, open: self.open)
    }

    /// A masking key from a xorshift generator: the system's would make a getrandom() call per message.
    private func nextMaskKey() -> WebSocketMaskingKey {
        self.random ^= self.random << 13
        self.random ^= self.random >> 7
        self.random ^= self.random << 17
        let bits = UInt32(truncatingIfNeeded: self.random)
        return WebSocketMaskingKey([
            UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8),
            UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 24),
        ])!
    }

    private func send(context: ChannelHandlerContext) {
        // A buffer of its own with room in front, so that the encoder masks it in place and prepends the header.
        var buffer = context.channel.allocator.buffer(capacity: 14 + self.payload.readableBytes)
        buffer.moveWriterIndex(forwardBy: 14)
        buffer.moveReaderIndex(forwardBy: 14)
        buffer.writeImmutableBuffer(self.payload)
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: self.nextMaskKey(), data: buffer)
        self.sentAt = monotonicNanoseconds()
        context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let now = monotonicNanoseconds()
            if frame.data != self.payload { self.wrongEchoes += 1 }
            let end = Window.end.load(ordering: .acquiring)
            if self.sentAt >= Window.start.load(ordering: .relaxed) && now <= end {
                self.latencies.append(UInt32(clamping: now - self.sentAt))
            }
            if now < end {
                self.send(context: context)
            } else {
                self.stopped = true
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: self.nextMaskKey(), data: frame.unmaskedData)
            context.writeAndFlush(self.wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            self.wrongEchoes += 1
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.open = false
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
