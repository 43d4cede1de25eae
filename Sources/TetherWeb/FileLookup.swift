#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a URL path leads inside a served directory. Found with blocking calls, so on a thread pool.
enum FileLookup: Equatable, Sendable {
    /// A regular file inside the directory, by its real path.
    case file(String)
    /// A directory inside the directory, with the real path of its index file.
    case directory(index: String)
    /// The path tries to leave the directory: by `..` or `.`, or through a symbolic link that points out.
    case outside
    /// Nothing that can be served: no such file, a directory without an index, a device.
    case nothing

    /// Looks up `relative` (percent-decoded, `/`-separated) in `root`; a directory's index is `index`, if any.
    init(_ relative: String, in root: String, index: String?) {
        let segments = relative.split(separator: "/")
        guard !segments.contains(where: { $0 == ".." || $0 == "." || $0.contains("\0") || $0.contains("\\") }) else {
            self = .outside
            return
        }
        guard let realRoot = Self.realPath(root), let real = Self.realPath(root + "/" + segments.joined(separator: "/"))
        else {
            self = .nothing
            return
        }
        let inside = { (path: String) in path == realRoot || path.hasPrefix(realRoot == "/" ? "/" : realRoot + "/") }
        guard inside(real) else {
            self = .outside
            return
        }
        switch Self.kind(of: real) {
        case S_IFREG:
            self = .file(real)
        case S_IFDIR:
            guard let index, let realIndex = Self.realPath(real + "/" + index), inside(realIndex),
                Self.kind(of: realIndex) == S_IFREG
            else {
                self = .nothing
                return
            }
            self = .directory(index: realIndex)
        default:
            self = .nothing
        }
    }

    /// The file type bits of the file at `path`, or 0 when it cannot be read.
    private static func kind(of path: String) -> mode_t {
        var status = stat()
        return stat(path, &status) == 0 ? status.st_mode & S_IFMT : 0
    }

    /// `path` with every symbolic link, `.` and `..` resolved; `nil` when it does not exist.
    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
