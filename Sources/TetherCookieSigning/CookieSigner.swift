import Crypto
import FoundationEssentials

/// Signs cookie values with HMAC-SHA256, so that a value the client changed, or one never signed, reads as `nil`.
///
/// A signed value is the value, a `.`, and the base64url (unpadded) HMAC-SHA256 of `name=value`: `42.3q2-7w…`.
/// The name is signed too, so that a value signed for one cookie is refused in another. The value stays readable
/// by the client: signing proves where it came from, it does not hide it.
///
/// Keys rotate: the first key signs, every key verifies, so a new key goes first and an old one stays last until
/// the cookies it signed have expired.
///
/// ```swift
/// let signer = CookieSigner(secrets: [newSecret, oldSecret])
/// try response.setCookie(SetCookie("user", value: "42", httpOnly: true), signedBy: signer)
/// let user = request.cookies.verified("user", by: signer)  // "42", or nil if tampered with
/// ```
public struct CookieSigner: Sendable {
    /// The keys' bytes: `SymmetricKey` is not `Sendable`, so one is made for each use.
    private let keys: [[UInt8]]

    /// A signer with `keys`, the first of which signs; at least one. Each should be random and at least 32 bytes
    /// long.
    public init(keys: [[UInt8]]) {
        precondition(!keys.isEmpty, "A cookie signer needs at least one key.")
        self.keys = keys
    }

    /// A signer with the UTF-8 bytes of `secrets` as its keys, as ``init(keys:)`` takes them.
    public init(secrets: [String]) {
        self.init(keys: secrets.map { Array($0.utf8) })
    }

    /// `value` with its signature for cookie `name`: `value.signature`.
    public func sign(_ value: String, name: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(
            for: Array("\(name)=\(value)".utf8), using: SymmetricKey(data: self.keys[0]))
        let signature = Data(code).base64EncodedString()
            .replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
        return "\(value).\(signature)"
    }

    /// The value of `signed` when one of the keys signed it for cookie `name`, else `nil`; the signatures are
    /// compared in constant time.
    public func verify(_ signed: String, name: String) -> String? {
        guard let dot = signed.lastIndex(of: "."),
            let signature = Self.decodeBase64URL(signed[signed.index(after: dot)...]),
            signature.count == SHA256.byteCount
        else { return nil }
        let value = signed[..<dot]
        let message = Array("\(name)=\(value)".utf8)
        let verified = self.keys.contains { key in
            HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: message, using: SymmetricKey(data: key))
        }
        return verified ? String(value) : nil
    }

    /// The bytes of unpadded base64url `text`, or `nil` when it is not that.
    private static func decodeBase64URL(_ text: Substring) -> Data? {
        guard text.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "=") })
        else { return nil }
        let standard = String(text).replacing("-", with: "+").replacing("_", with: "/")
        return Data(base64Encoded: standard + String(repeating: "=", count: (4 - standard.count % 4) % 4))
    }
}
