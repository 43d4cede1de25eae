import NIOCore
import Synchronization
import TestSupport
import Testing
import TetherGateway
import TetherServer
import TetherSoak

/// Clients that are slow or greedy cost the server a bounded amount, and never its other clients.
@Suite struct SlowClientTests {
    static let hello = InlineApplication { _, receive, send in
        _ = try await receive()
        try await send(.start(status: .ok, headers: [.contentLength: "5"]))
        try await send(.body(ByteBuffer(string: "hello"), more: false))
    }

    @Test func headTricklersAreClosedByTheHeaderTimeoutWhileOthersAreServed() async throws {
        try await withServer(Self.hello, configure: { $0.headerTimeout = .milliseconds(500) }) { port, _ in
            let slow = try await withThrowingTaskGroup(of: RawClient.self) { group in
                for _ in 0..<200 { group.addTask { try await RawClient.connect(port: port) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let head = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in slow {
                    group.addTask {
                        // One byte every 100 ms: the head would take 2.7 s, past the 500 ms limit.
                        for byte in head {
                            guard (try? await client.send(String(byte))) != nil else { return }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                }
                for _ in 0..<20 {
                    let fast = try await RawClient.connect(port: port)
                    try await fast.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    try await fast.waitFor("hello")
                    try await fast.close()
                }
                for client in slow {
                    #expect(try await client.waitForClose(timeout: .seconds(20)) == "")
                }
                group.cancelAll()
            }
        }
    }

    @Test func aClientThatNeverReadsHoldsTheApplicationBack() async throws {
        let sent = Atomic(0)
        let finished = Latch()
        let ended = Latch()
        let app = InlineApplication { _, receive, send in
            defer { ended.open() }
            _ = try await receive()
            try await send(.start(status: .ok, headers: [:]))
            let chunk = ByteBuffer(repeating: 0x61, count: 64 * 1024)
            for _ in 0..<(4096) {  // 256 MiB, if nothing held it back
                try await send(.body(chunk, more: true))
                sent.add(chunk.readableBytes, ordering: .relaxed)
            }
            try await send(.body(ByteBuffer(), more: false))
            finished.open()
        }
        try await withServer(app) { port, _ in
            let client = try await RawClient.connect(port: port, reading: false)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await finished.wait(timeout: .seconds(3)) == false)
            #expect(sent.load(ordering: .relaxed) < 64 * 1024 * 1024)
            try await client.reset()
            #expect(await ended.wait())
        }
    }
}
