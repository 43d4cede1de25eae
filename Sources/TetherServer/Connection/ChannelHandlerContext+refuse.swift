import NIOCore
import NIOHTTP1

extension ChannelHandlerContext {
    /// Answers a request that will not be served — `status`, `Connection: close`, `message` as plain text if
    /// any, and `extra` fields — and closes the connection once the answer is written: the rest of its bytes cannot be trusted.
    func refuse(_ status: HTTPResponseStatus, message: String?, version: HTTPVersion, headers extra: HTTPHeaders = [:])
    {
        let body = message.map { ByteBuffer(string: $0 + "\n") }
        var headers = extra
        headers.add(name: "Connection", value: "close")
        if body != nil { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
        headers.add(name: "Content-Length", value: String(body?.readableBytes ?? 0))
        headers.add(name: "Date", value: DateHeader.now())
        let replyVersion = version.major == 1 ? version : .http1_1
        self.write(
            NIOAny(
                HTTPServerResponsePart.head(HTTPResponseHead(version: replyVersion, status: status, headers: headers))),
            promise: nil)
        if let body { self.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil) }
        self.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).assumeIsolated().whenComplete { _ in
            self.close(promise: nil)
        }
    }
}
