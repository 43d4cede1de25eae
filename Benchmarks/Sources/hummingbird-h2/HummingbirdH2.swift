import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOConcurrencyHelpers
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hummingbird 2's HTTP/2 server (HummingbirdHTTP2) with its defaults, serving Tether's hello route, and a /slow/ and
/// /stats/ like tether-demo's, so that the HTTP/2 load benchmarks can run the same requests against both.
///
/// Usage: `hummingbird-h2 [port] [--tls-cert PATH --tls-key PATH]` (default port 8003), on 127.0.0.1.
///   - without a certificate: `.plaintextHTTP2()`, HTTP/2 by prior knowledge only (h2c). HummingbirdHTTP2 has no
///     cleartext server that also speaks HTTP/1.1 on the same port, nor the `Upgrade: h2c` dance.
///   - with one: `.http2Upgrade(tlsConfiguration:)`, TLS with ALPN offering h2 and http/1.1.
/// Routes: `GET /hello/?name=X` answers `Hello X!`; `GET /slow/?ms=N` sleeps N ms (cancellably) and answers "done";
/// `GET /stats/` answers the /slow/ counters as JSON, with the names tether-demo uses (last_cancel_ns is
/// CLOCK_MONOTONIC nanoseconds of the last cancelled sleep).
@main
enum HummingbirdH2 {
    struct Stats {
        var started = 0
        var completed = 0
        var cancelled = 0
        var last_cancel_ns: UInt64 = 0
    }

    static let stats = NIOLockedValueBox(Stats())

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String) -> String? {
            guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
            defer { arguments.removeSubrange(index...(index + 1)) }
            return arguments[index + 1]
        }
        let certificatePath = option("--tls-cert")
        let keyPath = option("--tls-key")
        let port = arguments.first.flatMap(Int.init) ?? 8003

        var logger = Logger(label: "hummingbird-h2")
        logger.logLevel = .warning
        let router = Router()
        router.get("hello") { request, _ -> String in
            "Hello \(request.uri.queryParameters.get("name") ?? "World")!"
        }
        router.get("slow") { request, _ -> String in
            let milliseconds = request.uri.queryParameters.get("ms").flatMap(Int.init) ?? 1000
            stats.withLockedValue { $0.started += 1 }
            do {
                try await Task.sleep(for: .milliseconds(milliseconds))
            } catch {
                let now = monotonicNanoseconds()
                stats.withLockedValue {
                    $0.cancelled += 1
                    $0.last_cancel_ns = now
                }
                throw error
            }
            stats.withLockedValue { $0.completed += 1 }
            return "done"
        }
        router.get("stats") { _, _ -> Response in
            let s = stats.withLockedValue { $0 }
            let json =
                #"{"started":\#(s.started),"completed":\#(s.completed),"cancelled":\#(s.cancelled),"last_cancel_ns":\#(s.last_cancel_ns)}"#
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: json)))
        }

        let server: HTTPServerBuilder
        switch (certificatePath, keyPath) {
        case (nil, nil):
            server = .plaintextHTTP2()
        case (let certificatePath?, let keyPath?):
            let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map {
                NIOSSLCertificateSource.certificate($0)
            }
            let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            server = try .http2Upgrade(tlsConfiguration: tls)
        default:
            print("hummingbird-h2: --tls-cert and --tls-key go together")
            exit(2)
        }
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            logger: logger
        )
        try await app.runService()
    }
}
