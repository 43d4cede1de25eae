import FoundationEssentials

/// A cookie to set, with its attributes, serialised as a `Set-Cookie` field value (RFC 6265 §4.1, with
/// `SameSite` and `Partitioned`); ``Response/setCookie(_:)`` adds it to a response.
///
/// ```swift
/// var response = Response.text("Welcome")
/// try response.setCookie(SetCookie("theme", value: "dark", maxAge: 86_400, httpOnly: true))
/// ```
public struct SetCookie: Sendable, Hashable {
    /// Which requests carry the cookie: `Strict` same-site ones only, `Lax` top-level navigations from other sites
    /// too, `None` all (browsers accept it only with `Secure`). Where an optional is expected, write
    /// `SetCookie.SameSite.none`: `.none` alone is `nil`.
    public enum SameSite: String, Sendable, Hashable {
        case strict = "Strict"
        case lax = "Lax"
        case none = "None"
    }

    /// The name: an HTTP token.
    public var name: String
    /// The value: visible ASCII without space, `"`, `,`, `;` or `\`, optionally in double quotes. Encode other
    /// text, with base64url for one.
    public var value: String
    /// The host the cookie is sent to, with its subdomains; only the host that set it when `nil`.
    public var domain: String?
    /// The path the cookie is sent under; the browser picks the one of the request's path when `nil`.
    public var path: String?
    /// When the cookie expires; a session cookie when both this and ``maxAge`` are `nil`.
    public var expires: Date?
    /// Seconds until the cookie expires, preferred to ``expires`` by browsers; zero or less deletes it.
    public var maxAge: Int?
    /// Sent over HTTPS only.
    public var secure: Bool
    /// Hidden from the page's scripts.
    public var httpOnly: Bool
    /// Which cross-site requests carry the cookie; the browser's default when `nil`.
    public var sameSite: SameSite?
    /// Kept apart for each top-level site the page is embedded in (CHIPS); needs ``secure``.
    public var partitioned: Bool

    /// A cookie named `name` holding `value`: for the whole site (`Path=/`) and `SameSite=Lax` unless told
    /// otherwise, as Starlette sets them.
    public init(
        _ name: String,
        value: String,
        domain: String? = nil,
        path: String? = "/",
        expires: Date? = nil,
        maxAge: Int? = nil,
        secure: Bool = false,
        httpOnly: Bool = false,
        sameSite: SameSite? = .lax,
        partitioned: Bool = false
    ) {
        self.name = name
        self.value = value
        self.domain = domain
        self.path = path
        self.expires = expires
        self.maxAge = maxAge
        self.secure = secure
        self.httpOnly = httpOnly
        self.sameSite = sameSite
        self.partitioned = partitioned
    }

    /// The `Set-Cookie` field value; throws ``InvalidCookie`` for a name, value or attribute a browser would
    /// misread or reject.
    public func headerValue() throws(InvalidCookie) -> String {
        try self.validate()
        var field = "\(self.name)=\(self.value)"
        if let domain = self.domain { field += "; Domain=\(domain)" }
        if let path = self.path { field += "; Path=\(path)" }
        if let expires = self.expires {
            let seconds = Int(expires.timeIntervalSince1970.rounded(.down))
            field += "; Expires=\(HTTPDate.string(fromEpochSeconds: seconds))"
        }
        if let maxAge = self.maxAge { field += "; Max-Age=\(maxAge)" }
        if self.secure { field += "; Secure" }
        if self.httpOnly { field += "; HttpOnly" }
        if let sameSite = self.sameSite { field += "; SameSite=\(sameSite.rawValue)" }
        if self.partitioned { field += "; Partitioned" }
        return field
    }

    private func validate() throws(InvalidCookie) {
        guard !self.name.isEmpty, self.name.utf8.allSatisfy(Self.isTokenCharacter) else {
            throw InvalidCookie("The cookie name '\(self.name)' is not an HTTP token.")
        }
        var value = Substring(self.value)
        if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
        guard value.utf8.allSatisfy(Self.isCookieOctet) else {
            throw InvalidCookie("The value of cookie '\(self.name)' has a character a cookie cannot hold.")
        }
        if let domain = self.domain, domain.isEmpty || !domain.utf8.allSatisfy(Self.isDomainCharacter) {
            throw InvalidCookie("The domain of cookie '\(self.name)' is not a host name.")
        }
        if let path = self.path, !path.utf8.allSatisfy(Self.isAttributeCharacter) {
            throw InvalidCookie("The path of cookie '\(self.name)' has a control character or ';'.")
        }
        // Browsers drop these cookies; an error here says why, where a dropped cookie says nothing.
        if !self.secure,
            self.sameSite == SameSite.none || self.partitioned || self.name.hasPrefix("__Secure-")
                || self.name.hasPrefix("__Host-")
        {
            throw InvalidCookie("Cookie '\(self.name)' needs Secure for SameSite=None, Partitioned or its prefix.")
        }
        if self.name.hasPrefix("__Host-"), self.path != "/" || self.domain != nil {
            throw InvalidCookie("Cookie '\(self.name)' needs Path=/ and no Domain for its __Host- prefix.")
        }
    }

    /// RFC 9110 §5.6.2: `!#$%&'*+-.^_`|~`, digits and letters.
    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "a")...UInt8(ascii: "z"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// RFC 6265 §4.1.1's cookie-octet: visible ASCII but `"`, `,`, `;` and `\`.
    private static func isCookieOctet(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: ",")
            && byte != UInt8(ascii: ";") && byte != UInt8(ascii: "\\")
    }

    /// Letters, digits, `-` and `.`: a host name, or a leading-dot domain.
    private static func isDomainCharacter(_ byte: UInt8) -> Bool {
        Self.isTokenCharacter(byte) && !"!#$%&'*+^_`|~".utf8.contains(byte)
    }

    /// RFC 6265 §4.1.1's av-octet: any ASCII but control characters and `;`.
    private static func isAttributeCharacter(_ byte: UInt8) -> Bool {
        (0x20...0x7E).contains(byte) && byte != UInt8(ascii: ";")
    }
}

/// A cookie that cannot be set as it is: a name, value or attribute a browser would misread or reject.
public struct InvalidCookie: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
