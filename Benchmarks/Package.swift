// swift-tools-version: 6.1
// Benchmarks for Tether, apart from the main package so that its build and CI stay lean.
import PackageDescription

let package = Package(
    name: "TetherBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2")
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
        )
    ],
    swiftLanguageModes: [.v6]
)
