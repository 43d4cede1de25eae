import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import TetherGateway

extension Exchange {
    /// The application's `send`: checks the order rules, then writes to the connection.
    ///
    /// Writes after the client left throw ``ClientDisconnected`` and reach no socket.
    @Sendable func send(_ event: OutboundEvent) async throws {
        let (action, waiter) = try self.state.withLockedValue { state in
            let action = try state.machine.send(event)
            return (action, action.resumeWaiter ? state.resuming(with: .disconnect) : nil)
        }
        waiter?.resume(returning: .disconnect)
        let bodyAllowed = action.bodyAllowed
        do {
            switch event {
            case .start(let status, let headers, _):
                self.channel.write(HTTPServerResponsePart.head(self.responseHead(status, headers)), promise: nil)
            case .body(let chunk, let more):
                if more {
                    if bodyAllowed, chunk.readableBytes > 0 {
                        try await self.channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(chunk))).get()
                    }
                } else {
                    if bodyAllowed, chunk.readableBytes > 0 {
                        self.channel.write(HTTPServerResponsePart.body(.byteBuffer(chunk)), promise: nil)
                    }
                    // The last write is not awaited, as a transport's write is not: nothing follows it, and a
                    // failure is the connection's to notice. Promised trailers end the message instead.
                    if action.awaitsTrailers {
                        self.channel.flush()
                    } else {
                        self.channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
                    }
                }
            case .file(let range):
                try await self.sendFile(range, bodyAllowed: bodyAllowed, endsMessage: !action.awaitsTrailers)
            case .trailers(let fields):
                try await self.channel.writeAndFlush(HTTPServerResponsePart.end(HTTPHeaders(fields))).get()
            case .startupComplete, .startupFailed, .shutdownComplete, .shutdownFailed, .websocketAccept, .websocketSend,
                .websocketClose:
                preconditionFailure("ResponseStateMachine refuses lifespan and WebSocket events")
            }
        } catch let error as ChannelError where error == .ioOnClosedChannel || error == .alreadyClosed {
            self.disconnected(.clientClosed)
            throw ClientDisconnected()
        } catch let error as IOError {
            self.disconnected(error.departure)
            throw ClientDisconnected()
        } catch is NIOHTTP2Errors.StreamClosed {
            self.disconnected(.streamReset)
            throw ClientDisconnected()
        }
    }

    private func sendFile(_ range: FileRange, bodyAllowed: Bool, endsMessage: Bool) async throws {
        let end = HTTPServerResponsePart.end(nil)
        guard bodyAllowed, range.count > 0 else {
            if endsMessage { try await self.channel.writeAndFlush(end).get() }
            return
        }
        let handle = try await NIOThreadPool.singleton.runIfActive { try NIOFileHandle(_deprecatedPath: range.path) }
        defer { try? handle.close() }
        let region = FileRegion(
            fileHandle: handle, readerIndex: Int(range.offset), endIndex: Int(range.offset + range.count))
        let body = HTTPServerResponsePart.body(.fileRegion(region))
        if endsMessage {
            self.channel.write(body, promise: nil)
            try await self.channel.writeAndFlush(end).get()
        } else {
            try await self.channel.writeAndFlush(body).get()
        }
    }

    private func responseHead(_ status: HTTPResponse.Status, _ fields: HTTPFields) -> HTTPResponseHead {
        var headers = HTTPHeaders(fields, extra: 3)
        if !headers.contains(name: "date") { headers.add(name: "Date", value: DateHeader.now()) }
        if let name = self.serverName, !headers.contains(name: "server") { headers.add(name: "Server", value: name) }
        self.echoRequestID(into: &headers)
        return HTTPResponseHead(
            version: self.requestHead.version,
            status: HTTPResponseStatus(statusCode: status.code, reasonPhrase: status.reasonPhrase),
            headers: headers)
    }
}

extension Exchange {
    /// Adds the request's ID to a response that does not name one already.
    func echoRequestID(into headers: inout HTTPHeaders) {
        guard let name = self.requestIDHeader, let id = self.observation.requestID, !headers.contains(name: name)
        else { return }
        headers.add(name: name, value: id)
    }
}

extension HTTPFields {
    /// swift-http-types fields from NIO header fields, leaving out any whose name is not a token.
    init(_ headers: HTTPHeaders) {
        self.init()
        self.reserveCapacity(headers.count)
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { self.append(HTTPField(name: name, value: value)) }
        }
    }
}

extension HTTPHeaders {
    /// NIO header fields from swift-http-types fields, with room for `extra` more (Date, Server) without growing.
    init(_ fields: HTTPFields, extra: Int = 0) {
        self.init()
        self.reserveCapacity(fields.count + extra)
        for field in fields {
            self.add(name: field.name.rawName, value: field.value)
        }
    }
}
