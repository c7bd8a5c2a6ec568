// swift-tools-version: 6.0
// Quill: train a small GPT on any text and serve it over HTTP, in Swift on Linux.
// Module layout and dependency directions follow ../shared/docs/DESIGN.md: each module depends only on the
// modules listed above it.
import Foundation
import PackageDescription

/// Kernels are compiled for the CPU that QUILL_TARGET_CPU names (e.g. haswell: AVX2 + FMA, every x86-64 server since
/// 2013; skylake-avx512), or else for the machine that builds: skylake-avx512 where its /proc/cpuinfo lists
/// AVX-512 (F, BW, DQ, VL), haswell elsewhere, as `-march=native` or llama.cpp's GGML_NATIVE would. On AVX-512 the
/// kernels' 16-float panel rows are single zmm registers, and QUILL_AVX512 turns on the tiles that need its 32
/// registers (BENCHMARKS.md, issue 12). A binary built that way runs only on AVX-512 machines: the container image
/// builds for haswell (Dockerfile), to run anywhere.
/// The flags line of the building machine's /proc/cpuinfo (empty elsewhere).
let hostFlags: Set<String> = {
    #if os(Linux) && arch(x86_64)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    return Set(line.split(separator: " ").map(String.init))
    #else
    return []
    #endif
}()
let hostHasAVX512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(hostFlags.contains)
/// AVX-512 VNNI (vpdpbusd: 64 byte products summed into 16 ints per instruction), for the 8-bit products of 1 to 15
/// rows: on the building machine when it lists avx512_vnni and QUILL_TARGET_CPU is unset, or when QUILL_TARGET_CPU
/// names a CPU that has it (Cascade Lake and later; not skylake-avx512).
let hostHasVNNI = hostHasAVX512 && hostFlags.contains("avx512_vnni")
let requestedCPU = Context.environment["QUILL_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 }
let targetCPU = requestedCPU ?? (hostHasAVX512 ? "skylake-avx512" : "haswell")
let avx512CPUs: Set = ["skylake-avx512", "cascadelake", "cooperlake", "icelake-server", "icelake-client", "tigerlake",
                       "sapphirerapids", "emeraldrapids", "graniterapids", "x86-64-v4", "znver4", "znver5"]
let vnniCPUs: Set = ["cascadelake", "cooperlake", "icelake-server", "icelake-client", "tigerlake", "sapphirerapids",
                     "emeraldrapids", "graniterapids", "znver4", "znver5"]
let useVNNI = requestedCPU.map(vnniCPUs.contains) ?? hostHasVNNI
let fast: [SwiftSetting] = {
    #if arch(x86_64)
    return [.unsafeFlags(["-target-cpu", targetCPU])] + (avx512CPUs.contains(targetCPU) ? [.define("QUILL_AVX512")] : [])
        + (useVNNI ? [.define("QUILL_VNNI")] : [])
    #else
    return []
    #endif
}()

let package = Package(
    name: "Quill",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "quill-bench", targets: ["quill-bench"]),
        .executable(name: "quill-train", targets: ["quill-train"]),
        .executable(name: "quill-server", targets: ["quill-server"]),
        .library(name: "QuillModel", targets: ["QuillModel"]),
        .library(name: "QuillTokenizers", targets: ["QuillTokenizers"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // MARK: - C libraries (Debian: libopenblas-dev, libssl-dev, zlib1g-dev)
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // Open MPI, loaded with dlopen when mpirun starts quill-train (no build or link dependency).
        .target(name: "CQuillMPI", linkerSettings: [.linkedLibrary("dl")]),
        // The 8-bit integer kernels (AVX-512 VNNI intrinsics), compiled in only where QUILL_VNNI is.
        .target(name: "CQuillKernels", cSettings: useVNNI ? [.define("QUILL_VNNI")] : []),

        // MARK: - Libraries, in dependency order
        .target(name: "QuillSettings"),
        .target(name: "QuillJSON"),
        .target(name: "QuillTensor", dependencies: ["CBLAS", "CQuillKernels"], swiftSettings: fast),
        .target(name: "QuillTokenizers", dependencies: [.product(name: "HeapModule", package: "swift-collections")],
                swiftSettings: fast),
        .target(name: "QuillModel", dependencies: ["QuillTensor"], swiftSettings: fast),
        .target(name: "QuillCheckpoint", dependencies: ["QuillTensor", "QuillModel", "QuillTokenizers", "COpenSSL", "QuillJSON"]),
        .target(name: "QuillTraining", dependencies: ["QuillTensor", "QuillModel", "QuillCheckpoint", "QuillTokenizers", "CZlib",
                                                     "CQuillMPI", "QuillSettings"],
                swiftSettings: fast),
        .target(name: "QuillHTTP", dependencies: ["CZlib", "COpenSSL", .product(name: "HTTPTypes", package: "swift-http-types")]),
        .target(name: "QuillService", dependencies: [
            "QuillHTTP", "QuillModel", "QuillCheckpoint", "QuillTokenizers", "QuillSettings", "QuillJSON",
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "DequeModule", package: "swift-collections"),
        ],
        // The playground's files, compiled into the binary as byte arrays (PackageResources.*): edited as what they
        // are, served without a resource bundle to find at run time.
        resources: [
            .embedInCode("Resources/playground.html"), .embedInCode("Resources/playground.css"),
            .embedInCode("Resources/playground.js"), .embedInCode("Resources/favicon.svg"),
            .embedInCode("Resources/favicon.ico"),
        ],
        swiftSettings: fast),

        // MARK: - Executables
        .executableTarget(
            name: "quill-bench",
            dependencies: [
                "QuillTensor", "QuillModel", "QuillTokenizers", "QuillCheckpoint",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast),

        .executableTarget(
            name: "quill-train",
            dependencies: [
                "QuillTensor", "QuillModel", "QuillTokenizers", "QuillCheckpoint", "QuillTraining", "QuillSettings",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast),

        .executableTarget(
            name: "quill-server",
            dependencies: [
                "QuillHTTP", "QuillService", "QuillModel", "QuillCheckpoint", "QuillTensor", "QuillSettings",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // libFuzzer harnesses (make fuzz), and their replayer when built normally.
        .executableTarget(
            name: "quill-fuzz",
            dependencies: [
                "QuillHTTP", "QuillService", "QuillModel", "QuillCheckpoint", "QuillTokenizers", "QuillJSON",
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]),

        // MARK: - Tests
        .testTarget(name: "QuillSettingsTests", dependencies: ["QuillSettings"]),
        .testTarget(name: "QuillJSONTests", dependencies: ["QuillJSON"]),
        .testTarget(name: "QuillTensorTests", dependencies: ["QuillTensor"], swiftSettings: fast),
        .testTarget(name: "QuillTokenizersTests", dependencies: ["QuillTokenizers"]),
        .testTarget(name: "QuillModelTests", dependencies: ["QuillModel", "QuillTensor"], swiftSettings: fast),
        .testTarget(name: "QuillCheckpointTests",
                    dependencies: ["QuillCheckpoint", "QuillModel", "QuillTensor", "QuillTokenizers"]),
        .testTarget(name: "QuillTrainingTests",
                    dependencies: ["QuillTraining", "QuillCheckpoint", "QuillModel", "QuillTensor", "QuillTokenizers",
                                   "QuillSettings"],
                    swiftSettings: fast),
        .testTarget(name: "QuillHTTPTests",
                    dependencies: ["QuillHTTP", "COpenSSL", .product(name: "HTTPTypes", package: "swift-http-types")]),
        .testTarget(name: "QuillServiceTests",
                    dependencies: ["QuillService", "QuillHTTP", "QuillModel", "QuillCheckpoint", "QuillTokenizers", "QuillJSON",
                                   "QuillTensor", "QuillSettings", .product(name: "HTTPTypes", package: "swift-http-types"),
                                   .product(name: "Logging", package: "swift-log")]),
    ],
    swiftLanguageModes: [.v6]
)
