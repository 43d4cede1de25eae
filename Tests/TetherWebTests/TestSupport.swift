import Foundation
import HTTPTypes
import NIOCore
import SystemPackage
import TestSupport
import Testing
import TetherGateway
import TetherTesting
import TetherWeb

/// A fresh temporary directory for one test, removed when the test is done with it.
struct TemporaryDirectory: ~Copyable {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        self.path = base + "/tether-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: false)
    }

    /// The names of the files in the directory.
    var contents: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: self.path)) ?? []
    }

    func write(_ text: String, to name: String) throws -> String {
        let file = self.path + "/" + name
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        return file
    }

    deinit {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

extension WebApplication.Configuration {
    /// The defaults, spooling to `directory` past `threshold` bytes.
    static func spooling(to directory: String, threshold: Int64 = 16) -> Self {
        var configuration = Self()
        configuration.temporaryDirectory = FilePath(directory)
        configuration.spoolThreshold = threshold
        return configuration
    }
}

extension ByteBuffer {
    /// `count` bytes of `byte`.
    static func repeating(_ byte: UInt8, count: Int) -> ByteBuffer {
        ByteBuffer(repeating: byte, count: count)
    }
}

/// An HTTP scope for `target`.
func httpScope(_ method: HTTPRequest.Method = .get, _ target: String, headers: HTTPFields = [:]) -> Scope {
    .http(HTTPScope(method: method, target: target, headers: headers))
}

/// Collects the outbound events of a complete response.
func receiveResponse(from communicator: ApplicationCommunicator) async throws -> [OutboundEvent] {
    var events: [OutboundEvent] = []
    var progress = ResponseStateMachine()
    while !progress.isComplete {
        let event = try await communicator.receiveOutput(timeout: .seconds(10))
        try progress.accept(event)
        events.append(event)
    }
    return events
}
