import Foundation
import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherWeb

/// The application of the HTTP/2 and TLS tests, and what it saw: which handlers started, which were cancelled
/// and why (`CancellationReason.current` in the handler), and the scopes' versions and schemes.
final class H2TestApp: Sendable {
    /// A cancelled handler: its path and why it was cancelled.
    struct Cancellation: Sendable, Equatable {
        var path: String
        var reason: CancellationReason?
    }

    /// The size of /big/'s body, and of each chunk its handler writes.
    static let bigBytes = 16 * 1024 * 1024
    static let bigChunk = 16 * 1024
    /// The chunks of /stream/.
    static let streamChunks = 100

    /// Opens /gate/'s handlers: each waits for it, then answers "gate open".
    let gate = Gate()
    private let startedPaths = Box<[String: Int]>([:])
    private let cancelledHandlers = Box<[Cancellation]>([])
    private let completedPaths = Box<[String: Int]>([:])
    private let scopes = Box<[(version: HTTPVersion, scheme: String)]>([])
    /// Bytes /big/'s handler has written (each `write` that returned).
    let bigSent = Box(0)

    /// How many handlers of `path` started.
    func started(_ path: String) -> Int { self.startedPaths.value[path, default: 0] }
    /// How many handlers of `path` returned a response.
    func completed(_ path: String) -> Int { self.completedPaths.value[path, default: 0] }
    /// The reasons the handlers of `path` were cancelled for, in order.
    func cancellations(_ path: String) -> [CancellationReason?] {
        self.cancelledHandlers.value.filter { $0.path == path }.map(\.reason)
    }
    /// Every cancellation, of every path.
    var allCancellations: [Cancellation] { self.cancelledHandlers.value }
    /// The HTTP versions of the scopes served.
    var versions: [HTTPVersion] { self.scopes.value.map(\.version) }
    /// The schemes of the scopes served.
    var schemes: [String] { self.scopes.value.map(\.scheme) }

    /// Runs `work` as `path`'s handler: counts its start and its completion, and records its cancellation with
    /// `CancellationReason.current`.
    private func handle<T>(_ request: Request, _ work: () async throws -> T) async throws -> T {
        let path = request.path
        self.startedPaths.mutate { $0[path, default: 0] += 1 }
        self.scopes.mutate { $0.append((request.scope.httpVersion, request.scheme)) }
        do {
            let result = try await work()
            try Task.checkCancellation()
            self.completedPaths.mutate { $0[path, default: 0] += 1 }
            return result
        } catch {
            // Only the first failure of a handler counts: a stream's writer rethrows what cancelled it.
            self.cancelledHandlers.mutate { $0.append(Cancellation(path: path, reason: CancellationReason.current)) }
            throw error
        }
    }

    /// The application:
    /// - GET /hello/: "Hello World!";
    /// - GET /slow/: 30 s of work, unless cancelled;
    /// - GET /gate/: waits for ``gate``, then "gate open";
    /// - GET /big/: ``bigBytes`` streamed in chunks of ``bigChunk``, counting in ``bigSent``;
    /// - GET /stream/: ``streamChunks`` lines "chunk N";
    /// - POST /echo/: its body, with the request's trailers as `x-echo-trailers` trailers;
    /// - GET /trailers/: "body", then trailers `x-checksum: abc`;
    /// - GET /scheme/: the scope's scheme and HTTP version ("https 2.0").
    var application: WebApplication {
        var router = Router()
        router.get("/hello/") { request in try await self.handle(request) { .text("Hello World!") } }
        router.get("/slow/") { request in
            try await self.handle(request) {
                try await Task.sleep(for: .seconds(30))
                return .text("done")
            }
        }
        router.get("/gate/") { request in
            try await self.handle(request) {
                // A cancelled wait returns too: the check after it tells.
                await self.gate.wait()
                try Task.checkCancellation()
                return .text("gate open")
            }
        }
        router.get("/big/") { request in
            // The handler returns at once; its stream's writes are the work that can block and be cancelled.
            self.startedPaths.mutate { $0[request.path, default: 0] += 1 }
            self.scopes.mutate { $0.append((request.scope.httpVersion, request.scheme)) }
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: ResponseBody(stream: { writer in
                    do {
                        let chunk = ByteBuffer(repeating: 0x78, count: Self.bigChunk)
                        for _ in 0..<(Self.bigBytes / Self.bigChunk) {
                            try await writer.write(chunk)
                            self.bigSent.mutate { $0 += Self.bigChunk }
                        }
                        self.completedPaths.mutate { $0[request.path, default: 0] += 1 }
                    } catch {
                        self.cancelledHandlers.mutate {
                            $0.append(Cancellation(path: request.path, reason: CancellationReason.current))
                        }
                        throw error
                    }
                }))
        }
        router.get("/stream/") { request in
            try await self.handle(request) {
                Response(
                    status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: ResponseBody(stream: { writer in
                        for index in 0..<Self.streamChunks {
                            try await writer.write(ByteBuffer(string: "chunk \(index)\n"))
                        }
                    }))
            }
        }
        router.post("/echo/") { request in
            try await self.handle(request) {
                var response = Response(
                    headers: [.contentType: "application/octet-stream"],
                    body: ResponseBody(try await request.body.bytes()))
                let trailers = request.trailers.map { $0.map { "\($0.name)=\($0.value)" } } ?? []
                response.trailers = { [HTTPField.Name("x-echo-trailers")!: trailers.joined(separator: ",")] }
                return response
            }
        }
        router.get("/trailers/") { request in
            try await self.handle(request) {
                var response = Response.text("body")
                response.trailers = { [HTTPField.Name("x-checksum")!: "abc"] }
                return response
            }
        }
        router.get("/scheme/") { request in
            try await self.handle(request) { .text("\(request.scheme) \(request.scope.httpVersion)") }
        }
        return WebApplication(router: router)
    }
}

/// A gate any number of tasks wait at until it opens; a waiting task that is cancelled stops waiting.
final class Gate: Sendable {
    private let state = Box<(isOpen: Bool, waiters: [UUID: CheckedContinuation<Void, Never>])>((false, [:]))

    /// Opens the gate: every waiter goes on, and later waits return at once.
    func open() {
        var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
        self.state.mutate { state in
            state.isOpen = true
            (waiters, state.waiters) = (state.waiters, [:])
        }
        for waiter in waiters.values { waiter.resume() }
    }

    /// Waits until the gate opens or the task is cancelled.
    func wait() async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                var goesOn = true
                self.state.mutate { state in
                    guard !state.isOpen, !Task.isCancelled else { return }
                    state.waiters[id] = continuation
                    goesOn = false
                }
                if goesOn { continuation.resume() }
            }
        } onCancel: {
            var waiter: CheckedContinuation<Void, Never>?
            self.state.mutate { waiter = $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}

/// Whether `condition` holds within `timeout`, checked every 5 ms.
func eventually(timeout: Duration = .seconds(10), _ condition: @Sendable () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    return condition()
}

/// HTTP/2 error codes (RFC 9113 §7) the tests expect.
enum H2ErrorCode {
    static let noError = 0x0
    static let protocolError = 0x1
    static let refusedStream = 0x7
    static let cancel = 0x8
    static let compressionError = 0x9
    static let enhanceYourCalm = 0xB
}

/// What Tests/Scripts/h2_client.py saw, from its line of JSON.
struct H2Report: Decodable, Sendable, CustomStringConvertible {
    struct Stream: Decodable, Sendable {
        var status: Int?
        var headers: [String: String]
        var trailers: [String: String]?
        /// The body's first 4 KiB, as UTF-8.
        var body: String
        var bodyBytes: Int
        var ended: Bool
        /// The error code of the server's RST_STREAM.
        var reset: Int?
    }

    struct GoAway: Decodable, Sendable {
        var errorCode: Int
        var lastStreamId: Int
        var debug: String?
    }

    var scenario: String
    var streams: [String: Stream]
    var goaway: GoAway?
    /// Whether the connection was closed at the end: by the server, or by the client for the scenario.
    var closed: Bool
    var resetByPeer: Bool?
    /// An error of the script, or of h2 on what the server sent.
    var error: String?
    var log: [String]?
    var go: Bool?
    var secondGo: Bool?
    var closedByServer: Bool?
    var siblingDone: Bool?
    var after: Int?
    var receivedBeforeGo: Int?
    var sentPairs: Int?
    var sentContinuations: Int?
    var advertisedMaxConcurrentStreams: Int?
    var handshake: Bool?
    var refused: Bool?
    var complete: Bool?
    var closedWithinTimeout: Bool?
    /// The JSON as printed, for failure messages.
    var json: String?

    subscript(stream id: Int) -> Stream? { self.streams[String(id)] }

    var description: String { self.json ?? self.scenario }
}

/// A run of Tests/Scripts/h2_client.py against 127.0.0.1:`port`: one scenario, told "go" on its standard input
/// when the test has seen from inside the server that the moment has come, and read once it exits.
final class H2Script: @unchecked Sendable {
    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Scripts/h2_client.py").path

    private let process = Process()
    private let input = Pipe()
    private let outputFile: URL
    private let errorFile: URL
    private let exited: AsyncStream<Int32>

    /// Starts `scenario` with `arguments`; every wait of the script is bounded by `timeout` seconds.
    init(_ scenario: String, port: Int, _ arguments: [String] = [], timeout: Int = 10) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("h2-client-\(UUID().uuidString)")
        self.outputFile = base.appendingPathExtension("out")
        self.errorFile = base.appendingPathExtension("err")
        try Data().write(to: self.outputFile)
        try Data().write(to: self.errorFile)
        let (exited, continuation) = AsyncStream<Int32>.makeStream()
        self.exited = exited
        self.process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        self.process.arguments =
            ["python3", Self.path, scenario, "--port", "\(port)", "--timeout", "\(timeout)"] + arguments
        let (output, errors) = (
            try FileHandle(forWritingTo: self.outputFile), try FileHandle(forWritingTo: self.errorFile)
        )
        defer {
            try? output.close()
            try? errors.close()
        }
        self.process.standardInput = self.input
        self.process.standardOutput = output
        self.process.standardError = errors
        self.process.terminationHandler = { process in
            continuation.yield(process.terminationStatus)
            continuation.finish()
        }
        // A "go" written after the script has exited must fail, not kill the test process.
        _ = Self.ignoresSIGPIPE
        try self.process.run()
        try? self.input.fileHandleForReading.close()
    }

    private static let ignoresSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    deinit {
        if self.process.isRunning { self.process.terminate() }
        try? FileManager.default.removeItem(at: self.outputFile)
        try? FileManager.default.removeItem(at: self.errorFile)
    }

    /// Tells the script to go on.
    func go() {
        try? self.input.fileHandleForWriting.write(contentsOf: Data("go\n".utf8))
    }

    /// Waits for the script to exit (terminating it after `limit`), and decodes what it printed.
    func report(limit: Duration = .seconds(90)) async throws -> H2Report {
        try? self.input.fileHandleForWriting.close()
        let status = await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await status in self.exited { return status }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            return await group.next()!
        }
        if status == nil, self.process.isRunning {
            self.process.terminate()
            for await _ in self.exited {}
        }
        let output = String(decoding: try Data(contentsOf: self.outputFile), as: UTF8.self)
        let errors = String(decoding: try Data(contentsOf: self.errorFile), as: UTF8.self)
        let exit = status.map(String.init) ?? "none: terminated"
        let line = try #require(
            output.split(separator: "\n").last, "h2_client.py printed nothing (exit \(exit)); stderr: \(errors)")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var report = try decoder.decode(H2Report.self, from: Data(line.utf8))
        report.json = String(line)
        return report
    }

    /// Runs `scenario` to its end, with no "go".
    static func run(_ scenario: String, port: Int, _ arguments: [String] = [], timeout: Int = 10) async throws
        -> H2Report
    {
        try await H2Script(scenario, port: port, arguments, timeout: timeout).report()
    }
}

/// A self-signed certificate for localhost and 127.0.0.1, made with openssl in a temporary directory, which
/// ``remove()`` deletes. No key is committed.
struct TestCertificate: Sendable {
    let directory: URL
    var certificatePath: String { self.directory.appendingPathComponent("cert.pem").path }
    var keyPath: String { self.directory.appendingPathComponent("key.pem").path }

    static func make() async throws -> TestCertificate {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tether-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (status, _) = try await SubprocessTests.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", "key.pem", "-out", "cert.pem",
            ], in: directory)
        let certificate = TestCertificate(directory: directory)
        guard status == 0, FileManager.default.fileExists(atPath: certificate.keyPath) else {
            certificate.remove()
            throw CertificateError(description: "openssl req exited \(status)")
        }
        return certificate
    }

    func remove() {
        try? FileManager.default.removeItem(at: self.directory)
    }

    struct CertificateError: Error, CustomStringConvertible {
        var description: String
    }
}

/// The TCP sockets this process holds with `port` at either end: the server's listening socket and accepted
/// connections, and the test's own clients. Other tests running at the same time do not count.
func socketDescriptors(port: Int) -> Int {
    var inodes = Set<String>()
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in readProcFile(table).split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 9 else { continue }
            let ports = [fields[1], fields[2]].compactMap {
                $0.split(separator: ":").last.flatMap { Int($0, radix: 16) }
            }
            if ports.contains(port) { inodes.insert(String(fields[9])) }
        }
    }
    let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return descriptors.count { descriptor in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + descriptor),
            target.hasPrefix("socket:[")
        else { return false }
        return inodes.contains(String(target.dropFirst("socket:[".count).dropLast()))
    }
}

/// The whole of a file of /proc: the kernel makes it as it is read, a page at a time, so it is read to its end.
private func readProcFile(_ path: String) -> String {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return "" }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    // 64 MiB at most: thousands of sockets take a few hundred KiB.
    for _ in 0..<1024 {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}
