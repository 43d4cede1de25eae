import TetherWeb

extension Cookies {
    /// The first value for `name` that `signer` signed, unsigned; `nil` when none verifies.
    ///
    /// ```swift
    /// let user = request.cookies.verified("session", by: signer)
    /// ```
    public func verified(_ name: String, by signer: CookieSigner) -> String? {
        for value in self.values(for: name) {
            if let verified = signer.verify(value, name: name) { return verified }
        }
        return nil
    }
}

extension Response {
    /// Adds `cookie` with its value signed by `signer`, for `Cookies.verified(_:by:)` to read back.
    ///
    /// ```swift
    /// try response.setCookie(SetCookie("session", value: user.id, httpOnly: true), signedBy: signer)
    /// ```
    public mutating func setCookie(_ cookie: SetCookie, signedBy signer: CookieSigner) throws(InvalidCookie) {
        var signed = cookie
        signed.value = signer.sign(cookie.value, name: cookie.name)
        try self.setCookie(signed)
    }
}
