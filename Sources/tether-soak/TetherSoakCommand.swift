import ArgumentParser
import TetherSoak

/// Soaks an in-process server with requests that end at random moments, and checks that nothing leaked.
@main
struct TetherSoakCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tether-soak",
        abstract: "Soak an in-process Tether server with clients that leave at random moments; exit 1 on any leak.")

    @Option(help: "How long clients keep starting requests, in seconds.")
    var seconds = 15

    @Option(help: "Requests in flight at once.")
    var concurrency = 64

    @Option(help: "The seed of the random choices, to repeat a run.")
    var seed: UInt64?

    @Option(help: "Resident memory the run may add, in MiB (a sanitizer's shadow memory needs more).")
    var maxResidentGrowthMib = 128

    @Option(
        help:
            "Comma-separated moments to end requests at (complete, head, small body, large body, handler, blocking, stream, websocket); default all."
    )
    var only: String?

    @Flag(help: "Speak HTTP/2 (h2c): streams leave by RST_STREAM, connections by GOAWAY, FIN or RST.")
    var http2 = false

    func run() async throws {
        var configuration = Soak.Configuration()
        configuration.duration = .seconds(self.seconds)
        configuration.concurrency = self.concurrency
        configuration.maxResidentGrowth = self.maxResidentGrowthMib * 1024 * 1024
        configuration.http2 = self.http2
        if let seed = self.seed { configuration.seed = seed }
        if let only = self.only {
            configuration.moments = try only.split(separator: ",").map { name in
                guard let moment = Soak.Moment(rawValue: String(name)) else {
                    throw ValidationError("Unknown moment '\(name)'.")
                }
                return moment
            }
        }
        let report = try await Soak.run(configuration)
        print(report)
        if !report.violations.isEmpty { throw ExitCode.failure }
    }
}
