// swift-tools-version: 6.1
// A libFuzzer target for the server's request pipeline, apart from the main package so that its build stays
// plain. Build and run it with Scripts/fuzz.sh.
import Foundation
import PackageDescription

/// The main package's identity: the name of the folder it is checked out in.
let tether = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "TetherFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "tether-fuzz",
            dependencies: [
                .product(name: "TetherServer", package: tether),
                .product(name: "TetherGateway", package: tether),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    ],
    swiftLanguageModes: [.v6]
)
