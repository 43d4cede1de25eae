import Hummingbird
import Logging

/// Hummingbird 2 with its defaults, serving Tether's hello route: a widely used framework to measure Tether against.
///
/// Usage: `hummingbird-hello [port]` (default 8002), on 127.0.0.1. `GET /hello/?name=X` answers `Hello X!`.
@main
enum HummingbirdHello {
    static func main() async throws {
        let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 8002
        var logger = Logger(label: "hummingbird-hello")
        logger.logLevel = .warning
        let router = Router()
        router.get("hello") { request, _ -> String in
            "Hello \(request.uri.queryParameters.get("name") ?? "World")!"
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            logger: logger
        )
        try await app.runService()
    }
}
