import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherServer
import TetherSoak
import TetherWeb

/// Server-sent events over a real socket stop when their client leaves: the producer makes nothing more.
@Suite struct EventStreamOverSocketTests {
    /// Endless ticks, one every 5 ms, counted as they are made.
    struct Ticks: AsyncSequence, Sendable {
        let produced: Box<Int>

        struct AsyncIterator: AsyncIteratorProtocol {
            let produced: Box<Int>

            mutating func next() async throws -> String? {
                try await Task.sleep(for: .milliseconds(5))
                self.produced.mutate { $0 += 1 }
                return "tick \(self.produced.value)"
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(produced: self.produced) }
    }

    /// Whether no tick is made for 100 ms, within 10 s: a cancellation can land between two ticks, where no hook
    /// of the sequence sees it, so the count is what tells.
    static func producerStops(_ produced: Box<Int>) async throws -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        var last = produced.value
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            if produced.value == last { return true }
            last = produced.value
        }
        return false
    }

    @Test(arguments: DisconnectOverSocketTests.Leaving.allCases)
    func anEventStreamStopsWhenItsClientLeaves(leaving: DisconnectOverSocketTests.Leaving) async throws {
        let produced = Box(0)
        var router = Router()
        router.get("/events/") { _ in .eventStream(Ticks(produced: produced)) }
        try await withServer(WebApplication(router: router)) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /events/ HTTP/1.1\r\nHost: x\r\n\r\n")
            let text = try await client.waitFor("data: tick 3\n\n")
            #expect(text.contains("text/event-stream"))
            try await DisconnectOverSocketTests.leave(client, by: leaving)
            #expect(try await Self.producerStops(produced))
        }
    }
}
