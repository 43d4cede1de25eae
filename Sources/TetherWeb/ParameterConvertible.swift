import FoundationEssentials

/// A type that a query or path parameter's text converts to, for ``QueryParameters/get(_:as:)`` and
/// ``Parameters/require(_:as:)``.
///
/// The integer and floating-point types, `String`, `Bool` and `UUID` conform. So can your own types in one line:
/// a `LosslessStringConvertible` type, or an enum whose raw value converts.
///
/// ```swift
/// enum Order: String, ParameterConvertible { case newest, oldest }
/// let order = request.query.get("order", as: Order.self) ?? .newest
/// ```
public protocol ParameterConvertible {
    /// The value `text` stands for, or `nil` when it does not convert.
    ///
    /// A static function rather than an initializer, so that `Int.init` stays unambiguous in `map(Int.init)`.
    static func fromParameter(_ text: String) -> Self?
}

extension ParameterConvertible where Self: LosslessStringConvertible {
    /// The value the type's `init(_:)` parses from `text`.
    public static func fromParameter(_ text: String) -> Self? {
        Self(text)
    }
}

extension ParameterConvertible where Self: RawRepresentable, RawValue: ParameterConvertible {
    /// The case whose raw value `text` converts to.
    public static func fromParameter(_ text: String) -> Self? {
        RawValue.fromParameter(text).flatMap(Self.init(rawValue:))
    }
}

extension Bool: ParameterConvertible {
    /// `true` for `1`, `true`, `yes` and `on`; `false` for `0`, `false`, `no` and `off`, in any case, as
    /// HTML forms and command lines write them; `nil` for anything else.
    public static func fromParameter(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        default: nil
        }
    }
}

extension UUID: ParameterConvertible {
    /// The UUID in its 8-4-4-4-12 hexadecimal form, in either case.
    public static func fromParameter(_ text: String) -> UUID? {
        UUID(uuidString: text)
    }
}

extension String: ParameterConvertible {}
extension Int: ParameterConvertible {}
extension Int8: ParameterConvertible {}
extension Int16: ParameterConvertible {}
extension Int32: ParameterConvertible {}
extension Int64: ParameterConvertible {}
extension UInt: ParameterConvertible {}
extension UInt8: ParameterConvertible {}
extension UInt16: ParameterConvertible {}
extension UInt32: ParameterConvertible {}
extension UInt64: ParameterConvertible {}
extension Double: ParameterConvertible {}
extension Float: ParameterConvertible {}
