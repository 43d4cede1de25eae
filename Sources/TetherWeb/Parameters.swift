/// The values the router captured from the path, by parameter name.
///
/// Typed access converts as ``QueryParameters`` does, through ``ParameterConvertible``.
public struct Parameters: Sendable, Hashable {
    private var values: [String: String] = [:]

    /// No parameters.
    public init() {}

    /// The value captured for `name`, or `nil`.
    public subscript(name: String) -> String? {
        get { self.values[name] }
        set { self.values[name] = newValue }
    }

    /// The value captured for `name` converted to `T`, or `nil` when it is missing or does not convert.
    public func get<T: ParameterConvertible>(_ name: String, as type: T.Type = T.self) -> T? {
        self.values[name].flatMap(T.fromParameter)
    }

    /// The value captured for `name` as `T`, or ``HTTPError`` 400 when it is missing or does not convert.
    ///
    /// A typed segment (`<int:id>`, `<uuid:id>`) only matches what converts to `Int` or `UUID`, so this does not
    /// fail for those.
    public func require<T: ParameterConvertible>(_ name: String, as type: T.Type = T.self) throws(HTTPError) -> T {
        guard let value = self.get(name, as: T.self) else {
            throw HTTPError(.badRequest, message: "Path parameter '\(name)' is not a valid \(T.self).")
        }
        return value
    }
}
