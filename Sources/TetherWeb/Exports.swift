// What an application names when it uses the web layer, so that `import TetherWeb` is the only import it needs:
// scopes and events, HTTP types, byte buffers, and the logger of the configuration.
@_exported import HTTPTypes
@_exported import TetherGateway

@_exported import struct Logging.Logger
@_exported import struct NIOCore.ByteBuffer
