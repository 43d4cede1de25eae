import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// WebSocket routes in the web layer, through TestClient: parameters and group middleware before the handshake,
/// the subprotocol a route speaks, a path with no WebSocket route, and hooks that run once however it ends.
@Suite struct WebSocketRouteTests {
    struct RoomKey: RequestStorageKey {
        typealias Value = String
    }

    /// Counts hook runs and records the summaries.
    final class Hooks: Sendable {
        let closed = Box(0)
        let summaries = Box<[RequestSummary]>([])
    }

    static func app(hooks: Hooks) -> WebApplication {
        var router = Router()
        let tagRoom = InlineMiddleware { request, next in
            var request = request
            request.storage[RoomKey.self] = "room \(try request.parameters.require("id", as: Int.self))"
            var response = try await next(request)
            response.headers[HTTPField.Name("X-Room")!] = "tagged"
            response.onClose { hooks.closed.mutate { $0 += 1 } }
            return response
        }
        router.group("/rooms/<int:id>", middleware: [tagRoom]) { rooms in
            rooms.webSocket("/live/", subprotocols: ["chat.v2", "chat.v1"]) { request, socket in
                try await socket.send(text: request.storage[RoomKey.self] ?? "none")
                for try await message in socket.messages { try await socket.send(message) }
            }
        }
        var application = WebApplication(router: router)
        application.onRequestFinished { summary in hooks.summaries.mutate { $0.append(summary) } }
        return application
    }

    @Test func middlewareAndParametersReachTheHandlerAndTheHooksRunOnce() async throws {
        let hooks = Hooks()
        let client = TestClient(Self.app(hooks: hooks))
        try await client.webSocket("/rooms/7/live/", subprotocols: ["chat.v1", "chat.v2"]) { socket in
            // The client's first offer that the route speaks.
            #expect(socket.subprotocol == "chat.v1")
            #expect(socket.headers[HTTPField.Name("X-Room")!] == "tagged")
            let greeting = try await socket.receive()
            #expect(greeting == .text("room 7"))
            try await socket.send(.binary(ByteBuffer(bytes: [1, 2, 3])))
            let echo = try await socket.receive()
            #expect(echo == .binary(ByteBuffer(bytes: [1, 2, 3])))
        }
        #expect(hooks.closed.value == 1)
        let summaries = hooks.summaries.value
        #expect(summaries.count == 1)
        #expect(summaries.first?.status == .switchingProtocols)
        guard case .cancelled(.closeFrame)? = summaries.first?.outcome else {
            Issue.record("outcome \(String(describing: summaries.first?.outcome))")
            return
        }
    }

    @Test func aPathWithoutAWebSocketRouteIsDeniedWith404() async throws {
        let hooks = Hooks()
        let client = TestClient(Self.app(hooks: hooks))
        await #expect {
            try await client.webSocket("/rooms/7/elsewhere/") { _ in }
        } throws: { error in
            guard case TestClientError.webSocketDenied(let status, _, _) = error else { return false }
            return status == .notFound
        }
        // A parameter that does not convert matches no route either.
        await #expect(throws: TestClientError.self) { try await client.webSocket("/rooms/seven/live/") { _ in } }
        #expect(hooks.closed.value == 0)
        #expect(hooks.summaries.value.map(\.status) == [.notFound, .notFound])
    }
}
