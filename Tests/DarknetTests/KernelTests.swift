import DarknetKernels
import XCTest

/// The convolution kernels against a plain convolution computed as Darknet's GEMM does
/// (each product rounded and added in k order, zeros of the padding included), for every
/// instruction set this CPU runs: odd shapes, K blocks, panels packed and read in place,
/// epilogues. Bit for bit.
final class KernelTests: XCTestCase {
    struct Case {
        var channels, height, width, size, stride, padding, filters: Int
        var batchNormalize: Bool
        var activation: ds_activation
    }

    static let cases = [
        Case(channels: 3, height: 9, width: 11, size: 3, stride: 1, padding: 1, filters: 7, batchNormalize: true, activation: DS_LEAKY),
        Case(channels: 5, height: 8, width: 8, size: 1, stride: 1, padding: 0, filters: 30, batchNormalize: false, activation: DS_RELU),
        // K = 2,700: several K blocks, each added to the last.
        Case(channels: 300, height: 5, width: 6, size: 3, stride: 1, padding: 1, filters: 13, batchNormalize: true, activation: DS_IDENTITY),
        Case(channels: 4, height: 20, width: 37, size: 3, stride: 2, padding: 1, filters: 25, batchNormalize: true, activation: DS_LEAKY),
        // Rows of 40: most panels lie inside the image and are read in place.
        Case(channels: 2, height: 40, width: 40, size: 3, stride: 1, padding: 1, filters: 2, batchNormalize: false, activation: DS_LEAKY),
        Case(channels: 3, height: 7, width: 50, size: 5, stride: 1, padding: 0, filters: 49, batchNormalize: true, activation: DS_RELU),
        Case(channels: 64, height: 16, width: 16, size: 1, stride: 1, padding: 0, filters: 24, batchNormalize: true, activation: DS_LEAKY),
    ]

    func testEveryKernelMatchesAPlainConvolution() {
        var generator = SystemRandomNumberGenerator()
        let kernels = [DS_PORTABLE, DS_AVX2, DS_AVX512].filter { ds_kernel_runs_here($0) != 0 }
        XCTAssertTrue(kernels.contains(DS_PORTABLE))
        for test in Self.cases {
            let image = (0..<test.channels * test.height * test.width).map { _ in Float.random(in: -1...1, using: &generator) }
            let k = test.channels * test.size * test.size
            let weights = (0..<test.filters * k).map { _ in Float.random(in: -1...1, using: &generator) }
            let mean = (0..<test.filters).map { _ in Float.random(in: -1...1, using: &generator) }
            let inverse = (0..<test.filters).map { _ in Double.random(in: 0.5...2, using: &generator) }
            let scale = (0..<test.filters).map { _ in Float.random(in: 0.5...2, using: &generator) }
            let bias = (0..<test.filters).map { _ in Float.random(in: -1...1, using: &generator) }
            let outHeight = (test.height + 2 * test.padding - test.size) / test.stride + 1
            let outWidth = (test.width + 2 * test.padding - test.size) / test.stride + 1
            let n = outHeight * outWidth
            let expected = reference(test, image: image, weights: weights, mean: mean, inverse: inverse, scale: scale,
                                     bias: bias, outHeight: outHeight, outWidth: outWidth)
            for kernel in kernels {
                var packed = [Float](repeating: .nan, count: ds_packed_weights_count(kernel, Int32(test.filters), Int32(k)))
                ds_pack_weights(kernel, weights, Int32(test.filters), Int32(k), &packed)
                var out = [Float](repeating: .nan, count: test.filters * n)
                withBuffers(image, mean, inverse, scale, bias) { pixels, mean, inverse, scale, bias in
                    var epilogue = ds_epilogue(mean: test.batchNormalize ? mean : nil, inverse: inverse,
                                               scale: scale, bias: bias, activation: test.activation)
                    var convolution = ds_convolution(
                        image: pixels, channels: Int32(test.channels), height: Int32(test.height),
                        width: Int32(test.width), size: Int32(test.size), stride: Int32(test.stride),
                        padding: Int32(test.padding), out_height: Int32(outHeight), out_width: Int32(outWidth))
                    // In parts, as threads would: columns split anywhere, rows at a panel.
                    let split = n / 3, rows = ds_panel_rows(kernel), m = Int32(test.filters)
                    let row = min(m, rows * ((m / rows + 1) / 2))
                    ds_convolve(kernel, &convolution, packed, m, &epilogue, 0, split, 0, m, &out)
                    ds_convolve(kernel, &convolution, packed, m, &epilogue, split, n, 0, row, &out)
                    ds_convolve(kernel, &convolution, packed, m, &epilogue, split, n, row, m, &out)
                }
                let differing = zip(out, expected).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "kernel \(kernel.rawValue), \(test): \(differing) of \(out.count) outputs differ")
            }
        }
    }

    private func withBuffers(_ image: [Float], _ mean: [Float], _ inverse: [Double], _ scale: [Float], _ bias: [Float],
                             _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Double>,
                                      UnsafePointer<Float>, UnsafePointer<Float>) -> Void) {
        image.withUnsafeBufferPointer { image in
            mean.withUnsafeBufferPointer { mean in
                inverse.withUnsafeBufferPointer { inverse in
                    scale.withUnsafeBufferPointer { scale in
                        bias.withUnsafeBufferPointer { bias in
                            body(image.baseAddress!, mean.baseAddress!, inverse.baseAddress!, scale.baseAddress!, bias.baseAddress!)
                        }
                    }
                }
            }
        }
    }

    /// Darknet's im2col + GEMM + batch norm + activation, written out.
    private func reference(_ test: Case, image: [Float], weights: [Float], mean: [Float], inverse: [Double], scale: [Float],
                           bias: [Float], outHeight: Int, outWidth: Int) -> [Float] {
        var out: [Float] = []
        for f in 0..<test.filters {
            for y in 0..<outHeight {
                for x in 0..<outWidth {
                    var sum: Float = 0
                    for c in 0..<test.channels {
                        for dy in 0..<test.size {
                            for dx in 0..<test.size {
                                let iy = y * test.stride + dy - test.padding, ix = x * test.stride + dx - test.padding
                                let inside = iy >= 0 && iy < test.height && ix >= 0 && ix < test.width
                                let w = weights[((f * test.channels + c) * test.size + dy) * test.size + dx]
                                let product = w * (inside ? image[(c * test.height + iy) * test.width + ix] : 0)
                                sum += product
                            }
                        }
                    }
                    var v = sum
                    if test.batchNormalize {
                        v = Float(Double(v - mean[f]) * inverse[f])
                        v *= scale[f]
                    }
                    v += bias[f]
                    switch test.activation {
                    case DS_LEAKY: v = v > 0 ? v : Float(0.1 * Double(v))
                    case DS_RELU: v = v > 0 ? v : 0
                    default: break
                    }
                    out.append(v)
                }
            }
        }
        return out
    }
}
