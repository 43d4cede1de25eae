import ArgumentParser
import TetherServe

/// Serves the demo application.
@main
struct TetherDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tether-demo",
        abstract: "Serve Tether's demo application: a request's work is tethered to its client.",
        discussion: """
            Every server option is also read from the environment as TETHER_ and its name in capitals \
            (TETHER_PORT, TETHER_FORWARDED_ALLOW_IPS), then from --env-file.
            """)

    @OptionGroup(title: "Server")
    var serve: ServeOptions

    @Option(help: "Where request bodies past the spool threshold are written (default: $TMPDIR or /tmp).")
    var temporaryDirectory: String?

    func run() async throws {
        let temporaryDirectory = self.temporaryDirectory
        try await self.serve.run { DemoApp.make(temporaryDirectory: temporaryDirectory) }
    }
}
