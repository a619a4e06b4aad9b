// swift-tools-version: 6.0
// The wallet ledger engine: a pure ledger core, segment-file storage, a local node, and the `wallet` CLI.
import PackageDescription

/// Release builds keep every precondition (no -Ounchecked): they guard money.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v5),
]

let package = Package(
    name: "wallet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "wallet", targets: ["wallet"]),
        .library(name: "LedgerCore", targets: ["LedgerCore"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "Consensus", targets: ["Consensus"]),
        .library(name: "Cluster", targets: ["Cluster"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Named only for their products that the fast read path (HTTPShim) uses; Hummingbird brings them.
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        .target(name: "CSupport", cSettings: [.unsafeFlags(["-O3"])]),
        .target(
            name: "LedgerCore",
            dependencies: ["CSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(name: "Randomness", swiftSettings: swiftSettings),
        .target(name: "Consensus", dependencies: ["Randomness"], swiftSettings: swiftSettings),
        .target(
            name: "Storage",
            dependencies: ["LedgerCore", "CSupport", "CLZ4"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Workload",
            dependencies: ["LedgerCore", "Randomness"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Replica",
            dependencies: ["LedgerCore", "Storage"],
            swiftSettings: swiftSettings
        ),
        // The replicated runtime: wire protocol, NIO transport, the replica process, the client library.
        .target(
            name: "Cluster",
            dependencies: [
                "LedgerCore", "Storage", "Replica", "Consensus", "CSupport", "Randomness",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP query shim: the read model and the wallet's REST API on Hummingbird.
        .target(
            name: "HTTPShim",
            dependencies: [
                "LedgerCore", "Storage", "Replica", "Cluster",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "wallet",
            dependencies: [
                "LedgerCore", "Storage", "Replica", "Workload", "Cluster", "CSupport", "HTTPShim",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // Helpers shared by the test targets (temporary directories); not shipped in any product.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: swiftSettings),
        .testTarget(name: "LedgerCoreTests", dependencies: ["LedgerCore", "Workload"], swiftSettings: swiftSettings),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "LedgerCore", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "ReplicaTests", dependencies: ["Replica", "Storage", "LedgerCore", "Workload", "Randomness", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "ConsensusTests", dependencies: ["Consensus", "LedgerCore", "Workload"], swiftSettings: swiftSettings),
        .testTarget(name: "WalletCLITests", dependencies: ["wallet", "LedgerCore", "Storage", "Replica", "Workload", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "HTTPTests", dependencies: ["wallet", "HTTPShim", "LedgerCore", "Cluster", "TestSupport", "Randomness", .product(name: "NIOCore", package: "swift-nio")], swiftSettings: swiftSettings),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "wallet", "LedgerCore", "Storage", "Workload", "Consensus", "TestSupport"], swiftSettings: swiftSettings),
    ]
)
