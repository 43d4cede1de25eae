import Hummingbird
import HummingbirdWebSocket
import Logging

/// Hummingbird 2's WebSocket server (HummingbirdWebSocket 2.8) with its defaults, as its README sets it up: a router
/// whose `ws` route upgrades `/ws/echo/` and sends every message back with the same type; `GET /hello/` as the other
/// servers answer it.
///
/// Usage: `hummingbird-ws [port]` (default 8005), on 127.0.0.1.
@main
enum HummingbirdWebSocketEcho {
    static func main() async throws {
        let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 8005
        var logger = Logger(label: "hummingbird-ws")
        logger.logLevel = .warning
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.get("hello") { request, _ -> String in
            "Hello \(request.uri.queryParameters.get("name") ?? "World")!"
        }
        router.ws("/ws/echo") { inbound, outbound, _ in
            for try await message in inbound.messages(maxSize: 1 << 20) {
                switch message {
                case .text(let text): try await outbound.write(.text(text))
                case .binary(let bytes): try await outbound.write(.binary(bytes))
                }
            }
        }
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            logger: logger
        )
        try await app.runService()
    }
}
