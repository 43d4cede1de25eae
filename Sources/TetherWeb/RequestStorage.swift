/// A key for a typed value in ``RequestStorage``: the key's type names the slot, its `Value` types it.
///
/// ```swift
/// enum UserKey: RequestStorageKey { typealias Value = User }
/// ```
public protocol RequestStorageKey: Sendable {
    /// The type of the value stored under the key.
    associatedtype Value: Sendable
}

/// Typed values that middleware attaches to a request for the handlers after it, such as the authenticated user.
///
/// ```swift
/// let auth = InlineMiddleware { request, next in
///     guard let user = try await users.find(request.header(.authorization)) else { throw HTTPError(.unauthorized) }
///     var request = request
///     request.storage[UserKey.self] = user
///     return try await next(request)
/// }
/// router.get("/me") { request in .text(request.storage[UserKey.self]?.name ?? "nobody") }
/// ```
public struct RequestStorage: Sendable {
    private var values: [ObjectIdentifier: any Sendable] = [:]

    /// An empty storage.
    public init() {}

    /// The value stored under `key`, or `nil`.
    public subscript<Key: RequestStorageKey>(_ key: Key.Type) -> Key.Value? {
        get { self.values[ObjectIdentifier(key)] as? Key.Value }
        set { self.values[ObjectIdentifier(key)] = newValue }
    }
}
