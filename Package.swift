// swift-tools-version:6.0
// Seer: SeerNet-style performance predictors for automated model compression, coordinator and agents over ZeroMQ.
import PackageDescription

let package = Package(
    name: "Seer",
    products: [
        .executable(name: "seer-coordinator", targets: ["SeerCoordinatorCLI"]),
        .executable(name: "seer-agent", targets: ["SeerAgentCLI"]),
        .executable(name: "seer-bench", targets: ["SeerBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // C shims: module maps only, no Swift API.
        .systemLibrary(name: "CBLAS", path: "Sources/Shims/CBLAS"),
        .systemLibrary(name: "CZeroMQ", path: "Sources/Shims/CZeroMQ"),
        .systemLibrary(name: "CZlib", path: "Sources/Shims/CZlib"),
        // Hand-written kernels in C (the engine's AVX-512 direct convolution, the FMA peak probe), likewise no Swift API.
        .target(name: "CSeerKernels", path: "Sources/Shims/CSeerKernels"),
        // oneDNN's convolution primitives behind a small C API (Debian libdnnl-dev; its OpenMP runtime is libgomp).
        .target(name: "CSeerDNNL", dependencies: ["CSeerKernels"], path: "Sources/Shims/CSeerDNNL",
                linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        // PNG and JPEG decoding for image-folder datasets (libpng, libjpeg-turbo), with libjpeg's errors made returns.
        .target(name: "CImageCodecs", path: "Sources/Shims/CImageCodecs",
                linkerSettings: [.linkedLibrary("png"), .linkedLibrary("jpeg")]),

        // Shared: what coordinator and agent both need, one focused module per folder.
        .target(name: "SeerTensor", dependencies: ["CBLAS"], path: "Sources/Shared/Tensor"),
        .target(name: "SeerEngine", dependencies: ["SeerTensor", "CSeerKernels", "CSeerDNNL"], path: "Sources/Shared/Engine"),
        .target(name: "SeerData", dependencies: ["SeerTensor", "CZlib", "CImageCodecs"], path: "Sources/Shared/Data"),
        .target(name: "SeerModels", dependencies: ["SeerEngine", "SeerData"], path: "Sources/Shared/Models"),
        .target(name: "SeerTraining", dependencies: ["SeerModels", "SeerData", "SeerEngine"],
                path: "Sources/Shared/Training"),
        .target(name: "SeerCompression", dependencies: ["SeerModels", "SeerEngine", "SeerTensor", "Yams"],
                path: "Sources/Shared/Compression"),
        .target(name: "SeerMeasurement", dependencies: ["SeerCompression", "SeerTraining", "SeerData", "SeerModels"],
                path: "Sources/Shared/Measurement"),
        .target(name: "SeerExport", dependencies: ["SeerEngine", "SeerModels", "SeerCompression", "SeerMeasurement"],
                path: "Sources/Shared/Export"),
        .target(name: "SeerWire", path: "Sources/Shared/Wire"),
        .target(name: "SeerSearch", dependencies: ["SeerPredictor", "SeerCompression", "SeerModels", "SeerMeasurement"],
                path: "Sources/Coordinator/Search"),
        .target(name: "SeerTransport", dependencies: ["CZeroMQ"], path: "Sources/Shared/Transport"),
        // Options both command-line programs take alike.
        .target(name: "SeerCommandLine", dependencies: ["SeerData", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                path: "Sources/Shared/CommandLine"),

        // Coordinator: predictor, campaign, broker; a thin @main on top.
        .target(name: "SeerPredictor", path: "Sources/Coordinator/Predictor"),
        .target(name: "SeerCoordinator",
                dependencies: ["SeerTraining", "SeerModels", "SeerData", "SeerCompression", "SeerMeasurement", "SeerPredictor",
                               "SeerSearch", "SeerWire", "SeerExport",
                               "SeerTransport",
                               .product(name: "GRDB", package: "GRDB.swift"), "Yams"],
                path: "Sources/Coordinator/Core"),
        // The live web view over HTTP (Hummingbird on SwiftNIO); the broker and campaigns know nothing of it.
        .target(name: "SeerWeb", dependencies: ["SeerCoordinator", .product(name: "Hummingbird", package: "hummingbird")],
                path: "Sources/Coordinator/Web"),
        .executableTarget(name: "SeerCoordinatorCLI",
                          dependencies: ["SeerCoordinator", "SeerWeb", "SeerTraining", "SeerEngine", "SeerModels", "SeerData", "SeerTensor",
                                         "SeerPredictor", "SeerSearch", "SeerCompression", "SeerMeasurement", "SeerWire",
                                         "SeerTransport", "SeerCommandLine",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/Coordinator/CLI"),

        // Agent: worker loop and executors; a thin @main on top.
        .target(name: "SeerAgent", dependencies: ["SeerTraining", "SeerModels", "SeerData", "SeerCompression", "SeerMeasurement",
                                                  "SeerExport", "SeerWire", "SeerTransport"],
                path: "Sources/Agent/Core"),
        .executableTarget(name: "SeerAgentCLI",
                          dependencies: ["SeerAgent", "SeerEngine", "SeerCompression", "SeerMeasurement", "SeerModels", "SeerTraining", "SeerData", "SeerTensor",
                                         "SeerWire", "SeerExport", "SeerCommandLine",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/Agent/CLI"),

        // Benchmarks behind bench/*: never part of `make test`.
        .executableTarget(name: "SeerBench",
                          dependencies: ["CSeerKernels", "SeerTraining", "SeerModels", "SeerData", "SeerEngine", "SeerCompression",
                                         "SeerMeasurement", "SeerSearch", "SeerPredictor", "SeerExport", "SeerCoordinator",
                                         "SeerTransport",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/Bench"),

        .testTarget(name: "SeerTensorTests", dependencies: ["SeerTensor"], path: "Tests/SeerTensorTests"),
        .testTarget(name: "SeerEngineTests", dependencies: ["SeerEngine"], path: "Tests/SeerEngineTests"),
        .testTarget(name: "SeerDataTests", dependencies: ["SeerData"], path: "Tests/SeerDataTests"),
        .testTarget(name: "SeerModelsTests", dependencies: ["SeerModels", "SeerTraining"], path: "Tests/SeerModelsTests"),
        .testTarget(name: "SeerCompressionTests", dependencies: ["SeerCompression", "SeerTraining", "SeerMeasurement"],
                    path: "Tests/SeerCompressionTests"),
        .testTarget(name: "SeerWireTests", dependencies: ["SeerWire"], path: "Tests/SeerWireTests"),
        .testTarget(name: "SeerTransportTests", dependencies: ["SeerTransport"], path: "Tests/SeerTransportTests"),
        .testTarget(name: "SeerPredictorTests", dependencies: ["SeerPredictor"], path: "Tests/SeerPredictorTests"),
        .testTarget(name: "SeerExportTests", dependencies: ["SeerExport", "SeerMeasurement"], path: "Tests/SeerExportTests"),
        .testTarget(name: "SeerSearchTests", dependencies: ["SeerSearch", "SeerMeasurement"], path: "Tests/SeerSearchTests"),
        .testTarget(name: "SeerMeasurementTests", dependencies: ["SeerMeasurement", "SeerCompression", "SeerModels"],
                    path: "Tests/SeerMeasurementTests"),
        .testTarget(name: "SeerCoordinatorTests", dependencies: ["SeerCoordinator", "SeerModels", "SeerData", "SeerSearch", "SeerPredictor",
                                                               "SeerMeasurement", "SeerExport", "SeerTraining"],
                    path: "Tests/SeerCoordinatorTests"),
        .testTarget(name: "SeerWebTests", dependencies: ["SeerWeb", "SeerCoordinator", "SeerWire"], path: "Tests/SeerWebTests"),
        .testTarget(name: "SeerFabricTests", dependencies: ["SeerCoordinator", "SeerAgent", "SeerWire", "SeerTransport",
                                                          "SeerExport", "SeerModels", "SeerCompression", "SeerMeasurement", "SeerData"],
                    path: "Tests/SeerFabricTests"),
    ],
    swiftLanguageModes: [.v5]
)
