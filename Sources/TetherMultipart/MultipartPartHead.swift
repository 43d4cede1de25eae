import HTTPTypes
import TetherWeb

/// What a part's header fields say: its name, whether it is a file, and its content type.
struct MultipartPartHead {
    var name: String
    /// The filename, for a file part; `nil` for a field.
    var filename: String?
    var contentType: String
    var headers: HTTPFields

    /// Reads the part's `Content-Disposition`; `HTTPError` 400 when it has no `name`.
    init(_ fields: [(name: String, value: String)]) throws(HTTPError) {
        var headers = HTTPFields()
        for field in fields {
            if let name = HTTPField.Name(field.name) { headers.append(HTTPField(name: name, value: field.value)) }
        }
        let disposition = headers[.contentDisposition].map(HeaderParameters.init(parsing:))
        guard let name = disposition?.parameters["name"] else {
            throw HTTPError(.badRequest, message: "A part of the form has no Content-Disposition with a name.")
        }
        self.name = name
        self.filename = disposition?.parameters["filename"]
        self.contentType = headers[.contentType] ?? "application/octet-stream"
        self.headers = headers
    }
}
