import ArgumentParser
import Foundation
import Testing
import TetherServe
import TetherServer

/// Parses `arguments` as a command line and resolves them against `environment`.
private func resolve(_ arguments: [String] = [], environment: [String: String] = [:]) async throws -> ServeSettings {
    try await ServeOptions.parse(arguments).resolve(environment: environment)
}

/// The message of the `ValidationError` resolving throws; nil (with an issue recorded) if it throws none.
private func validationMessage(
    _ arguments: [String], environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
) async -> String? {
    do {
        let settings = try await resolve(arguments, environment: environment)
        Issue.record("resolved, to \(settings.server.host):\(settings.server.port)", sourceLocation: sourceLocation)
    } catch let error as ValidationError {
        return error.message
    } catch {
        Issue.record("threw \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// A temporary directory for configuration files, removed when the test ends.
private final class TemporaryDirectory {
    let url: URL

    init() throws {
        self.url = FileManager.default.temporaryDirectory.appendingPathComponent("tether-serve-tests-\(UUID())")
        try FileManager.default.createDirectory(at: self.url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: self.url)
    }

    /// Writes `contents` to the file `name` in the directory; returns its path.
    func write(_ name: String, _ contents: String) throws -> String {
        let file = self.url.appendingPathComponent(name)
        try contents.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }
}

/// `ServeOptions.resolve(environment:)`: the command line over the environment (`TETHER_*`) over the `--env-file`.
@Suite struct ServeOptionsTests {
    // MARK: Defaults

    @Test func defaults() async throws {
        let settings = try await resolve()
        let server = settings.server
        #expect(server.host == "127.0.0.1")
        #expect(server.port == 8000)
        #expect(server.unixSocketPath == nil)
        #expect(server.socketDescriptor == nil)
        #expect(server.backlog == 2048)
        #expect(server.maxConnections == 10_000)
        #expect(server.keepAliveTimeout == .seconds(5))
        #expect(server.proxyHeaders == true)
        #expect(server.forwardedAllowIPs == .loopback)
        #expect(server.forwardedAllowIPs.description == "127.0.0.1")
        #expect(server.rootPath == "")
        #expect(server.accessLog == true)
        #expect(server.tls == nil)
        #expect(server.http2.isEnabled == true)
        #expect(server.tcpKeepAlive == nil)
        #expect(server.tcpUserTimeout == nil)
        #expect(server.http2.pingInterval == nil)
        #expect(server.http2.pingTimeout == .seconds(20))
        #expect(settings.workers == 1)
        #expect(settings.gracefulShutdown == .seconds(30))
        #expect(settings.logLevel == .info)
    }

    @Test func optionsNotGivenAreNil() throws {
        let options = try ServeOptions.parse([])
        #expect(options.host == nil)
        #expect(options.port == nil)
        #expect(options.workers == nil)
        #expect(options.proxyHeaders == nil)
        #expect(options.accessLog == nil)
        #expect(options.http2 == nil)
        #expect(options.envFile == nil)
    }

    // MARK: The command line

    @Test func everyOptionOnTheCommandLine() async throws {
        let settings = try await resolve([
            "--host", "0.0.0.0",
            "--port", "9001",
            "--workers", "4",
            "--backlog", "128",
            "--limit-concurrency", "500",
            "--timeout-keep-alive", "2.5",
            "--timeout-graceful-shutdown", "12",
            "--no-proxy-headers",
            "--forwarded-allow-ips", "10.0.0.0/8, unix",
            "--root-path", "/app",
            "--log-level", "debug",
            "--no-access-log",
            "--tls-cert", "/etc/tether/cert.pem",
            "--tls-key", "/etc/tether/key.pem",
            "--no-http2",
            "--tcp-keepalive", "30",
            "--tcp-user-timeout", "45.5",
            "--h2-ping-interval", "15",
            "--h2-ping-timeout", "3.25",
        ])
        let server = settings.server
        #expect(server.host == "0.0.0.0")
        #expect(server.port == 9001)
        #expect(server.unixSocketPath == nil)
        #expect(server.socketDescriptor == nil)
        #expect(settings.workers == 4)
        #expect(server.backlog == 128)
        #expect(server.maxConnections == 500)
        #expect(server.keepAliveTimeout == .milliseconds(2500))
        #expect(settings.gracefulShutdown == .seconds(12))
        #expect(server.proxyHeaders == false)
        #expect(server.forwardedAllowIPs == (try ForwardedAllowList(parsing: "10.0.0.0/8,unix")))
        #expect(server.forwardedAllowIPs.description == "10.0.0.0/8, unix")
        #expect(server.rootPath == "/app")
        #expect(settings.logLevel == .debug)
        #expect(server.accessLog == false)
        #expect(server.tls?.certificateChainPath == "/etc/tether/cert.pem")
        #expect(server.tls?.privateKeyPath == "/etc/tether/key.pem")
        #expect(server.http2.isEnabled == false)
        #expect(server.tcpKeepAlive?.idle == .seconds(30))
        #expect(server.tcpKeepAlive?.interval == .seconds(30))
        #expect(server.tcpKeepAlive?.count == 3)
        #expect(server.tcpUserTimeout == .milliseconds(45_500))
        #expect(server.http2.pingInterval == .seconds(15))
        #expect(server.http2.pingTimeout == .milliseconds(3250))
    }

    @Test func unixSocket() async throws {
        let settings = try await resolve(["--uds", "/run/tether.sock"])
        #expect(settings.server.unixSocketPath == "/run/tether.sock")
        #expect(settings.server.socketDescriptor == nil)
    }

    @Test func inheritedDescriptor() async throws {
        let settings = try await resolve(["--fd", "3"])
        #expect(settings.server.socketDescriptor == 3)
        #expect(settings.server.unixSocketPath == nil)
    }

    @Test func portZeroPicksAFreePort() async throws {
        #expect(try await resolve(["--port", "0"]).server.port == 0)
        #expect(try await resolve(["--port", "65535"]).server.port == 65_535)
    }

    @Test(arguments: ["--timeout-graceful-shutdown", "--grace-period"])
    func gracefulShutdownAndItsAlias(option: String) async throws {
        #expect(try await resolve([option, "7.5"]).gracefulShutdown == .milliseconds(7500))
    }

    @Test(arguments: [
        ["--tls-cert", "/c.pem", "--tls-key", "/k.pem"],
        ["--ssl-certfile", "/c.pem", "--ssl-keyfile", "/k.pem"],
        ["--ssl-certfile", "/c.pem", "--tls-key", "/k.pem"],
    ])
    func tlsAndItsAliases(arguments: [String]) async throws {
        let tls = try await resolve(arguments).server.tls
        #expect(tls?.certificateChainPath == "/c.pem")
        #expect(tls?.privateKeyPath == "/k.pem")
    }

    @Test func theAccessLogFormatComesFromTheCommandLineOrTheEnvironmentAndIsChecked() async throws {
        #expect(try await resolve().server.observability.accessLogFormat == .text)
        #expect(try await resolve(["--access-log-format", "json"]).server.observability.accessLogFormat == .json)
        let fromEnvironment = try await resolve(environment: ["TETHER_ACCESS_LOG_FORMAT": "json"])
        #expect(fromEnvironment.server.observability.accessLogFormat == .json)
        await #expect(throws: (any Error).self) { try await resolve(["--access-log-format", "xml"]) }
    }

    @Test func flagsAndTheirInversions() async throws {
        let on = try await resolve(["--proxy-headers", "--access-log", "--http2"])
        #expect(on.server.proxyHeaders == true)
        #expect(on.server.accessLog == true)
        #expect(on.server.http2.isEnabled == true)
        let off = try await resolve(["--no-proxy-headers", "--no-access-log", "--no-http2"])
        #expect(off.server.proxyHeaders == false)
        #expect(off.server.accessLog == false)
        #expect(off.server.http2.isEnabled == false)
    }

    @Test func commandLineFlagBeatsTheEnvironment() async throws {
        let environment = ["TETHER_PROXY_HEADERS": "false", "TETHER_ACCESS_LOG": "false", "TETHER_HTTP2": "false"]
        let settings = try await resolve(["--proxy-headers", "--access-log", "--http2"], environment: environment)
        #expect(settings.server.proxyHeaders == true)
        #expect(settings.server.accessLog == true)
        #expect(settings.server.http2.isEnabled == true)
    }

    @Test(arguments: ["trace", "debug", "info", "notice", "warning", "error", "critical"])
    func logLevels(name: String) async throws {
        #expect(try await resolve(["--log-level", name]).logLevel.rawValue == name)
    }

    @Test func forwardedAllowListForms() async throws {
        let everyone = try await resolve(["--forwarded-allow-ips", "*"]).server.forwardedAllowIPs
        #expect(everyone == (try ForwardedAllowList(["*"])))
        let list = try await resolve(["--forwarded-allow-ips", " 192.168.1.1 , fd00::/8,,unix "]).server
            .forwardedAllowIPs
        #expect(list.description == "192.168.1.1, fd00::/8, unix")
        // An empty list trusts no one.
        #expect(try await resolve(["--forwarded-allow-ips", ""]).server.forwardedAllowIPs == ForwardedAllowList.none)
    }

    @Test func emptyRootPathIsAllowed() async throws {
        #expect(try await resolve(["--root-path", ""]).server.rootPath == "")
        #expect(try await resolve(["--root-path", "/a/b"]).server.rootPath == "/a/b")
    }

    @Test func durationsRoundToTheMillisecond() async throws {
        #expect(try await resolve(["--timeout-keep-alive", "0.0004"]).server.keepAliveTimeout == .zero)
        #expect(try await resolve(["--timeout-keep-alive", "0.0006"]).server.keepAliveTimeout == .milliseconds(1))
        #expect(try await resolve(["--timeout-keep-alive", "0"]).server.keepAliveTimeout == .zero)
    }

    // MARK: The environment

    @Test func everyOptionFromTheEnvironment() async throws {
        let settings = try await resolve(environment: [
            "TETHER_HOST": "::",
            "TETHER_PORT": "9002",
            "TETHER_WORKERS": "3",
            "TETHER_BACKLOG": "256",
            "TETHER_LIMIT_CONCURRENCY": "64",
            "TETHER_TIMEOUT_KEEP_ALIVE": "1.5",
            "TETHER_TIMEOUT_GRACEFUL_SHUTDOWN": "9",
            "TETHER_PROXY_HEADERS": "false",
            "TETHER_FORWARDED_ALLOW_IPS": "10.1.0.0/16,172.16.0.1",
            "TETHER_ROOT_PATH": "/env",
            "TETHER_LOG_LEVEL": "warning",
            "TETHER_ACCESS_LOG": "no",
            "TETHER_TLS_CERT": "/env/cert.pem",
            "TETHER_TLS_KEY": "/env/key.pem",
            "TETHER_HTTP2": "0",
            "TETHER_TCP_KEEPALIVE": "20",
            "TETHER_TCP_USER_TIMEOUT": "25",
            "TETHER_H2_PING_INTERVAL": "11",
            "TETHER_H2_PING_TIMEOUT": "6",
        ])
        let server = settings.server
        #expect(server.host == "::")
        #expect(server.port == 9002)
        #expect(settings.workers == 3)
        #expect(server.backlog == 256)
        #expect(server.maxConnections == 64)
        #expect(server.keepAliveTimeout == .milliseconds(1500))
        #expect(settings.gracefulShutdown == .seconds(9))
        #expect(server.proxyHeaders == false)
        #expect(server.forwardedAllowIPs == (try ForwardedAllowList(["10.1.0.0/16", "172.16.0.1"])))
        #expect(server.rootPath == "/env")
        #expect(settings.logLevel == .warning)
        #expect(server.accessLog == false)
        #expect(server.tls?.certificateChainPath == "/env/cert.pem")
        #expect(server.tls?.privateKeyPath == "/env/key.pem")
        #expect(server.http2.isEnabled == false)
        #expect(server.tcpKeepAlive?.idle == .seconds(20))
        #expect(server.tcpKeepAlive?.interval == .seconds(20))
        #expect(server.tcpKeepAlive?.count == 3)
        #expect(server.tcpUserTimeout == .seconds(25))
        #expect(server.http2.pingInterval == .seconds(11))
        #expect(server.http2.pingTimeout == .seconds(6))
    }

    @Test func unixSocketAndDescriptorFromTheEnvironment() async throws {
        #expect(try await resolve(environment: ["TETHER_UDS": "/tmp/t.sock"]).server.unixSocketPath == "/tmp/t.sock")
        #expect(try await resolve(environment: ["TETHER_FD": "5"]).server.socketDescriptor == 5)
    }

    @Test(arguments: [("true", true), ("false", false), ("yes", true), ("no", false), ("1", true), ("0", false)])
    func booleansFromTheEnvironment(value: String, expected: Bool) async throws {
        #expect(try await resolve(environment: ["TETHER_PROXY_HEADERS": value]).server.proxyHeaders == expected)
    }

    @Test func variablesWithoutThePrefixAreIgnored() async throws {
        let settings = try await resolve(environment: ["PORT": "1234", "HOST": "0.0.0.0", "TETHERPORT": "1"])
        #expect(settings.server.port == 8000)
        #expect(settings.server.host == "127.0.0.1")
    }

    @Test func commandLineBeatsTheEnvironment() async throws {
        let environment = [
            "TETHER_PORT": "9100", "TETHER_HOST": "0.0.0.0", "TETHER_TIMEOUT_KEEP_ALIVE": "10",
            "TETHER_FORWARDED_ALLOW_IPS": "*", "TETHER_H2_PING_INTERVAL": "30", "TETHER_WORKERS": "8",
        ]
        let settings = try await resolve(
            ["--port", "9200", "--timeout-keep-alive", "3", "--forwarded-allow-ips", "10.0.0.1", "--workers", "2"],
            environment: environment)
        #expect(settings.server.port == 9200)
        #expect(settings.server.keepAliveTimeout == .seconds(3))
        #expect(settings.server.forwardedAllowIPs == (try ForwardedAllowList(["10.0.0.1"])))
        #expect(settings.workers == 2)
        // Not given on the command line: from the environment.
        #expect(settings.server.host == "0.0.0.0")
        #expect(settings.server.http2.pingInterval == .seconds(30))
    }

    // MARK: The configuration file

    @Test func everyOptionFromTheConfigurationFile() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write(
            "tether.env",
            """
            # A comment, then every option by its variable's name.
            TETHER_HOST=0.0.0.0
            TETHER_PORT=9300
            TETHER_WORKERS=2
            TETHER_BACKLOG=512
            TETHER_LIMIT_CONCURRENCY=77
            TETHER_TIMEOUT_KEEP_ALIVE=4
            TETHER_TIMEOUT_GRACEFUL_SHUTDOWN=2.5
            TETHER_PROXY_HEADERS=false
            TETHER_FORWARDED_ALLOW_IPS=10.0.0.0/8
            TETHER_ROOT_PATH=/file
            TETHER_LOG_LEVEL=error
            TETHER_ACCESS_LOG=false
            TETHER_TLS_CERT=/file/cert.pem
            TETHER_TLS_KEY=/file/key.pem
            TETHER_HTTP2=false
            TETHER_TCP_KEEPALIVE=60
            TETHER_TCP_USER_TIMEOUT=90
            TETHER_H2_PING_INTERVAL=12
            TETHER_H2_PING_TIMEOUT=4.5
            """)
        let settings = try await resolve(["--env-file", path])
        let server = settings.server
        #expect(server.host == "0.0.0.0")
        #expect(server.port == 9300)
        #expect(settings.workers == 2)
        #expect(server.backlog == 512)
        #expect(server.maxConnections == 77)
        #expect(server.keepAliveTimeout == .seconds(4))
        #expect(settings.gracefulShutdown == .milliseconds(2500))
        #expect(server.proxyHeaders == false)
        #expect(server.forwardedAllowIPs == (try ForwardedAllowList(["10.0.0.0/8"])))
        #expect(server.rootPath == "/file")
        #expect(settings.logLevel == .error)
        #expect(server.accessLog == false)
        #expect(server.tls?.certificateChainPath == "/file/cert.pem")
        #expect(server.tls?.privateKeyPath == "/file/key.pem")
        #expect(server.http2.isEnabled == false)
        #expect(server.tcpKeepAlive?.idle == .seconds(60))
        #expect(server.tcpUserTimeout == .seconds(90))
        #expect(server.http2.pingInterval == .seconds(12))
        #expect(server.http2.pingTimeout == .milliseconds(4500))
    }

    @Test func configurationFileFromTheEnvironment() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("tether.env", "TETHER_PORT=9400\nTETHER_UDS=/tmp/file.sock\n")
        let settings = try await resolve(environment: ["TETHER_ENV_FILE": path])
        #expect(settings.server.port == 9400)
        #expect(settings.server.unixSocketPath == "/tmp/file.sock")
    }

    @Test func configurationFileOnTheCommandLineBeatsTheOneInTheEnvironment() async throws {
        let directory = try TemporaryDirectory()
        let fromEnvironment = try directory.write("environment.env", "TETHER_PORT=9401\nTETHER_HOST=10.0.0.1\n")
        let fromCommandLine = try directory.write("command-line.env", "TETHER_PORT=9402\n")
        let settings = try await resolve(
            ["--env-file", fromCommandLine], environment: ["TETHER_ENV_FILE": fromEnvironment])
        #expect(settings.server.port == 9402)
        // The environment's file is not read at all.
        #expect(settings.server.host == "127.0.0.1")
    }

    @Test func commandLineBeatsTheEnvironmentBeatsTheFile() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write(
            "tether.env",
            "TETHER_PORT=9501\nTETHER_HOST=10.0.0.1\nTETHER_ROOT_PATH=/file\nTETHER_LOG_LEVEL=error\nTETHER_WORKERS=5\n"
        )
        let environment = ["TETHER_PORT": "9502", "TETHER_ROOT_PATH": "/env", "TETHER_LOG_LEVEL": "notice"]
        let all = try await resolve(["--env-file", path, "--port", "9503"], environment: environment)
        #expect(all.server.port == 9503)
        #expect(all.server.rootPath == "/env")
        #expect(all.logLevel == .notice)
        #expect(all.server.host == "10.0.0.1")
        #expect(all.workers == 5)
        let noCommandLine = try await resolve(["--env-file", path], environment: environment)
        #expect(noCommandLine.server.port == 9502)
        let fileOnly = try await resolve(["--env-file", path])
        #expect(fileOnly.server.port == 9501)
        #expect(fileOnly.server.rootPath == "/file")
        #expect(fileOnly.logLevel == .error)
    }

    @Test func missingConfigurationFileThrows() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.url.appendingPathComponent("absent.env").path
        await #expect(throws: (any Error).self) { try await resolve(["--env-file", path]) }
    }

    @Test func configurationFileIsValidatedToo() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("tether.env", "TETHER_PORT=70000\n")
        #expect(await validationMessage(["--env-file", path]) == "--port must be 0 to 65535.")
    }

    // MARK: Errors

    /// A value present but malformed is an error, not a silent fallback to the default.
    @Test(arguments: [
        ("TETHER_PORT", "abc", "tether.port"),
        ("TETHER_WORKERS", "two", "tether.workers"),
        ("TETHER_TIMEOUT_KEEP_ALIVE", "soon", "tether.timeoutKeepAlive"),
        ("TETHER_PROXY_HEADERS", "maybe", "tether.proxyHeaders"),
        ("TETHER_H2_PING_INTERVAL", "1m", "tether.h2.pingInterval"),
    ])
    func malformedEnvironmentValueThrows(variable: String, value: String, key: String) async {
        let message = await validationMessage([], environment: [variable: value])
        #expect(message?.hasPrefix("Malformed configuration: \(key): ") == true, "\(message ?? "no error")")
    }

    @Test func malformedConfigurationFileValueThrows() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("tether.env", "TETHER_PORT=abc\n")
        let message = await validationMessage(["--env-file", path])
        #expect(message?.hasPrefix("Malformed configuration: tether.port: ") == true, "\(message ?? "no error")")
    }

    @Test func malformedCommandLineValueThrowsWhileParsing() {
        #expect(throws: (any Error).self) { try ServeOptions.parse(["--port", "abc"]) }
        #expect(throws: (any Error).self) { try ServeOptions.parse(["--timeout-keep-alive", "soon"]) }
        #expect(throws: (any Error).self) { try ServeOptions.parse(["--fd", "4294967296"]) }
        #expect(throws: (any Error).self) { try ServeOptions.parse(["--unknown-option"]) }
    }

    @Test(
        arguments: [
            (["--port", "65536"], [:]),
            (["--port=-1"], [:]),
            ([], ["TETHER_PORT": "70000"]),
            ([], ["TETHER_PORT": "-80"]),
        ] as [([String], [String: String])])
    func portOutOfRange(arguments: [String], environment: [String: String]) async {
        #expect(await validationMessage(arguments, environment: environment) == "--port must be 0 to 65535.")
    }

    @Test(
        arguments: [
            (["--workers", "0"], [:]),
            (["--workers=-2"], [:]),
            ([], ["TETHER_WORKERS": "0"]),
            (["--workers", "1025"], [:]),
            ([], ["TETHER_WORKERS": "100000"]),
        ] as [([String], [String: String])])
    func workersOutOfRange(arguments: [String], environment: [String: String]) async {
        #expect(await validationMessage(arguments, environment: environment) == "--workers must be from 1 to 1024.")
    }

    @Test(arguments: [["--backlog", "0"], ["--limit-concurrency", "0"], ["--backlog=-5"]])
    func backlogAndConcurrencyMustBePositive(arguments: [String]) async {
        #expect(await validationMessage(arguments) == "--backlog and --limit-concurrency must be positive.")
    }

    @Test(arguments: [(["--fd=-1"], [:]), ([], ["TETHER_FD": "-1"])] as [([String], [String: String])])
    func aDescriptorMustNotBeNegative(arguments: [String], environment: [String: String]) async {
        #expect(
            await validationMessage(arguments, environment: environment) == "--fd must be a descriptor, 0 or more.")
    }

    @Test(
        arguments: [
            (["--uds", "/tmp/t.sock", "--fd", "3"], [:]),
            (["--uds", "/tmp/t.sock"], ["TETHER_FD": "3"]),
            ([], ["TETHER_UDS": "/tmp/t.sock", "TETHER_FD": "3"]),
        ] as [([String], [String: String])])
    func unixSocketAndDescriptorTogether(arguments: [String], environment: [String: String]) async {
        #expect(
            await validationMessage(arguments, environment: environment)
                == "--uds and --fd are two ways to listen: give one.")
    }

    @Test(
        arguments: [
            (["--tls-cert", "/c.pem"], [:]),
            (["--ssl-keyfile", "/k.pem"], [:]),
            (["--tls-cert", "/c.pem"], ["TETHER_TLS_CERT": "/e.pem"]),
            ([], ["TETHER_TLS_KEY": "/k.pem"]),
        ] as [([String], [String: String])])
    func tlsCertificateWithoutKey(arguments: [String], environment: [String: String]) async {
        #expect(
            await validationMessage(arguments, environment: environment) == "--tls-cert and --tls-key go together.")
    }

    @Test(arguments: ["app", "/app/", "/", "app/"])
    func badRootPath(root: String) async {
        #expect(
            await validationMessage(["--root-path", root])
                == "--root-path must begin with '/' and not end with one, as '/app'.")
    }

    @Test(arguments: ["loud", "INFO", "warn", ""])
    func badLogLevel(level: String) async {
        #expect(
            await validationMessage(["--log-level", level])
                == "--log-level must be trace, debug, info, notice, warning, error or critical.")
    }

    @Test(arguments: [
        ("10.0.0.1,example.com", "example.com"),
        ("10.0.0.0/33", "10.0.0.0/33"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("1.2.3.4:80", "1.2.3.4:80"),
    ])
    func badAllowListEntry(list: String, entry: String) async {
        #expect(
            await validationMessage(["--forwarded-allow-ips", list])
                == "--forwarded-allow-ips: invalid forwarded-allow entry \"\(entry)\": expected an IP address, a CIDR "
                + "range, unix or *")
    }

    @Test func badAllowListEntryFromTheEnvironment() async {
        #expect(
            await validationMessage([], environment: ["TETHER_FORWARDED_ALLOW_IPS": "localhost"])
                == "--forwarded-allow-ips: invalid forwarded-allow entry \"localhost\": expected an IP address, a "
                + "CIDR range, unix or *")
    }

    @Test(arguments: [
        ("--timeout-keep-alive", "--timeout-keep-alive"),
        ("--timeout-graceful-shutdown", "--timeout-graceful-shutdown"),
        ("--grace-period", "--timeout-graceful-shutdown"),
        ("--tcp-keepalive", "--tcp-keepalive"),
        ("--tcp-user-timeout", "--tcp-user-timeout"),
        ("--h2-ping-interval", "--h2-ping-interval"),
        ("--h2-ping-timeout", "--h2-ping-timeout"),
    ])
    func negativeDuration(option: String, named: String) async {
        #expect(await validationMessage(["\(option)=-1"]) == "\(named) must be seconds, from 0 to 31536000.")
        #expect(await validationMessage(["\(option)=-0.001"]) == "\(named) must be seconds, from 0 to 31536000.")
    }

    @Test(arguments: ["nan", "inf", "-inf"])
    func nonFiniteDuration(value: String) async {
        #expect(
            await validationMessage(["--timeout-keep-alive=\(value)"])
                == "--timeout-keep-alive must be seconds, from 0 to 31536000.")
    }

    @Test func negativeDurationFromTheEnvironment() async {
        #expect(
            await validationMessage([], environment: ["TETHER_H2_PING_INTERVAL": "-5"])
                == "--h2-ping-interval must be seconds, from 0 to 31536000.")
    }

    @Test func largestValuesAccepted() async throws {
        let settings = try await resolve(
            ["--workers", "1024", "--timeout-keep-alive", "31536000", "--backlog", "2147483647"],
            environment: ["TETHER_FD": "2147483647"])
        #expect(settings.workers == 1024)
        #expect(settings.server.keepAliveTimeout == .seconds(31_536_000))
        #expect(settings.server.backlog == Int32.max)
        #expect(settings.server.socketDescriptor == Int32.max)
    }

    @Test(arguments: ["--timeout-keep-alive", "--grace-period", "--tcp-keepalive", "--h2-ping-timeout"])
    func durationLongerThanAYear(option: String) async {
        let named = option == "--grace-period" ? "--timeout-graceful-shutdown" : option
        #expect(
            await validationMessage(["\(option)=31536000.001"]) == "\(named) must be seconds, from 0 to 31536000.")
    }

    // A value too large for the server's types must be refused, not crash the process: each runs in a child
    // process, whose trap would fail the expectation.

    @Test func hugeDurationIsRefusedNotACrash() async {
        await #expect(processExitsWith: .success) {
            do {
                _ = try await ServeOptions.parse(["--timeout-keep-alive", "1e16"]).resolve(environment: [:])
            } catch let error as ValidationError
                where error.message == "--timeout-keep-alive must be seconds, from 0 to 31536000."
            {
                return
            }
            throw CancellationError()
        }
    }

    @Test func descriptorTooLargeInTheEnvironmentIsRefusedNotACrash() async {
        await #expect(processExitsWith: .success) {
            do {
                _ = try await ServeOptions.parse([]).resolve(environment: ["TETHER_FD": "4294967296"])
            } catch let error as ValidationError where error.message == "--fd is out of range: 4294967296." {
                return
            }
            throw CancellationError()
        }
    }

    @Test func backlogTooLargeInTheEnvironmentIsRefusedNotACrash() async {
        await #expect(processExitsWith: .success) {
            do {
                _ = try await ServeOptions.parse([]).resolve(environment: ["TETHER_BACKLOG": "4294967296"])
            } catch let error as ValidationError where error.message == "--backlog is out of range: 4294967296." {
                return
            }
            throw CancellationError()
        }
    }

    // MARK: A worker of a supervisor

    @Test func workerServesTheSocketItsSupervisorHandedIt() async throws {
        let marker = ["TETHER_WORKER_SOCKET_FD": "3"]
        let plain = try await resolve(environment: marker)
        #expect(plain.server.socketDescriptor == 3)
        #expect(plain.server.unixSocketPath == nil)
        #expect(plain.workers == 1)

        let unix = try await resolve(["--workers", "4", "--uds", "/tmp/t.sock"], environment: marker)
        #expect(unix.server.socketDescriptor == 3)
        #expect(unix.server.unixSocketPath == nil)
        #expect(unix.workers == 1)

        let descriptor = try await resolve(["--fd", "7"], environment: marker.merging(["TETHER_WORKERS": "8"]) { $1 })
        #expect(descriptor.server.socketDescriptor == 3)
        #expect(descriptor.server.unixSocketPath == nil)
        #expect(descriptor.workers == 1)

        let port = try await resolve(
            ["--workers", "2", "--port", "9600", "--log-level", "debug"],
            environment: marker.merging(["TETHER_UDS": "/tmp/e.sock"]) { $1 })
        #expect(port.server.socketDescriptor == 3)
        #expect(port.server.unixSocketPath == nil)
        #expect(port.workers == 1)
        // The rest of the options still apply.
        #expect(port.server.port == 9600)
        #expect(port.logLevel == .debug)
    }

    @Test func withoutTheWorkerMarkerTheOptionsStand() async throws {
        let settings = try await resolve(["--workers", "4", "--uds", "/tmp/t.sock"])
        #expect(settings.server.socketDescriptor == nil)
        #expect(settings.server.unixSocketPath == "/tmp/t.sock")
        #expect(settings.workers == 4)
        let malformed = try await resolve(["--workers", "4"], environment: ["TETHER_WORKER_SOCKET_FD": "three"])
        #expect(malformed.server.socketDescriptor == nil)
        #expect(malformed.workers == 4)
    }
}
