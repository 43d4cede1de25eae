/// A header field value with parameters, such as `form-data; name="avatar"; filename="me.png"` (RFC 9110 §5.6.6).
struct HeaderParameters {
    /// What comes before the first `;`, lowercased: `form-data`, `multipart/form-data`.
    var value: String
    /// The parameters by lowercased name, the first of a repeated one; quoted values are unquoted.
    var parameters: [String: String] = [:]

    /// Parses `field`; a parameter without `=` is skipped.
    init(parsing field: String) {
        var rest = Substring(field)
        let end = rest.firstIndex(of: ";") ?? rest.endIndex
        self.value = rest[..<end].trimmingOWS.lowercased()
        rest = rest[end...]
        while rest.first == ";" {
            rest = rest.dropFirst()
            let nameEnd = rest.firstIndex { $0 == "=" || $0 == ";" } ?? rest.endIndex
            let name = rest[..<nameEnd].trimmingOWS.lowercased()
            rest = rest[nameEnd...]
            guard rest.first == "=" else { continue }
            rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" }
            let value: String
            if rest.first == "\"" {
                rest = rest.dropFirst()
                value = Self.unquote(&rest)
                rest = rest[(rest.firstIndex(of: ";") ?? rest.endIndex)...]
            } else {
                let valueEnd = rest.firstIndex(of: ";") ?? rest.endIndex
                value = String(rest[..<valueEnd].trimmingOWS)
                rest = rest[valueEnd...]
            }
            if !name.isEmpty, self.parameters[name] == nil { self.parameters[name] = value }
        }
    }

    /// Reads a quoted string up to its closing quote, which it consumes.
    ///
    /// Only `\"` and `\\` are escapes, as Django reads them: browsers escape no backslash, so a Windows path keeps
    /// its own.
    private static func unquote(_ rest: inout Substring) -> String {
        var value = ""
        while let character = rest.popFirst(), character != "\"" {
            if character == "\\", let next = rest.first, next == "\"" || next == "\\" {
                value.append(next)
                rest = rest.dropFirst()
            } else {
                value.append(character)
            }
        }
        return value
    }
}
