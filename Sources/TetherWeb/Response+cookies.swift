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

    /// Adds `cookie` with its value signed by `signer`, for ``Cookies/verified(_:by:)`` to read back.
    ///
    /// ```swift
    /// try response.setCookie(SetCookie("session", value: user.id, httpOnly: true), signedBy: signer)
    /// ```
    public mutating func setCookie(_ cookie: SetCookie, signedBy signer: CookieSigner) throws(InvalidCookie) {
        var signed = cookie
        signed.value = signer.sign(cookie.value, name: cookie.name)
        try self.setCookie(signed)
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
