// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "darkscope",
    products: [
        .executable(name: "darkscope", targets: ["darkscope"]),
        .library(name: "Darknet", targets: ["Darknet"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CNcurses", pkgConfig: "ncursesw", providers: [.apt(["libncurses-dev"])]),
        .systemLibrary(name: "CChafa", pkgConfig: "chafa", providers: [.apt(["libchafa-dev", "libglib2.0-dev"])]),
        .target(name: "DarknetKernels"),
        .target(
            name: "Darknet",
            dependencies: ["DarknetKernels", "CBLAS", "CJPEG", "CPNG"]
        ),
        .target(name: "Render", dependencies: ["CChafa", "CPNG"]),
        // The explorer's state, worker and pictures of networks: no terminal, unit-tested.
        .target(name: "Microscope", dependencies: ["Darknet", "Render"]),
        // The ncurses shell over Microscope.
        .target(name: "Explorer", dependencies: ["Darknet", "Render", "Microscope", "CNcurses"]),
        .executableTarget(
            name: "darkscope",
            dependencies: ["Darknet", "Render", "Microscope", "Explorer", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The parsers' libFuzzer target (see Tests/Fuzz/README.md); without -DFUZZING, a replayer of inputs.
        .executableTarget(name: "darkscope-fuzz", dependencies: ["Darknet"]),
        .testTarget(name: "DarknetTests", dependencies: ["Darknet", "DarknetKernels", "Render"]),
        .testTarget(name: "MicroscopeTests", dependencies: ["Microscope", "Darknet", "Render"]),
    ]
)
