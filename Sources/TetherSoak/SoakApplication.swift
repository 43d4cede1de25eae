import Foundation
import Synchronization
import TetherWeb

/// How many requests started and finished, counted by the web layer's hooks.
final class HookCounters: Sendable {
    let started = Atomic(0)
    let finished = Atomic(0)

    /// Requests whose hooks have started but not finished.
    var inFlight: Int {
        self.started.load(ordering: .relaxed) - self.finished.load(ordering: .relaxed)
    }
}

/// The application the soak drives: uploads, slow, blocking and streamed handlers, a WebSocket echo and ticker, with
/// counted hooks.
enum SoakApplication {
    /// Bytes that do not compress, for the ticker's binary ticks.
    static let noise: ByteBuffer = {
        var random = SplitMix64(seed: 0x5EED)
        var buffer = ByteBuffer()
        for _ in 0..<(64 * 1024 / 8) { buffer.writeInteger(random.next()) }
        return buffer
    }()

    static func make(temporaryDirectory: String, spoolThreshold: Int64, counters: HookCounters) -> WebApplication {
        var router = Router()
        router.get("/hello/") { _ in .text("Hello") }
        router.post("/upload/") { request in
            var bytes = 0
            for try await chunk in request.body.chunks() { bytes += chunk.readableBytes }
            return .text("{\"bytes\": \(bytes)}")
        }
        router.post("/slow/") { request in
            _ = try await request.body.bytes()
            try await Task.sleep(for: .milliseconds(request.query.get("ms", as: Int.self) ?? 1000))
            return .text("done")
        }
        router.get(
            "/blocking/",
            blocking: { request in
                var remaining = request.query.get("ms", as: Int.self) ?? 1000
                while remaining > 0, !request.isCancelled {
                    usleep(2_000)
                    remaining -= 2
                }
                return .text("done")
            })
        router.get("/stream/") { request in
            let chunks = request.query.get("chunks", as: Int.self) ?? 10
            let milliseconds = request.query.get("ms", as: Int.self) ?? 1
            return Response(
                body: ResponseBody { writer in
                    for index in 0..<chunks {
                        try await writer.write(.init(string: "chunk \(index)\n"))
                        try await Task.sleep(for: .milliseconds(milliseconds))
                    }
                })
        }
        router.webSocket("/ws/echo/") { _, socket in
            for try await message in socket.messages { try await socket.send(message) }
        }
        // `tick N` every `ms` until the peer leaves; with `bytes`, binary ticks of that many incompressible bytes.
        router.webSocket("/ws/ticker/") { request, socket in
            let milliseconds = request.query.get("ms", as: Int.self) ?? 1000
            let bytes = min(request.query.get("bytes", as: Int.self) ?? 0, Self.noise.readableBytes)
            var index = 0
            while true {
                if bytes > 0 {
                    try await socket.send(binary: Self.noise.getSlice(at: Self.noise.readerIndex, length: bytes)!)
                } else {
                    try await socket.send(text: "tick \(index)")
                }
                index += 1
                try await Task.sleep(for: .milliseconds(milliseconds))
            }
        }
        var configuration = WebApplication.Configuration()
        configuration.temporaryDirectory = .init(temporaryDirectory)
        configuration.spoolThreshold = spoolThreshold
        configuration.logger.logLevel = .critical
        var application = WebApplication(router: router, configuration: configuration)
        application.onRequestStarted { _ in counters.started.add(1, ordering: .relaxed) }
        application.onRequestFinished { _ in counters.finished.add(1, ordering: .relaxed) }
        return application
    }
}
