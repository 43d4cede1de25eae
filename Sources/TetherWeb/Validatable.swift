/// A request body that checks its own content once decoded: ``Request/json(_:decoder:)`` calls ``validate()``, and
/// a body that decodes but does not validate is answered 422 instead of reaching the handler.
///
/// ```swift
/// struct NewItem: Decodable, Validatable {
///     var name: String
///     func validate() throws { if name.isEmpty { throw HTTPError.unprocessable("Field 'name' must not be empty.") } }
/// }
/// ```
public protocol Validatable {
    /// Throws when the value is not acceptable.
    ///
    /// An ``HTTPError``, such as ``HTTPError/unprocessable(_:)``, is the answer as it is, with its message; any other
    /// error is answered 422 with a general message, since its text is not meant for the client.
    func validate() throws
}
