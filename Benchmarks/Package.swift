// swift-tools-version: 6.1
// Benchmarks for Tether, apart from the main package so that its build and CI stay lean.
import PackageDescription

let package = Package(
    name: "TetherBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Tether", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
    ],
    targets: [
        // The ceiling: the smallest correct SwiftNIO HTTP/1.1 hello server.
        .executableTarget(
            name: "baseline",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // A framework for comparison: Hummingbird 2 with its defaults, serving the same hello route.
        .executableTarget(
            name: "hummingbird-hello",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
        // The same framework's HTTP/2 server (HummingbirdHTTP2): h2c by prior knowledge, or TLS with ALPN h2/http1.1
        // given a certificate; the hello route, and a /slow/ and /stats/ like tether-demo's.
        .executableTarget(
            name: "hummingbird-h2",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The WebSocket ceiling: the smallest SwiftNIO WebSocket echo server (NIOWebSocketServerUpgrader, fragments
        // aggregated by NIOWebSocketFrameAggregator) on /ws/echo/, and the HTTP/1.1 hello route.
        .executableTarget(
            name: "baseline-ws",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        // Hummingbird 2's WebSocket server (HummingbirdWebSocket) with its defaults: an echo on /ws/echo/, and hello.
        .executableTarget(
            name: "hummingbird-ws",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            ]
        ),
        // The WebSocket load generator: echo round trips over N connections, or N idle connections held open.
        .executableTarget(
            name: "ws-load",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        // Micro-benchmarks (package-benchmark): `swift package benchmark`.
        .executableTarget(
            name: "TetherBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TetherWeb", package: "Tether"),
                .product(name: "TetherGateway", package: "Tether"),
                .product(name: "TetherTesting", package: "Tether"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/TetherBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
