import FoundationEssentials
import HTTPTypes
import Logging
import NIOCore
import OTelSemanticConventions
import TetherGateway
import Tracing

extension Server {
    /// Starts a request's server span, continuing the trace its `traceparent` names, or `nil` with no tracer.
    func startSpan(_ method: String, _ fields: HTTPFields) -> (any Span)? {
        guard let tracer = self.tracer else { return nil }
        var context = ServiceContext.topLevel
        tracer.extract(fields, into: &context, using: HTTPFieldsExtractor())
        return tracer.startSpan(ServerMetrics.methodLabel(method), context: context, ofKind: .server)
    }

    /// Runs `body` with the request's observation (and span context) bound, for the application to read.
    func observing<Result>(
        _ observation: RequestObservation, _ span: (any Span)?, _ body: () async throws -> Result
    ) async rethrows -> Result {
        try await RequestObservation.$current.withValue(observation) {
            guard let span else { return try await body() }
            return try await ServiceContext.$current.withValue(span.context) { try await body() }
        }
    }

    /// What a request that just ended did, from its state machine and what the application recorded.
    static func ended(
        _ machine: RequestStateMachine, _ observation: RequestObservation, method: String,
        started: ContinuousClock.Instant, cancellation: CancellationReason?
    ) -> EndedRequest {
        let now = ContinuousClock.now
        let recorded = observation.snapshot
        let reason = cancellation ?? recorded.cancellationReason
        let departure = reason == nil ? nil : recorded.departure
        return EndedRequest(
            method: method, route: recorded.route, status: machine.status.map { $0.code } ?? recorded.serverStatus ?? 0,
            duration: started.duration(to: now), bytesIn: machine.bytesReceived, bytesOut: machine.bytesSent,
            spooledBytes: recorded.spooledBytes, cancellation: reason,
            closeToCancel: departure.map { $0.duration(to: now) },
            workSaved: reason == nil ? nil : recorded.workSaved(cancelledAt: departure ?? now),
            responseStarted: machine.response.hasStarted || recorded.serverStatus != nil)
    }

    /// Counts the request, ends its span, and writes its access-log line.
    func record(
        _ ended: EndedRequest, _ scope: HTTPScope, target: String, version: String, span: (any Span)?,
        requestID: String?, webSocket: (messagesIn: Int, messagesOut: Int, closeCode: UInt16)? = nil
    ) {
        self.metrics.requestEnded(ended)
        if let span { Self.finish(span, ended, scope, version: version, requestID: requestID) }
        // The line's metadata is built only for a logger that writes it.
        guard self.configuration.accessLog, self.logger.logLevel <= .info else { return }
        switch self.configuration.observability.accessLogFormat {
        case .text:
            let outcome = ended.cancellation.map { "cancelled: \($0)" } ?? String(ended.status)
            let method = webSocket == nil ? scope.method.rawValue : "WEBSOCKET"
            let protocolName = webSocket == nil ? " HTTP/\(version)" : ""
            var metadata: Logger.Metadata = [
                "method": "\(scope.method.rawValue)", "path": "\(scope.path)", "status": "\(ended.status)",
                "bytes": "\(ended.bytesOut)", "duration_ms": "\(ended.duration / .milliseconds(1))",
                "cancelled": "\(ended.cancellation.map { "\($0)" } ?? "-")",
            ]
            if let route = ended.route { metadata["route"] = "\(route)" }
            if let requestID { metadata["request_id"] = "\(requestID)" }
            if let webSocket {
                metadata["messages_in"] = "\(webSocket.messagesIn)"
                metadata["messages_out"] = "\(webSocket.messagesOut)"
                metadata["close_code"] = "\(webSocket.closeCode)"
            }
            self.logger.info(
                "\(scope.client.map { "\($0)" } ?? "-") \"\(method) \(target)\(protocolName)\" \(outcome)",
                metadata: metadata)
        case .json:
            let line = AccessLogLine(
                client: scope.client?.ipAddress, method: webSocket == nil ? scope.method.rawValue : "WEBSOCKET",
                target: target, route: ended.route, http_version: version, status: ended.status,
                bytes_in: ended.bytesIn, bytes_out: ended.bytesOut,
                duration_ms: Double(ended.duration / .microseconds(1)) / 1000, request_id: requestID,
                cancelled: ended.cancellation?.description,
                close_to_cancel_ms: ended.closeToCancel.map { Double($0 / .microseconds(1)) / 1000 },
                messages_in: webSocket?.messagesIn, messages_out: webSocket?.messagesOut,
                close_code: webSocket.map { Int($0.closeCode) })
            self.logger.info("\(line.encoded)")
        }
    }

    /// Names the span after its route and sets its OpenTelemetry HTTP attributes, and Tether's when the work was
    /// cancelled.
    private static func finish(
        _ span: any Span, _ ended: EndedRequest, _ scope: HTTPScope, version: String, requestID: String?
    ) {
        let method = ServerMetrics.methodLabel(ended.method)
        if let route = ended.route { span.operationName = "\(method) \(route)" }
        // A span the sampler dropped records nothing: its attributes are not worth building.
        guard span.isRecording else { return span.end() }
        // Set by name into one dictionary: the conventions library's typed setters copy it for each attribute.
        var attributes = SpanAttributes()
        attributes[OTelAttribute.http.request.method] = method
        if method != ended.method { attributes[OTelAttribute.http.request.methodOriginal] = ended.method }
        attributes[OTelAttribute.url.path] = scope.path
        if !scope.queryString.isEmpty {
            attributes[OTelAttribute.url.query] = String(decoding: scope.queryString, as: UTF8.self)
        }
        attributes[OTelAttribute.url.scheme] = scope.scheme
        attributes[OTelAttribute.network.protocol.version] = version
        if let route = ended.route { attributes[OTelAttribute.http.route] = route }
        if ended.status > 0 { attributes[OTelAttribute.http.response.statusCode] = ended.status }
        if let client = scope.client {
            if let address = client.ipAddress { attributes[OTelAttribute.client.address] = address }
            if let port = client.port { attributes[OTelAttribute.client.port] = port }
        }
        if let host = scope.headers[HTTPField.Name("Host")!] {
            let authority = Authority(host)
            attributes[OTelAttribute.server.address] = authority.host
            if let port = authority.port { attributes[OTelAttribute.server.port] = port }
        }
        if let agent = scope.headers[.userAgent] { attributes[OTelAttribute.userAgent.original] = agent }
        // As the conventions library names a header's attribute: lowercased, `-` as `_`, its values as an array.
        if let requestID { attributes["http.request.header.x_request_id"] = [requestID] }
        attributes["http.request.body.size"] = Int(ended.bytesIn)
        attributes["http.response.body.size"] = Int(ended.bytesOut)
        if let reason = ended.cancellation {
            attributes["tether.cancellation.reason"] = reason.description
            attributes["tether.response.started"] = ended.responseStarted
            if let latency = ended.closeToCancel {
                attributes["tether.close_to_cancel_ms"] = Double(latency / .nanoseconds(1)) / 1e6
            }
            if let saved = ended.workSaved {
                attributes["tether.work_saved_ms"] = Double(saved.duration / .nanoseconds(1)) / 1e6
                attributes["tether.work_saved.basis"] = saved.basis.rawValue
            }
        }
        if ended.status >= 500 { attributes[OTelAttribute.error.type] = String(ended.status) }
        span.updateAttributes { $0.merge(attributes) }
        if ended.status >= 500 { span.setStatus(SpanStatus(code: .error)) }
        span.end()
    }
}

/// Reads a trace's propagation fields (`traceparent`, `tracestate`) from a request's header fields.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from fields: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { fields[$0] }
    }
}

/// A `Host` value split into its host and port, for `server.address` and `server.port`.
private struct Authority {
    var host: String
    var port: Int?

    init(_ value: String) {
        // "[::1]:8000", "example.com:8000", "example.com"
        if value.hasPrefix("["), let close = value.firstIndex(of: "]") {
            self.host = String(value[value.index(after: value.startIndex)..<close])
            let rest = value[value.index(after: close)...]
            self.port = rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil
        } else if let colon = value.lastIndex(of: ":") {
            self.host = String(value[..<colon])
            self.port = Int(value[value.index(after: colon)...])
        } else {
            self.host = value
            self.port = nil
        }
    }
}

/// One access-log line as a JSON object; absent values are left out.
struct AccessLogLine: Encodable {
    var client: String?
    var method: String
    var target: String
    var route: String?
    var http_version: String
    var status: Int
    var bytes_in: Int64
    var bytes_out: Int64
    var duration_ms: Double
    var request_id: String?
    var cancelled: String?
    var close_to_cancel_ms: Double?
    var messages_in: Int?
    var messages_out: Int?
    var close_code: Int?

    /// Keys in one order, and paths with their slashes as they are.
    private static let encoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The line as compact JSON.
    var encoded: String {
        // Encoding a struct of strings and numbers cannot fail.
        let data = (try? Self.encoder.encode(self)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

extension Logger.MetadataProvider {
    /// Adds the current request's ID (`request_id`) to every log line written in its task: the server's, the
    /// web layer's and the application's.
    public static let tetherRequestID = Logger.MetadataProvider {
        guard let id = RequestObservation.current?.requestID else { return [:] }
        return ["request_id": "\(id)"]
    }
}
