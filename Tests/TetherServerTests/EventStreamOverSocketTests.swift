import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherServer
import TetherSoak
import TetherWeb

/// Server-sent events over a real socket stop the moment their client leaves: the producer is cancelled and
/// produces nothing more.
@Suite struct EventStreamOverSocketTests {
    /// Endless ticks, one every 5 ms; `stopped` opens when a cancellation ends them.
    struct Ticks: AsyncSequence, Sendable {
        let produced: Box<Int>
        let stopped: Latch

        struct AsyncIterator: AsyncIteratorProtocol {
            let produced: Box<Int>
            let stopped: Latch

            mutating func next() async throws -> String? {
                do {
                    try await Task.sleep(for: .milliseconds(5))
                } catch {
                    self.stopped.open()
                    throw error
                }
                self.produced.mutate { $0 += 1 }
                return "tick \(self.produced.value)"
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(produced: self.produced, stopped: self.stopped) }
    }

    @Test(arguments: DisconnectOverSocketTests.Leaving.allCases)
    func anEventStreamStopsWhenItsClientLeaves(leaving: DisconnectOverSocketTests.Leaving) async throws {
        let (produced, stopped) = (Box(0), Latch())
        var router = Router()
        router.get("/events/") { _ in .eventStream(Ticks(produced: produced, stopped: stopped)) }
        try await withServer(WebApplication(router: router)) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /events/ HTTP/1.1\r\nHost: x\r\n\r\n")
            let text = try await client.waitFor("data: tick 3\n\n")
            #expect(text.contains("text/event-stream"))
            try await DisconnectOverSocketTests.leave(client, by: leaving)
            #expect(await stopped.wait())
            let producedAtEnd = produced.value
            try await Task.sleep(for: .milliseconds(100))
            #expect(produced.value == producedAtEnd)
        }
    }
}
