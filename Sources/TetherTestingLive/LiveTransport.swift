import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import TetherTesting

/// Sends each request on a connection of its own to the live server, reads the response as it comes, and closes
/// the connection when the response is complete or the client is to leave.
struct LiveTransport: TestTransport {
    let port: Int
    let outcomes: LiveOutcomes
    let timeout: Duration

    func send(_ request: TestRequest, disconnectAfter delay: Duration?) async throws -> TestResponse {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: self.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        guard let clientPort = channel.channel.localAddress?.port else { throw TestClientError.noResponse }
        let received = NIOLockedValueBox(Received())
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(Self.head(of: request)))
            if request.body.readableBytes > 0 { try await outbound.write(.body(.byteBuffer(request.body))) }
            try await outbound.write(.end(nil))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await part in inbound {
                        if received.withLockedValue({ $0.add(part) }) { return }
                    }
                }
                let timeout = self.timeout
                group.addTask {
                    // Leaving at `delay`, the client closes the connection with the response as far as it came.
                    try await Task.sleep(for: delay ?? timeout)
                    if delay == nil { throw TimedOut(timeout: timeout) }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
        var response = received.withLockedValue { $0.response }
        guard response.hasHead || delay != nil else { throw TestClientError.noResponse }
        let outcome = try await withThrowingTaskGroup(of: TestOutcome?.self) { group in
            group.addTask { await self.outcomes.outcome(forClientPort: clientPort) }
            group.addTask {
                try await Task.sleep(for: self.timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let outcome else { throw TimedOut(timeout: self.timeout) }
        response.outcome = outcome
        return response
    }

    /// The request's head, with `Host` unless given.
    private static func head(of request: TestRequest) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        if !request.headers.contains(where: { $0.name.canonicalName == "host" }) {
            headers.add(name: "Host", value: "127.0.0.1")
        }
        for field in request.sentHeaders { headers.add(name: field.name.rawName, value: field.value) }
        return HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue), uri: request.target,
            headers: headers)
    }
}

/// The response as far as it has come.
private struct Received {
    var response = TestResponse()

    /// Adds `part`; `true` once the response is complete.
    mutating func add(_ part: HTTPClientResponsePart) -> Bool {
        switch part {
        case .head(let head):
            self.response.hasHead = true
            self.response.status = HTTPResponse.Status(
                code: Int(head.status.code), reasonPhrase: head.status.reasonPhrase)
            self.response.headers = Self.fields(head.headers)
            return false
        case .body(var chunk):
            self.response.body.writeBuffer(&chunk)
            return false
        case .end(let trailers):
            self.response.trailers = trailers.map(Self.fields)
            return true
        }
    }

    private static func fields(_ headers: HTTPHeaders) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return fields
    }
}

/// The live server sent nothing, or did not finish the request, within the client's timeout.
struct TimedOut: Error, CustomStringConvertible {
    var timeout: Duration

    var description: String { "The live server did not answer within \(self.timeout)." }
}
