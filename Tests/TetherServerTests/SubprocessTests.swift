import Foundation
import Testing

/// The suites that drive other processes flat out (soaks, Python clients, tether-demo, network namespaces), nested
/// here to run one test at a time: on two cores, two of them at once starve the in-process tests that run beside
/// them of the CPU their deadlines assume.
@Suite(.serialized) enum SubprocessTests {}

extension SubprocessTests {
    /// Runs `arguments` (a command and its arguments, found on the PATH unless `executable` is given) to its end,
    /// in `directory` if given; its standard output goes through a temporary file, which no output can fill, its
    /// standard error nowhere unless `showingErrors`, and it is terminated (SIGTERM) if the test is cancelled.
    /// Returns its exit status and its standard output.
    static func run(
        _ arguments: [String], executable: URL = URL(fileURLWithPath: "/usr/bin/env"), in directory: URL? = nil,
        showingErrors: Bool = false
    ) async throws -> (status: Int32, output: String) {
        let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("tether-\(UUID().uuidString)")
        try Data().write(to: outputFile)
        defer { try? FileManager.default.removeItem(at: outputFile) }
        let output = try FileHandle(forWritingTo: outputFile)
        defer { try? output.close() }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = output
        if !showingErrors { process.standardError = FileHandle.nullDevice }
        let status: Int32 = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                do { try process.run() } catch { continuation.resume(throwing: error) }
            }
        } onCancel: {
            if process.isRunning { process.terminate() }
        }
        return (status, String(decoding: try Data(contentsOf: outputFile), as: UTF8.self))
    }
}
