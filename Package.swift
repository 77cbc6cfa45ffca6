// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

var package = Package(
    name: "engage",
    products: [
        .library(name: "EngageClient", targets: ["EngageClient"]),
        .executable(name: "engaged", targets: ["engaged"]),
        .executable(name: "engage", targets: ["engage"]),
        .executable(name: "engage-load", targets: ["engage-load"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // The HTTP/JSON API (engaged --http-port). Without its default traits: no swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Only the test that checks the router against the OpenAPI document reads YAML.
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
    ],
    targets: [
        // Debian's liblmdb-dev, never vendored.
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        // A small safe LMDB wrapper: environments, transactions as non-escaping closures, cursors.
        .target(name: "LMDB", dependencies: ["CLMDB"], swiftSettings: swiftSettings),
        .target(name: "CEngageSystem"),
        // Domain values shared by the store, the protocol, the client and the tools. No dependencies.
        .target(name: "EngageModel", swiftSettings: swiftSettings),
        // An async semaphore (request bytes a server buffers, requests a client keeps in flight).
        .target(name: "EngageConcurrency", swiftSettings: swiftSettings),
        // The import format (JSON lines of actions, users and events) read at byte level; shared by `engage
        // import` and the HTTP API.
        .target(name: "EngageJSONLines", dependencies: ["EngageModel"], swiftSettings: swiftSettings),
        // Query results as rows and their JSON, CSV and table renderings: `engage query` prints them, the
        // HTTP API answers with the same bytes.
        .target(name: "EngageOutput", dependencies: ["EngageModel"], swiftSettings: swiftSettings),
        // The dashboard's files (HTML, JS, CSS, the report template), served by the HTTP API and inlined by
        // `engage report`.
        .target(
            name: "EngageDashboard",
            exclude: ["Dashboard/README.md"],
            resources: [.copy("Dashboard")],
            swiftSettings: swiftSettings
        ),
        // The wire protocol: the only module that knows byte layouts.
        .target(
            name: "EngageProtocol",
            dependencies: [
                "EngageModel",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The engagement model on LMDB. No networking.
        .target(
            name: "EngageStore",
            dependencies: [
                "LMDB",
                "CEngageSystem",
                "EngageModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "EngageServer",
            dependencies: [
                "EngageStore",
                "EngageConcurrency",
                "EngageProtocol",
                "EngageModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP/JSON API and the dashboard on Hummingbird: the same requests as the binary protocol,
        // described by openapi.yaml.
        .target(
            name: "EngageHTTP",
            dependencies: [
                "EngageServer",
                "EngageStore",
                "EngageProtocol",
                "EngageModel",
                "EngageOutput",
                "EngageJSONLines",
                "EngageDashboard",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        // The simulated population and event stream of engage-load and the benchmarks.
        .target(name: "EngageWorkload", dependencies: ["EngageModel"], swiftSettings: swiftSettings),
        .target(
            name: "EngageClient",
            dependencies: [
                "EngageProtocol",
                "EngageConcurrency",
                "EngageModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // The ClickHouse tier: an HTTP client (NIOHTTP1), the SQL files of clickhouse/ (embedded), the schema on
        // every shard of a cluster, the queries, and the sync that follows an engaged node's change feed.
        .target(
            name: "EngageClickHouse",
            dependencies: [
                "EngageClient",
                "EngageModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Command-line options shared by engage and engage-load.
        .target(
            name: "EngageCommandLine",
            dependencies: ["EngageClient", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "engaged",
            dependencies: [
                "EngageServer",
                "EngageHTTP",
                "EngageClickHouse",
                "EngageClient",
                "EngageStore",
                "EngageCommandLine",
                "EngageModel",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "engage",
            dependencies: [
                "EngageClient",
                "EngageClickHouse",
                "EngageCommandLine",
                "EngageJSONLines",
                "EngageModel",
                "EngageOutput",
                "EngageDashboard",
                // IngestPayloadBuilder: import writes lines straight into the wire form.
                "EngageProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "engage-load",
            dependencies: [
                "EngageClient",
                "EngageCommandLine",
                "EngageModel",
                "EngageWorkload",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Helpers shared by the test suites (seeded randomness, repository paths); never shipped.
        .target(
            name: "EngageTestSupport",
            dependencies: ["EngageStore"],
            path: "Tests/EngageTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB"], swiftSettings: swiftSettings),
        .testTarget(
            name: "EngageJSONLinesTests",
            dependencies: ["EngageJSONLines", "EngageModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EngageClickHouseTests",
            dependencies: ["EngageClickHouse", "EngageModel", "EngageTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EngageProtocolTests",
            dependencies: [
                "EngageProtocol",
                "EngageTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EngageStoreTests",
            dependencies: ["EngageStore", "EngageModel", "EngageJSONLines", "LMDB", "EngageTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EngageServerTests",
            dependencies: [
                "EngageServer",
                "EngageStore",
                "EngageProtocol",
                "EngageModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EngageIntegrationTests",
            dependencies: [
                "EngageClient", "EngageClickHouse", "EngageModel", "EngageProtocol", "EngageTestSupport",
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// Micro-benchmarks (ordo-one/package-benchmark), outside the normal build and CI:
//   ENGAGE_BENCHMARKS=1 swift package --scratch-path .build-bench --disable-sandbox benchmark
// (tools/benchmarks runs exactly that).
if Context.environment["ENGAGE_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"])
    )
    package.targets.append(
        .executableTarget(
            name: "EngageBenchmarks",
            dependencies: [
                "EngageStore",
                "EngageProtocol",
                "EngageModel",
                "EngageWorkload",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/EngageBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    )
}

// libFuzzer targets, outside the normal build: tools/fuzz builds them with -sanitize=fuzzer,address
// (ENGAGE_FUZZ=1, own build folder) and runs each for a bounded time.
if Context.environment["ENGAGE_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzSupport", path: "Fuzz/FuzzSupport", swiftSettings: swiftSettings))
    for name in ["FuzzFrames", "FuzzRequests", "FuzzResponses"] {
        package.targets.append(
            .executableTarget(
                name: name,
                dependencies: [
                    "FuzzSupport", "EngageProtocol", "EngageModel", .product(name: "NIOCore", package: "swift-nio"),
                ],
                path: "Fuzz/\(name)",
                swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
            )
        )
    }
}

// DocC documentation (swift-docc-plugin), outside the normal build: tools/docs runs
//   ENGAGE_DOCS=1 swift package --scratch-path .build-docs generate-documentation --target EngageClient
if Context.environment["ENGAGE_DOCS"] != nil {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"))
}
