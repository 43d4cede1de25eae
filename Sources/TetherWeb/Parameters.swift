/// The values the router captured from the path, by parameter name.
public struct Parameters: Sendable, Hashable {
    private var values: [String: String] = [:]

    /// No parameters.
    public init() {}

    /// The value captured for `name`, or `nil`.
    public subscript(name: String) -> String? {
        get { self.values[name] }
        set { self.values[name] = newValue }
    }

    /// The value captured for `name` as `T`, or ``HTTPError`` 400 when it is missing or does not convert.
    public func require<T: LosslessStringConvertible>(_ name: String, as type: T.Type = T.self) throws(HTTPError) -> T {
        guard let text = self.values[name], let value = T(text) else {
            throw HTTPError(.badRequest, message: "Path parameter '\(name)' is not a valid \(T.self).")
        }
        return value
    }
}
