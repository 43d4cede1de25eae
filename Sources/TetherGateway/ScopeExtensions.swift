/// A key for a typed value in ``ScopeExtensions``.
public protocol ScopeExtensionKey: Sendable {
    /// The type of the value stored under the key.
    associatedtype Value: Sendable
}

/// A typed map of values that a server or middleware attaches to a scope, such as ``FileSend``.
public struct ScopeExtensions: Sendable {
    private var values: [ObjectIdentifier: any Sendable] = [:]

    /// An empty map.
    public init() {}

    /// The value stored under `key`, or `nil`.
    public subscript<Key: ScopeExtensionKey>(_ key: Key.Type) -> Key.Value? {
        get { self.values[ObjectIdentifier(key)] as? Key.Value }
        set { self.values[ObjectIdentifier(key)] = newValue }
    }
}

/// Present when the server sends ``OutboundEvent/file(_:)`` events itself, without copying through the application.
public enum FileSend: ScopeExtensionKey {
    public typealias Value = Bool
}

/// Present when the server cancels the application's task as soon as the client leaves before the response is
/// complete, so that the application's work stops without it listening for ``InboundEvent/disconnect``.
///
/// `receive()` still returns `disconnect` for applications that listen themselves.
public enum CancelOnDisconnect: ScopeExtensionKey {
    public typealias Value = Bool
}
