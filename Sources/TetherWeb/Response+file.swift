import HTTPTypes
import NIOFileSystem
import TetherGateway

extension Response {
    /// How a browser should present a file response.
    public enum Disposition: Sendable {
        /// Shown in the browser where it can be.
        case inline
        /// Saved as a download.
        case attachment
    }

    /// A response that streams the file at `path`, with Content-Type (from the extension unless given),
    /// Content-Length, Last-Modified and Content-Disposition.
    ///
    /// Throws ``HTTPError`` 404 when there is no regular file at `path`.
    public static func file(
        at path: String,
        contentType: String? = nil,
        disposition: Disposition = .inline,
        filename: String? = nil
    ) async throws -> Response {
        let info: FileInfo?
        do {
            info = try await FileSystem.shared.info(forFileAt: FilePath(path), infoAboutSymbolicLink: false)
        } catch {
            info = nil
        }
        guard let info, info.type == .regular else {
            throw HTTPError(.notFound, message: "Not Found")
        }
        let name = filename ?? FilePath(path).lastComponent?.string ?? "file"
        var headers: HTTPFields = [:]
        headers[.contentType] = contentType ?? MediaType.forFile(named: name)
        headers[.contentLength] = String(info.size)
        headers[.lastModified] = HTTPDate.string(fromEpochSeconds: info.lastDataModificationTime.seconds)
        headers[.contentDisposition] = Self.contentDisposition(disposition, filename: name)
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody(file: FileBody(path: path, offset: 0, count: info.size)))
    }

    /// `inline; filename="a.txt"`, or RFC 6266's `filename*` for names that are not plain ASCII.
    static func contentDisposition(_ disposition: Disposition, filename: String) -> String {
        let kind = disposition == .inline ? "inline" : "attachment"
        let plain = filename.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        if plain { return "\(kind); filename=\"\(filename)\"" }
        var encoded = ""
        for byte in filename.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return "\(kind); filename*=utf-8''\(encoded)"
    }
}
