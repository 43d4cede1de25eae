import NIOCore
import NIOEmbedded
import TetherGateway
@_spi(Fuzzing) import TetherServer

/// Feeds arbitrary bytes to a connection's request pipeline on an `EmbeddedChannel`, in two reads split at the
/// first byte's value, and drains what the server writes back. libFuzzer reports any crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestPipeline(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
    do {
        try FuzzTarget.server.installHTTPPipeline(on: channel)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        for part in [bytes[..<split], bytes[split...]] where !part.isEmpty {
            try channel.writeInbound(ByteBuffer(bytes: part))
        }
    } catch {
        // Refusing input is the pipeline's job; only a crash is a finding.
    }
    while (try? channel.readOutbound(as: IOData.self)) != nil {}
    return 0
}

enum FuzzTarget {
    static let server = Server(
        application: InlineApplication { _, _, _ in },
        configuration: {
            var configuration = Server.Configuration()
            configuration.maxHeadBytes = 4096
            configuration.maxTargetBytes = 1024
            configuration.maxBodySize = 1 << 16
            return configuration
        }())
}
