import Benchmark
import Foundation
import NIOCore
import Synchronization
import TetherGateway
import TetherTesting
import TetherWeb

// Micro-benchmarks of the web layer through its public API, with no server and no sockets:
// `swift package benchmark` in the Benchmarks folder.
//
// The `Web:` benchmarks drive a `WebApplication` with `ApplicationCommunicator`, one request per iteration, so
// their figures include the communicator's own work (its queues, and a timeout task group whenever it has to
// wait); `Gateway: inline hello` measures that part alone, to subtract.

let benchmarks: @Sendable () -> Void = {
    let short = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        maxDuration: .seconds(3),
        maxIterations: 20_000
    )

    // Gateway: the communicator and an application that answers at once: the floor under the `Web:` figures.

    let inline = InlineApplication { _, receive, send in
        _ = try await receive()
        try await send(.start(status: .ok, headers: [:]))
        try await send(.body(ByteBuffer(string: "Hello World!"), more: false))
    }
    Benchmark("Gateway: inline hello (communicator alone)", configuration: short) { benchmark in
        for _ in benchmark.scaledIterations {
            let response = try await exchange(inline, .http(HTTPScope(method: .get, target: "/hello/")))
            try expect(response, status: 200, bodyCount: 12)
        }
    }

    // Web: whole requests through the web layer.

    let requestBodyDirectory = TemporaryDirectory(named: "web")
    var router = Router()
    router.get("/hello/") { _ in .text("Hello World!") }
    router.post("/echo/") { request in
        Response(body: ResponseBody(try await request.body.bytes()))
    }
    router.post("/upload/") { request in
        var count = 0
        for try await chunk in request.body.chunks() {
            count += chunk.readableBytes
        }
        return .text(String(count))
    }
    var configuration = WebApplication.Configuration()
    configuration.temporaryDirectory = .init(requestBodyDirectory.path)
    let app = WebApplication(router: router, configuration: configuration)

    Benchmark("Web: hello", configuration: short) { benchmark in
        for _ in benchmark.scaledIterations {
            let response = try await exchange(app, .http(HTTPScope(method: .get, target: "/hello/")))
            try expect(response, status: 200, bodyCount: 12)
        }
    }

    let kibibyte = ByteBuffer(repeating: UInt8(ascii: "e"), count: 1024)
    Benchmark("Web: echo 1 KiB", configuration: short) { benchmark in
        for _ in benchmark.scaledIterations {
            let response = try await exchange(
                app, .http(HTTPScope(method: .post, target: "/echo/")), body: [kibibyte])
            try expect(response, status: 200, bodyCount: 1024)
        }
    }

    // 4 MiB in 64 KiB chunks: past the 2.5 MiB spool threshold, so the body goes to a temporary file.
    let uploadChunks = Array(repeating: ByteBuffer(repeating: UInt8(ascii: "u"), count: 64 * 1024), count: 64)
    let uploadSize = String(64 * 64 * 1024)
    Benchmark(
        "Web: upload 4 MiB (spooled)",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal, .throughput], maxDuration: .seconds(3), maxIterations: 2_000)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            let response = try await exchange(
                app, .http(HTTPScope(method: .post, target: "/upload/")), body: uploadChunks)
            try expect(response, status: 200, body: uploadSize)
        }
    } setup: {
        try requestBodyDirectory.create()
    } teardown: {
        // Every request removed its temporary file by the time the application returned.
        try requestBodyDirectory.removeCheckingEmpty()
    }

    // Router: a look-up among 200 routes, 1,000 per iteration (figures are per look-up).

    var routes = Router()
    for index in 0..<100 {
        routes.get("/api/v1/resource\(index)/:id") { _ in .text("resource") }
        routes.get("/static\(index)/page") { _ in .text("page") }
    }
    let lastPath = "/api/v1/resource99/12345"
    Benchmark(
        "Router: match among 200 routes",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal, .throughput], scalingFactor: .kilo,
            maxDuration: .seconds(3), maxIterations: 2_000)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(routes.match(.get, path: lastPath))
        }
    } setup: {
        guard case .found(_, let parameters) = routes.match(.get, path: lastPath), parameters["id"] == "12345" else {
            throw BenchmarkFailure("\(lastPath) does not match its route")
        }
    }

    // SpooledBody: 64 MiB read from `receive` as 1,024 chunks of 64 KiB, spooled to a temporary file.

    let spoolDirectory = TemporaryDirectory(named: "spool")
    var spoolLimits = WebApplication.Configuration()
    spoolLimits.temporaryDirectory = .init(spoolDirectory.path)
    let spoolChunk = ByteBuffer(repeating: UInt8(ascii: "s"), count: 64 * 1024)
    let spoolChunkCount = 1024
    let spoolBytes = Int64(spoolChunkCount * spoolChunk.readableBytes)
    let megabytesPerSecond = BenchmarkMetric.custom(
        "Throughput (MB/s)", polarity: .prefersLarger, useScalingFactor: false)
    Benchmark(
        "SpooledBody: 64 MiB",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal, .throughput, megabytesPerSecond],
            maxDuration: .seconds(3), maxIterations: 200)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            let feed = ChunkFeed(spoolChunk, count: spoolChunkCount)
            let start = ContinuousClock.now
            let body = try await SpooledBody.read(
                from: { feed.next() }, limits: spoolLimits, threadPool: .singleton)
            body.close()
            let elapsed = start.duration(to: .now)
            guard body.count == spoolBytes, body.temporaryFile != nil else {
                throw BenchmarkFailure("spooled \(body.count) bytes, file \(String(describing: body.temporaryFile))")
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            benchmark.measurement(megabytesPerSecond, Int(Double(spoolBytes) / 1e6 / seconds))
        }
    } setup: {
        try spoolDirectory.create()
    } teardown: {
        try spoolDirectory.removeCheckingEmpty()
    }
}

// MARK: - Support

/// What an application answered.
struct ReceivedResponse {
    var status: Int
    var body: ByteBuffer
}

/// Sends one request to `application` through `ApplicationCommunicator` and collects its response, as the tests'
/// `receiveResponse` does: `body` is sent chunk by chunk (an empty body as one empty chunk), then the output
/// events are received until the response is complete, then the application's return is awaited.
func exchange(_ application: some Application, _ scope: Scope, body: [ByteBuffer] = []) async throws
    -> ReceivedResponse
{
    let communicator = ApplicationCommunicator(application, scope: scope)
    if body.isEmpty {
        communicator.send(.body(ByteBuffer(), more: false))
    } else {
        for (index, chunk) in body.enumerated() {
            communicator.send(.body(chunk, more: index < body.count - 1))
        }
    }
    var progress = ResponseStateMachine()
    var response = ReceivedResponse(status: 0, body: ByteBuffer())
    while !progress.isComplete {
        let event = try await communicator.receiveOutput(timeout: .seconds(10))
        try progress.accept(event)
        switch event {
        case .start(let status, _, _):
            response.status = status.code
        case .body(let chunk, _):
            if response.body.readableBytes == 0 {
                response.body = chunk
            } else {
                response.body.writeImmutableBuffer(chunk)
            }
        default:
            throw BenchmarkFailure("unexpected \(event)")
        }
    }
    try await communicator.wait(timeout: .seconds(10))
    return response
}

func expect(_ response: ReceivedResponse, status: Int, bodyCount: Int) throws {
    guard response.status == status, response.body.readableBytes == bodyCount else {
        throw BenchmarkFailure("got \(response.status) with \(response.body.readableBytes) bytes")
    }
}

func expect(_ response: ReceivedResponse, status: Int, body: String) throws {
    guard response.status == status, response.body.readableBytesView.elementsEqual(body.utf8) else {
        throw BenchmarkFailure("got \(response.status): \(String(buffer: response.body))")
    }
}

/// A benchmark's check failed.
struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A request body's events: `count` times the same chunk, the last one with `more: false`.
final class ChunkFeed: Sendable {
    private let chunk: ByteBuffer
    private let remaining: Atomic<Int>

    init(_ chunk: ByteBuffer, count: Int) {
        self.chunk = chunk
        self.remaining = Atomic(count)
    }

    func next() -> InboundEvent {
        let left = self.remaining.subtract(1, ordering: .relaxed).newValue
        return .body(self.chunk, more: left > 0)
    }
}

/// A directory of its own for one benchmark's temporary files, under the web layer's default temporary
/// directory (`$TMPDIR`, else `/tmp`): created by the benchmark's setup, and checked empty and removed by its
/// teardown.
struct TemporaryDirectory: Sendable {
    let path: String

    init(named name: String) {
        let base = WebApplication.Configuration().temporaryDirectory.string
        self.path = "\(base)/tether-benchmarks-\(ProcessInfo.processInfo.processIdentifier)-\(name)"
    }

    func create() throws {
        try? FileManager.default.removeItem(atPath: self.path)
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: false)
    }

    /// Removes the directory; throws if a temporary body file was left in it.
    func removeCheckingEmpty() throws {
        let left = try FileManager.default.contentsOfDirectory(atPath: self.path)
        try FileManager.default.removeItem(atPath: self.path)
        guard left.isEmpty else {
            throw BenchmarkFailure("temporary files left in \(self.path): \(left)")
        }
    }
}
