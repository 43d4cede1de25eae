import FoundationEssentials
import HTTPTypes

extension Response {
    /// Adds a `Set-Cookie` field for `cookie`; throws ``InvalidCookie`` when it cannot be set as it is.
    ///
    /// ```swift
    /// try response.setCookie(SetCookie("theme", value: "dark", maxAge: 86_400))
    /// ```
    public mutating func setCookie(_ cookie: SetCookie) throws(InvalidCookie) {
        let value = try cookie.headerValue()
        self.headers.append(HTTPField(name: .setCookie, value: value))
    }

    /// Tells the client to delete cookie `name`: empty, `Max-Age=0` and an `Expires` in the past. `path` and
    /// `domain` must be those the cookie was set with.
    ///
    /// ```swift
    /// try response.deleteCookie("session")
    /// ```
    public mutating func deleteCookie(_ name: String, path: String? = "/", domain: String? = nil)
        throws(InvalidCookie)
    {
        // Browsers accept a prefixed name only with Secure, deletions included.
        let secure = name.hasPrefix("__Secure-") || name.hasPrefix("__Host-")
        let expired = Date(timeIntervalSince1970: 0)
        try self.setCookie(
            SetCookie(name, value: "", domain: domain, path: path, expires: expired, maxAge: 0, secure: secure))
    }
}
