import NIOCore
import TetherWeb

/// A `multipart/form-data` body, read by `Request.multipartForm(limits:spooling:)`: its fields in memory and its
/// files, each spooled on its own as a request body is.
///
/// A file part's temporary file is removed when the last copy of its ``MultipartFile`` is released (at the latest
/// when the handler that read the form returns or is cancelled), or at once by ``close()``;
/// `Request.withMultipartForm(limits:spooling:_:)` closes the form when its closure ends.
///
/// ```swift
/// let form = try await request.multipartForm()
/// let title = form.fields["title"] ?? "untitled"
/// guard let avatar = form.file("avatar") else { throw HTTPError(.badRequest, message: "No avatar.") }
/// ```
public struct MultipartForm: Sendable {
    /// The parts without a filename, in order, repeated names kept: `fields["name"]` is the last value.
    public let fields: QueryParameters
    /// The parts with a filename, in order.
    public let files: [MultipartFile]

    /// The last file part named `name`, or `nil`.
    public func file(_ name: String) -> MultipartFile? {
        self.files.last { $0.name == name }
    }

    /// Every file part named `name`, in order.
    public func files(named name: String) -> [MultipartFile] {
        self.files.filter { $0.name == name }
    }

    /// Removes every file part's temporary file; later reads of them fail. Safe to call more than once.
    public func close() {
        for file in self.files { file.body.close() }
    }
}
