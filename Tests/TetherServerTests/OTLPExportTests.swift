import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing
import TetherServer
import TetherWeb

extension SubprocessTests {
    /// tether-demo exporting its spans with swift-otel over OTLP/HTTP to a receiver on loopback: a Tether
    /// application that keeps what it is sent.
    @Suite struct OTLPExportTests {
        /// What the receiver was sent: each export's content type and body.
        final class Exports: Sendable {
            let received = NIOLockedValueBox([(contentType: String, body: [UInt8])]())

            /// The receiver: `POST /v1/traces` kept, answered with an empty export response in the same encoding.
            var application: WebApplication {
                var router = Router()
                router.post("/v1/traces") { request in
                    let contentType = request.headers[.contentType] ?? ""
                    var body = try await request.body.bytes()
                    let bytes = body.readBytes(length: body.readableBytes) ?? []
                    self.received.withLockedValue { $0.append((contentType, bytes)) }
                    let json = contentType.hasPrefix("application/json")
                    return Response(
                        headers: [.contentType: json ? "application/json" : "application/x-protobuf"],
                        body: ResponseBody(ByteBuffer(string: json ? "{}" : "")))
                }
                return WebApplication(router: router)
            }

            /// Every span of every JSON export, with its attributes as plain values.
            var spans: [Span] {
                self.received.withLockedValue { $0 }.flatMap { export -> [Span] in
                    guard export.contentType.hasPrefix("application/json"),
                        let object = try? JSONSerialization.jsonObject(with: Data(export.body)) as? [String: Any],
                        let resources = object["resourceSpans"] as? [[String: Any]]
                    else { return [] }
                    return resources.flatMap { resource in
                        (resource["scopeSpans"] as? [[String: Any]] ?? []).flatMap { scope in
                            (scope["spans"] as? [[String: Any]] ?? []).map(Span.init)
                        }
                    }
                }
            }
        }

        /// A span as OTLP's JSON encoding has it.
        struct Span {
            var name: String
            var traceID: String
            var kind: String
            var attributes: [String: String]

            init(_ json: [String: Any]) {
                self.name = json["name"] as? String ?? ""
                // swift-otel encodes IDs as protobuf's JSON mapping has bytes, in base64 (OTLP/JSON says hex).
                let encoded = json["traceId"] as? String ?? ""
                self.traceID =
                    Data(base64Encoded: encoded).map { $0.map { String(format: "%02x", $0) }.joined() } ?? encoded
                self.kind = "\(json["kind"] ?? "")"
                var attributes: [String: String] = [:]
                for attribute in json["attributes"] as? [[String: Any]] ?? [] {
                    guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any]
                    else { continue }
                    // An array (a header's values) as its values joined with commas.
                    let values =
                        (value["arrayValue"] as? [String: Any])?["values"] as? [[String: Any]] ?? [value]
                    attributes[key] = values.compactMap { $0.values.first.map { "\($0)" } }.joined(separator: ",")
                }
                self.attributes = attributes
            }
        }

        /// Runs tether-demo exporting to the receiver with `environment`, and `body` against its port.
        static func withDemo(
            exporting environment: [String: String],
            _ body: @Sendable (_ port: Int, _ exports: Exports) async throws -> Void
        ) async throws {
            let exports = Exports()
            try await withServer(exports.application) { receiverPort, _ in
                let port = try HTTP2ChurnTests.freePort()
                let log = FileManager.default.temporaryDirectory.appendingPathComponent("tether-otlp-\(UUID()).log")
                defer { try? FileManager.default.removeItem(at: log) }
                var variables = environment
                variables["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:\(receiverPort)"
                // Spans leave in batches; a short delay keeps the test short.
                variables["OTEL_BSP_SCHEDULE_DELAY"] = "100"
                let demo = try ProxyDeploymentTests.launch(
                    try SilentClientTests.demo(), ["--host", "127.0.0.1", "--port", "\(port)", "--no-access-log"],
                    log: log, environment: variables)
                defer { ProxyDeploymentTests.stop(demo) }
                try await ProxyDeploymentTests.waitUntil("tether-demo listens", demo, log: log) {
                    HTTP2ChurnTests.accepts(port)
                }
                try await body(port, exports)
            }
        }

        /// Waits up to 10 s for `condition` to hold of what the receiver has.
        static func eventually(_ exports: Exports, _ condition: (Exports) -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if condition(exports) { return true }
                try await Task.sleep(for: .milliseconds(50))
            }
            return condition(exports)
        }

        @Test func aCancelledRequestsSpanReachesTheCollectorWithItsReasonAndTrace() async throws {
            try await Self.withDemo(exporting: ["OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"]) { port, exports in
                let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
                let (status, text) = try await DeploymentTests.get(
                    "http://127.0.0.1:\(port)/hello/?name=otel",
                    headers: [("traceparent", "00-\(trace)-00f067aa0ba902b7-01"), ("X-Request-Id", "otlp-1")])
                #expect(status == .ok && text == "Hello otel!")
                // curl gives up after 300 ms on a handler that would take 5 s: the handler is cancelled.
                let (curlStatus, _) = try await SubprocessTests.run(
                    ["curl", "-s", "--max-time", "0.3", "http://127.0.0.1:\(port)/slow/?ms=5000"])
                #expect(curlStatus == 28, "curl should time out, not answer")

                let arrived = try await Self.eventually(exports) { exports in
                    exports.spans.contains { $0.attributes["tether.cancellation.reason"] != nil }
                        && exports.spans.contains { $0.name == "GET /hello/" }
                }
                let spans = exports.spans
                try #require(arrived, "spans received: \(spans.map(\.name))")

                let hello = try #require(spans.first { $0.name == "GET /hello/" })
                #expect(hello.traceID == trace)
                #expect(hello.attributes["http.route"] == "/hello/")
                #expect(hello.attributes["http.response.status_code"] == "200")
                #expect(hello.attributes["http.request.header.x_request_id"] == "otlp-1")
                #expect(hello.kind == "2" || hello.kind == "SPAN_KIND_SERVER", "kind \(hello.kind)")

                let slow = try #require(spans.first { $0.name == "GET /slow/" })
                #expect(slow.attributes["tether.cancellation.reason"] == "client_closed")
                #expect(
                    slow.attributes["tether.response.started"] == "0"
                        || slow.attributes["tether.response.started"] == "false")
                #expect(slow.attributes["tether.work_saved.basis"] == "expected")
                let latency = try #require(slow.attributes["tether.close_to_cancel_ms"].flatMap(Double.init))
                #expect(latency >= 0)
            }
        }

        @Test func theDefaultExportIsProtobufOverHTTP() async throws {
            try await Self.withDemo(exporting: [:]) { port, exports in
                let (status, _) = try await DeploymentTests.get("http://127.0.0.1:\(port)/hello/")
                #expect(status == .ok)
                let arrived = try await Self.eventually(exports) { !$0.received.withLockedValue { $0 }.isEmpty }
                let received = exports.received.withLockedValue { $0 }
                try #require(arrived, "no export arrived")
                #expect(received.allSatisfy { $0.contentType == "application/x-protobuf" && !$0.body.isEmpty })
                // The span's route is in the encoded message, as a length-prefixed string.
                #expect(received.contains { Array("/hello/".utf8).isContained(in: $0.body) })
            }
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether these bytes occur, in order and together, in `bytes`.
    fileprivate func isContained(in bytes: [UInt8]) -> Bool {
        guard !self.isEmpty, bytes.count >= self.count else { return self.isEmpty }
        return (0...(bytes.count - self.count)).contains { Array(bytes[$0..<($0 + self.count)]) == self }
    }
}
