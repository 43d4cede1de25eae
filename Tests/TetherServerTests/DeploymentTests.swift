import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
import TetherGateway
import TetherServer
import TetherSoak
import TetherWeb

#if canImport(Glibc)
import Glibc
#endif

/// A server as deployed: on a Unix socket, on an inherited descriptor, behind a proxy whose headers it believes only
/// from the peers it trusts, mounted under a root path.
@Suite struct DeploymentTests {
    /// What the scope says, one field per line.
    static let app: WebApplication = {
        var router = Router()
        router.get("/where/") { request in
            let client = request.client.map { "\($0.ipAddress ?? "?"):\($0.port ?? -1)" } ?? "none"
            let server: String =
                switch request.server {
                case .unixDomainSocket?: "unix:\(request.server?.pathname ?? "")"
                case let address?: "\(address.ipAddress ?? "?"):\(address.port ?? -1)"
                case nil: "none"
                }
            let host = request.headers[HTTPField.Name("Host")!] ?? "none"
            return .text(
                [client, server, request.scheme, host, request.path, request.rootPath, String(request.routePath)]
                    .joined(separator: "\n"))
        }
        router.webSocket("/ws/") { request, socket in try await socket.send(text: "scheme=\(request.scheme)") }
        return WebApplication(router: router)
    }()

    /// The scope's fields as `/where/` answers them.
    struct Where: Equatable {
        var client, server, scheme, host, path, rootPath, routePath: String

        init(_ text: String) throws {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            try #require(lines.count == 7, "\(text)")
            (client, server, scheme, host, path, rootPath, routePath) =
                (lines[0], lines[1], lines[2], lines[3], lines[4], lines[5], lines[6])
        }
    }

    static func get(_ url: String, headers: [(String, String)] = []) async throws -> (HTTPResponseStatus, String) {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return (response.status, String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    static func whereTo(_ url: String, headers: [(String, String)] = []) async throws -> Where {
        let (status, body) = try await Self.get(url, headers: headers)
        #expect(status == .ok, "\(body)")
        return try Where(body)
    }

    // MARK: Unix sockets and inherited descriptors

    @Test func aUnixSocketIsServedWritableByAllAndRemovedAtTheEnd() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tether-uds-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("s.sock").path
        // A socket file left by an earlier run that ended without removing it is replaced.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let staleAddress = try SocketAddress(unixDomainSocketPath: path)
        try #require(staleAddress.withSockAddr { bind(stale, $0, socklen_t($1)) } == 0)
        close(stale)
        #expect(FileManager.default.fileExists(atPath: path))

        try await withServer(Self.app, configure: { $0.unixSocketPath = path }) { _, server in
            let address = try await server.localAddress
            #expect(address.pathname == path)
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o666)
            let encoded = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let seen = try await Self.whereTo(
                "http+unix://\(encoded)/where/", headers: [("Host", "localhost"), ("X-Forwarded-For", "203.0.113.9")])
            // ASGI's client of a Unix-socket connection is none, and its headers are not believed unless `unix` is
            // listed.
            #expect(seen.client == "none")
            #expect(seen.server == "unix:\(path)")
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test(arguments: [["unix"], ["*"], ["127.0.0.1"]])
    func aUnixSocketPeerIsTrustedOnlyWhenListed(allowed: [String]) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tether-\(UUID()).sock").path
        try await withServer(
            Self.app,
            configure: {
                $0.unixSocketPath = path
                $0.forwardedAllowIPs = try! ForwardedAllowList(allowed)
            }
        ) { _, _ in
            let encoded = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let seen = try await Self.whereTo(
                "http+unix://\(encoded)/where/",
                headers: [("Host", "localhost"), ("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")])
            let trusted = allowed != ["127.0.0.1"]
            #expect(seen.client == (trusted ? "203.0.113.9:0" : "none"))
            #expect(seen.scheme == (trusted ? "https" : "http"))
        }
    }

    @Test func aSocketHandedOverAsADescriptorIsServed() async throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(bound == 0)
        try #require(listen(descriptor, 16) == 0)

        try await withServer(Self.app, configure: { $0.socketDescriptor = descriptor }) { port, _ in
            let seen = try await Self.whereTo("http://127.0.0.1:\(port)/where/")
            #expect(seen.server == "127.0.0.1:\(port)")
            #expect(seen.client.hasPrefix("127.0.0.1:"))
        }
    }

    // MARK: Proxy headers

    @Test func aTrustedProxySetsTheClientTheSchemeAndTheHost() async throws {
        try await withServer(Self.app) { port, _ in
            let seen = try await Self.whereTo(
                "http://127.0.0.1:\(port)/where/",
                headers: [
                    ("X-Forwarded-For", "198.51.100.1, 203.0.113.9"), ("X-Forwarded-Proto", "https"),
                    ("X-Forwarded-Host", "shop.example"),
                ])
            // The nearest untrusted hop is the client; what it claimed about earlier hops counts for nothing.
            #expect(seen.client == "203.0.113.9:0")
            #expect(seen.scheme == "https")
            #expect(seen.host == "shop.example")
        }
    }

    @Test func forwardedIsReadAsRFC7239Has() async throws {
        try await withServer(Self.app) { port, _ in
            let seen = try await Self.whereTo(
                "http://127.0.0.1:\(port)/where/",
                headers: [("Forwarded", #"for="[2001:db8::17]:4711";proto=https;host=api.example"#)])
            #expect(seen.client == "2001:db8::17:4711")
            #expect(seen.scheme == "https")
            #expect(seen.host == "api.example")
        }
    }

    @Test func anUntrustedPeerOrProxyHeadersOffChangeNothing() async throws {
        let headers = [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")]
        let untrusted: @Sendable (inout Server.Configuration) -> Void = {
            $0.forwardedAllowIPs = try! ForwardedAllowList(["10.0.0.0/8"])
        }
        let off: @Sendable (inout Server.Configuration) -> Void = { $0.proxyHeaders = false }
        for configure in [untrusted, off] {
            try await withServer(Self.app, configure: configure) { port, _ in
                let seen = try await Self.whereTo("http://127.0.0.1:\(port)/where/", headers: headers)
                #expect(seen.client.hasPrefix("127.0.0.1:"))
                #expect(seen.scheme == "http")
                #expect(seen.host == "127.0.0.1:\(port)")
            }
        }
    }

    @Test func aTrustedProxyUnderTLSMakesAWebSocketsSchemeWss() async throws {
        try await withServer(Self.app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send(
                "GET /ws/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    + "X-Forwarded-Proto: https\r\n\r\n")
            let text = try await client.waitFor("scheme=")
            #expect(text.hasPrefix("HTTP/1.1 101"))
            _ = try await client.waitFor("scheme=wss")
            try await client.close()
        }
    }

    // MARK: Root path

    @Test func theRootPathPrefixesPathsAndRoutesMatchBelowIt() async throws {
        try await withServer(Self.app, configure: { $0.rootPath = "/shop" }) { port, _ in
            // A proxy that stripped the prefix, and one that kept it: the application sees the same request.
            for target in ["/where/", "/shop/where/"] {
                let seen = try await Self.whereTo("http://127.0.0.1:\(port)\(target)")
                #expect(seen.path == "/shop/where/")
                #expect(seen.rootPath == "/shop")
                #expect(seen.routePath == "/where/")
            }
            // A path that only begins with the prefix's letters is not below it.
            let (status, _) = try await Self.get("http://127.0.0.1:\(port)/shopping/where/")
            #expect(status == .notFound)
        }
    }

    @Test func routePathIsThePathBelowTheRootPath() {
        func routePath(_ path: String, root: String) -> Substring {
            var scope = HTTPScope(method: .get, target: path)
            scope.rootPath = root
            return scope.routePath
        }
        #expect(routePath("/a/b", root: "") == "/a/b")
        #expect(routePath("/app/a/b", root: "/app") == "/a/b")
        #expect(routePath("/app", root: "/app") == "/")
        #expect(routePath("/application", root: "/app") == "/application")
        #expect(routePath("/other", root: "/app") == "/other")
    }
}
