import HTTPTypes

extension Request {
    /// The cookies of the request's `Cookie` header fields, however many it has.
    ///
    /// ```swift
    /// let theme = request.cookies["theme"] ?? "light"
    /// ```
    public var cookies: Cookies {
        Cookies(parsing: self.headers[values: .cookie])
    }
}
