// What a test names when it drives an application, so that `import TetherTesting` is the only import it needs:
// scopes and events, HTTP types and byte buffers.
@_exported import HTTPTypes
@_exported import TetherGateway

@_exported import struct NIOCore.ByteBuffer
