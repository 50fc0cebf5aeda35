import Darknet
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
        /// AlexeyAB's `stride_y` where it differs from `stride` (across), and `dilation`;
        /// `padding` is in pixels, as the kernels take it.
        var strideY: Int? = nil
        var dilation = 1

        var rowStride: Int { strideY ?? stride }
        var span: Int { (size - 1) * dilation + 1 }
    }

    static let cases = [
        Case(channels: 3, height: 9, width: 11, size: 3, stride: 1, padding: 1, filters: 7, batchNormalize: true, activation: DS_LEAKY),
        Case(channels: 5, height: 8, width: 8, size: 1, stride: 1, padding: 0, filters: 30, batchNormalize: false, activation: DS_RELU),
        // K = 2,700: several K blocks, each added to the last.
        Case(channels: 300, height: 5, width: 6, size: 3, stride: 1, padding: 1, filters: 13, batchNormalize: true, activation: DS_IDENTITY),
        Case(channels: 4, height: 20, width: 37, size: 3, stride: 2, padding: 1, filters: 25, batchNormalize: true, activation: DS_LEAKY),
        // One column (a 1 × 1 image): its own AVX-512 path, rows in the lanes.
        Case(channels: 300, height: 1, width: 1, size: 1, stride: 1, padding: 0, filters: 50, batchNormalize: true, activation: DS_LEAKY),
        // AlexNet's first layer: stride 4, partly padded.
        Case(channels: 3, height: 31, width: 35, size: 11, stride: 4, padding: 2, filters: 5, batchNormalize: false, activation: DS_RELU),
        // Stride 4 on rows of 26 outputs: panels span two rows, windows past the left and right edges.
        Case(channels: 3, height: 45, width: 101, size: 11, stride: 4, padding: 5, filters: 30, batchNormalize: true, activation: DS_LEAKY),
        // ResNet's first layer, on an odd image: stride 2 with windows past every edge.
        Case(channels: 3, height: 23, width: 29, size: 7, stride: 2, padding: 3, filters: 10, batchNormalize: true, activation: DS_RELU),
        // Rows of 40: most panels lie inside the image and are read in place.
        Case(channels: 2, height: 40, width: 40, size: 3, stride: 1, padding: 1, filters: 2, batchNormalize: false, activation: DS_LEAKY),
        Case(channels: 3, height: 7, width: 50, size: 5, stride: 1, padding: 0, filters: 49, batchNormalize: true, activation: DS_RELU),
        Case(channels: 64, height: 16, width: 16, size: 1, stride: 1, padding: 0, filters: 24, batchNormalize: true, activation: DS_LEAKY),
        // AlexeyAB's: dilated windows (padded by pad × dilation), strides unlike across and down.
        Case(channels: 5, height: 19, width: 23, size: 3, stride: 1, padding: 2, filters: 9, batchNormalize: true, activation: DS_LEAKY,
             dilation: 2),
        Case(channels: 4, height: 21, width: 40, size: 3, stride: 2, padding: 3, filters: 7, batchNormalize: false, activation: DS_RELU,
             strideY: 1, dilation: 3),
        Case(channels: 6, height: 17, width: 35, size: 1, stride: 1, padding: 0, filters: 8, batchNormalize: true, activation: DS_IDENTITY,
             strideY: 2),
    ]

    /// One case's random inputs and parameters, and Darknet's result for them.
    struct Fixture {
        var test: Case
        var image, weights, mean, scale, bias: [Float]
        var inverse: [Double]
        var outHeight, outWidth: Int
        var expected: [Float] = []

        init(_ test: Case) {
            var generator = SystemRandomNumberGenerator()
            func values(_ count: Int, _ range: ClosedRange<Float>) -> [Float] {
                (0..<count).map { _ in Float.random(in: range, using: &generator) }
            }
            self.test = test
            image = values(test.channels * test.height * test.width, -1...1)
            weights = values(test.filters * test.channels * test.size * test.size, -1...1)
            mean = values(test.filters, -1...1)
            inverse = (0..<test.filters).map { _ in Double.random(in: 0.5...2, using: &generator) }
            scale = values(test.filters, 0.5...2)
            bias = values(test.filters, -1...1)
            outHeight = (test.height + 2 * test.padding - test.span) / test.rowStride + 1
            outWidth = (test.width + 2 * test.padding - test.span) / test.stride + 1
            expected = reference()
        }

        var n: Int { outHeight * outWidth }

        /// The case's weights transformed and packed for `ds_winograd` with tiles of `size`.
        func winogradWeights(_ kernel: ds_kernel, size: Int32) -> [Float] {
            let m = Int32(test.filters), channels = Int32(test.channels), filter = Int32(test.size)
            var packed = [Float](repeating: .nan, count: ds_winograd_packed_count(kernel, m, channels, filter, size))
            ds_winograd_pack_weights(kernel, weights, m, channels, filter, size, &packed)
            return packed
        }

        /// The working memory one call of `ds_winograd` needs, with tiles of `size`.
        func winogradScratch(_ kernel: ds_kernel, size: Int32) -> [Float] {
            [Float](repeating: .nan, count: ds_winograd_scratch_count(kernel, Int32(test.channels), Int32(test.size), size))
        }

        /// Runs `body` with the case as the kernels take it (with the folded epilogue if `folded`).
        func run(folded: Bool = false, _ body: (UnsafePointer<ds_convolution>, UnsafePointer<ds_epilogue>) -> Void) {
            image.withUnsafeBufferPointer { pixels in
                mean.withUnsafeBufferPointer { mean in
                    inverse.withUnsafeBufferPointer { inverse in
                        scale.withUnsafeBufferPointer { scale in
                            bias.withUnsafeBufferPointer { bias in
                                var epilogue = ds_epilogue(mean: test.batchNormalize ? mean.baseAddress : nil,
                                                           inverse: inverse.baseAddress, scale: scale.baseAddress,
                                                           bias: bias.baseAddress, activation: test.activation, folded: folded ? 1 : 0,
                                                           shortcut: 0, shortcut_activation: DS_IDENTITY)
                                var convolution = ds_convolution(
                                    image: pixels.baseAddress, channels: Int32(test.channels), height: Int32(test.height),
                                    width: Int32(test.width), size: Int32(test.size), stride_x: Int32(test.stride),
                                    stride_y: Int32(test.rowStride), dilation: Int32(test.dilation), padding: Int32(test.padding), out_height: Int32(outHeight), out_width: Int32(outWidth),
                                    phases: nil)
                                body(&convolution, &epilogue)
                            }
                        }
                    }
                }
            }
        }

        /// Darknet's im2col + GEMM + batch norm + activation, written out.
        private func reference() -> [Float] {
            var out: [Float] = []
            for f in 0..<test.filters {
                for y in 0..<outHeight {
                    for x in 0..<outWidth {
                        var sum: Float = 0
                        for c in 0..<test.channels {
                            for dy in 0..<test.size {
                                for dx in 0..<test.size {
                                    let iy = y * test.rowStride + dy * test.dilation - test.padding
                                    let ix = x * test.stride + dx * test.dilation - test.padding
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

    static let kernels = [DS_PORTABLE, DS_AVX2, DS_AVX512].filter { ds_kernel_runs_here($0) != 0 }

    func testEveryKernelMatchesAPlainConvolution() {
        XCTAssertTrue(Self.kernels.contains(DS_PORTABLE))
        for fixture in Self.cases.map(Fixture.init) {
            let test = fixture.test, n = fixture.n, k = test.channels * test.size * test.size
            for kernel in Self.kernels {
                var packed = [Float](repeating: .nan, count: ds_packed_weights_count(kernel, Int32(test.filters), Int32(k)))
                ds_pack_weights(kernel, fixture.weights, Int32(test.filters), Int32(k), &packed)
                // Read from the image, and where it applies, from its phases (every panel in one row in place).
                for splitsPhases in [false, true] {
                    var out = [Float](repeating: .nan, count: test.filters * n), split = false
                    fixture.run { convolution, epilogue in
                        var convolution = convolution.pointee
                        let count = splitsPhases ? ds_phases_count(&convolution) : 0
                        guard !splitsPhases || count > 0 else { return }
                        split = splitsPhases
                        // In parts, as threads would: columns split anywhere, rows at a panel. Each
                        // part splits only the phase rows its columns read; the rest stay NaN.
                        let third = n / 3, rows = ds_panel_rows(kernel), m = Int32(test.filters)
                        let row = min(m, rows * ((m / rows + 1) / 2))
                        for (columns, filters) in [(0..<third, 0..<m), (third..<n, 0..<row), (third..<n, row..<m)] {
                            var phases = [Float](repeating: .nan, count: count)
                            if split { ds_split_phases(&convolution, columns.lowerBound, columns.upperBound, &phases) }
                            phases.withUnsafeBufferPointer { phases in
                                convolution.phases = split ? phases.baseAddress : nil
                                ds_convolve(kernel, &convolution, packed, m, epilogue, columns.lowerBound, columns.upperBound,
                                            filters.lowerBound, filters.upperBound, &out)
                            }
                        }
                    }
                    guard split == splitsPhases else { continue }
                    let differing = zip(out, fixture.expected).filter { $0 != $1 }.count
                    XCTAssertEqual(differing, 0, "kernel \(kernel.rawValue), \(test), phases \(splitsPhases): \(differing) of \(out.count) outputs differ")
                }
            }
        }
    }

    /// Without an epilogue (a gradient added to), each sum is added to what the output held,
    /// on every kernel, however the columns and rows are split.
    func testWithoutAnEpilogueTheSumsAreAddedToTheOutput() {
        for test in Self.cases {
            var plain = test
            (plain.batchNormalize, plain.activation) = (false, DS_IDENTITY)
            let fixture = Fixture(plain), n = fixture.n, m = Int32(test.filters)
            let k = Int32(test.channels * test.size * test.size)
            let start = (0..<(test.filters * n)).map { Float($0 % 7) - 3 }
            // The fixture's outputs less its bias: the sums, within the bias's rounding.
            let sums = fixture.expected.enumerated().map { $0.element - fixture.bias[$0.offset / n] }
            let largest = sums.map(abs).max() ?? 0
            for kernel in Self.kernels {
                var packed = [Float](repeating: .nan, count: ds_packed_weights_count(kernel, m, k))
                ds_pack_weights(kernel, fixture.weights, m, k, &packed)
                var out = start
                fixture.run { convolution, _ in
                    let split = n / 3, row = min(m, ds_panel_rows(kernel))
                    ds_convolve(kernel, convolution, packed, m, nil, 0, split, 0, m, &out)
                    ds_convolve(kernel, convolution, packed, m, nil, split, n, 0, row, &out)
                    ds_convolve(kernel, convolution, packed, m, nil, split, n, row, m, &out)
                }
                let worst = zip(out, zip(start, sums)).map { abs($0 - ($1.0 + $1.1)) }.max() ?? .nan
                XCTAssertLessThanOrEqual(worst, 1e-5 * (largest + 3), "kernel \(kernel.rawValue), \(test)")
            }
        }
    }

    /// Training's weight-gradient product, C += A Bᵀ: within float rounding of the sums in
    /// double on every kernel, for shapes that fill neither its 4 × 4 blocks, its vectors nor
    /// its K blocks evenly, with rows read from wider matrices.
    func testTransposedProductAddsTheSumsOfRowProducts() {
        var generator = SplitMix64(seed: 5)
        for (m, n, k) in [(1, 1, 1), (5, 7, 33), (16, 27, 2500), (9, 4, 16)] {
            let (lda, ldb, ldc) = (k + 3, k + 1, n + 2)
            func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float(Int(generator.next() % 2001) - 1000) / 1000 } }
            let a = values(m * lda), b = values(n * ldb), start = values(m * ldc)
            for kernel in Self.kernels {
                var c = start
                ds_gemm_nt(kernel, Int32(m), Int32(n), k, a, lda, b, ldb, &c, ldc)
                for i in 0..<m {
                    for j in 0..<ldc {
                        guard j < n else {
                            XCTAssertEqual(c[i * ldc + j], start[i * ldc + j], "kernel \(kernel.rawValue): past the columns")
                            continue
                        }
                        var exact = Double(start[i * ldc + j]), scale = abs(exact)
                        for p in 0..<k {
                            let product = Double(a[i * lda + p]) * Double(b[j * ldb + p])
                            exact += product
                            scale += abs(product)
                        }
                        XCTAssertEqual(Double(c[i * ldc + j]), exact, accuracy: 1e-6 * scale, "kernel \(kernel.rawValue), \(m)x\(n)x\(k) (\(i), \(j))")
                    }
                }
            }
        }
    }

    /// A connected layer's product: within float rounding of the sums in double, for rows
    /// and columns that fill no vector evenly, and the same to the bit however the rows are
    /// split between threads.
    func testMatrixVectorProductMatchesDoublesAndIgnoresTheSplit() {
        var generator = SplitMix64(seed: 3)
        let rows = 37, columns = 1003
        let w = (0..<(rows * columns)).map { _ in Float(Int(generator.next() % 2001) - 1000) / 1000 }
        let x = (0..<columns).map { _ in Float(Int(generator.next() % 2001) - 1000) / 1000 }
        var whole = [Float](repeating: .nan, count: rows), split = whole
        ds_gemv(w, columns, x, &whole, 0, rows)
        for (first, last) in [(0, 5), (5, 6), (6, rows)] { ds_gemv(w, columns, x, &split, first, last) }
        XCTAssertEqual(whole.map(\.bitPattern), split.map(\.bitPattern))
        for r in 0..<rows {
            var exact = 0.0, scale = 0.0
            for c in 0..<columns {
                let product = Double(w[r * columns + c]) * Double(x[c])
                exact += product
                scale += abs(product)
            }
            XCTAssertEqual(Double(whole[r]), exact, accuracy: 1e-6 * scale, "row \(r)")
        }
    }

    /// `ds_im2col` against Darknet's im2col written out, for every case (strided, dilated,
    /// padded, and the stride-1 images copied shifted), with rows a few floats apart.
    func testIm2colIsDarknets() {
        for fixture in Self.cases.map(Fixture.init) {
            let test = fixture.test, n = fixture.n, rowStride = n + 3, rows = test.channels * test.size * test.size
            var columns = [Float](repeating: .nan, count: rows * rowStride)
            fixture.run { convolution, _ in ds_im2col(convolution, &columns, rowStride) }
            var expected = columns
            for c in 0..<test.channels {
                for dy in 0..<test.size {
                    for dx in 0..<test.size {
                        let row = (c * test.size + dy) * test.size + dx
                        for y in 0..<fixture.outHeight {
                            for x in 0..<fixture.outWidth {
                                let iy = y * test.rowStride + dy * test.dilation - test.padding
                                let ix = x * test.stride + dx * test.dilation - test.padding
                                let inside = iy >= 0 && iy < test.height && ix >= 0 && ix < test.width
                                expected[row * rowStride + y * fixture.outWidth + x] =
                                    inside ? fixture.image[(c * test.height + iy) * test.width + ix] : 0
                            }
                        }
                    }
                }
            }
            XCTAssertEqual(columns.map(\.bitPattern), expected.map(\.bitPattern), "\(test)")
        }
    }

    /// Batch norm's training sums (`ds_channel_sums`, `ds_batchnorm_delta_sums`,
    /// `ds_batchnorm_scale_delta`) on every kernel equal, to the bit, float chains in Darknet's
    /// order written out here: for channel ranges that leave blocks of eight and single ones
    /// (19 channels from 2, 8 from 0), and planes that are not a multiple of eight values.
    func testBatchNormSumsAreDarknetsChainsOnEveryKernel() {
        var generator = SplitMix64(seed: 5)
        let batch = 3, channels = 21, spatial = 29, count = batch * channels * spatial
        func draw() -> [Float] { (0..<count).map { _ in Float(Int(generator.next() % 2001) - 1000) / 250 } }
        let a = draw(), b = draw(), mean = (0..<channels).map { Float($0) / 7 - 1 }, scale = (0..<channels).map { 1.5 - Float($0) / 9 }
        func chain(_ c: Int, _ term: (Int) -> Float) -> Float {
            var sum: Float = 0
            for image in 0..<batch { for i in 0..<spatial { sum = sum + term((image * channels + c) * spatial + i) } }
            return sum
        }
        func squares(_ c: Int) -> Float {
            var sum: Float = 0
            for image in 0..<batch {
                for i in 0..<spatial {
                    let d = Double(a[(image * channels + c) * spatial + i] - mean[c])
                    sum = Float(Double(sum) + d * d)
                }
            }
            return sum
        }
        let scaled = (0..<count).map { a[$0] * scale[$0 / spatial % channels] }
        for kernel in Self.kernels {
            for (first, last) in [(2, 21), (0, 8)] {
                let range = first..<last
                var sums = [Float](repeating: .nan, count: channels), deviations = sums
                ds_channel_sums(kernel, DS_SUM, a, nil, Int32(batch), Int32(channels), spatial, Int32(first), Int32(last), &sums)
                ds_channel_sums(kernel, DS_SUM_SQUARED_DEVIATION, a, mean, Int32(batch), Int32(channels), spatial, Int32(first),
                                Int32(last), &deviations)
                XCTAssertEqual(range.map { sums[$0].bitPattern }, range.map { chain($0) { a[$0] }.bitPattern }, "\(kernel) sums")
                XCTAssertEqual(range.map { deviations[$0].bitPattern }, range.map { squares($0).bitPattern }, "\(kernel) squares")

                var planes = [Float](repeating: .nan, count: batch * channels), products = sums
                ds_batchnorm_delta_sums(kernel, a, b, Int32(batch), Int32(channels), spatial, Int32(first), Int32(last), &planes, &products)
                for image in 0..<batch {
                    XCTAssertEqual(range.map { planes[image * channels + $0].bitPattern },
                                   range.map { c in (0..<spatial).reduce(Float(0)) { $0 + a[(image * channels + c) * spatial + $1] }.bitPattern },
                                   "\(kernel) plane sums of image \(image)")
                }
                XCTAssertEqual(range.map { products[$0].bitPattern }, range.map { chain($0) { a[$0] * b[$0] }.bitPattern }, "\(kernel) products")

                var delta = a, means = sums, variances = sums
                ds_batchnorm_scale_delta(kernel, &delta, scale, b, mean, Int32(batch), Int32(channels), spatial, Int32(first),
                                         Int32(last), &means, &variances)
                let touched = (0..<count).filter { range.contains($0 / spatial % channels) }
                XCTAssertEqual(touched.map { delta[$0].bitPattern }, touched.map { scaled[$0].bitPattern }, "\(kernel) scaled deltas")
                XCTAssertEqual(range.map { means[$0].bitPattern }, range.map { chain($0) { scaled[$0] }.bitPattern }, "\(kernel) mean sums")
                XCTAssertEqual(range.map { variances[$0].bitPattern },
                               range.map { c in chain(c) { scaled[$0] * (b[$0] - mean[c]) }.bitPattern }, "\(kernel) variance sums")
            }
        }
    }

    /// The folded epilogue (`--convolution winograd`'s direct convolutions) is the same on
    /// every kernel, to the bit, and within float rounding of Darknet's: batch norm's and
    /// the bias's few roundings, relative to the largest output.
    func testFoldedEpilogueIsDarknetsWithinRounding() {
        for fixture in Self.cases.map(Fixture.init) {
            let test = fixture.test, n = fixture.n, k = test.channels * test.size * test.size, m = Int32(test.filters)
            var first: [Float]?
            for kernel in Self.kernels {
                var packed = [Float](repeating: .nan, count: ds_packed_weights_count(kernel, m, Int32(k)))
                ds_pack_weights(kernel, fixture.weights, m, Int32(k), &packed)
                var out = [Float](repeating: .nan, count: test.filters * n)
                fixture.run(folded: true) { convolution, epilogue in
                    ds_convolve(kernel, convolution, packed, m, epilogue, 0, n, 0, m, &out)
                }
                let largest = fixture.expected.map(abs).max() ?? 0
                let worst = zip(out, fixture.expected).map { abs($0 - $1) }.max() ?? .nan
                XCTAssertLessThanOrEqual(worst, 1e-6 * largest, "kernel \(kernel.rawValue), \(test)")
                XCTAssertEqual(out.map(\.bitPattern), (first ?? out).map(\.bitPattern), "kernel \(kernel.rawValue), \(test)")
                first = first ?? out
            }
        }
    }

    /// Winograd's F(4×4, 3×3) is not exact; its outputs must lie within float rounding of
    /// the plain convolution's, relative to the sum of |weight × input| each one adds.
    func testWinogradMatchesAPlainConvolutionWithinRounding() {
        let cases = [
            Case(channels: 3, height: 9, width: 11, size: 3, stride: 1, padding: 1, filters: 7, batchNormalize: true, activation: DS_LEAKY),
            // More than one K block of the GEMM tile.
            Case(channels: 300, height: 5, width: 6, size: 3, stride: 1, padding: 1, filters: 13, batchNormalize: true, activation: DS_IDENTITY),
            Case(channels: 16, height: 40, width: 37, size: 3, stride: 1, padding: 1, filters: 50, batchNormalize: false, activation: DS_RELU),
            Case(channels: 64, height: 14, width: 14, size: 3, stride: 1, padding: 1, filters: 24, batchNormalize: true, activation: DS_LEAKY),
            // AlexNet's 5×5 layer, on an image of odd size.
            Case(channels: 20, height: 13, width: 11, size: 5, stride: 1, padding: 2, filters: 30, batchNormalize: false, activation: DS_RELU),
        ]
        for fixture in cases.map(Fixture.init) {
            let test = fixture.test, n = fixture.n, m = Int32(test.filters)
            let filter = Int32(test.size)
            for kernel in Self.kernels {
                for size: Int32 in filter == 3 ? [4, 2] : [2] {
                    let packed = fixture.winogradWeights(kernel, size: size)
                    var scratch = fixture.winogradScratch(kernel, size: size)
                    var out = [Float](repeating: .nan, count: test.filters * n)
                    fixture.run { convolution, epilogue in
                        // In parts, as threads would: tiles split at a multiple of 16, rows at a panel.
                        let tiles = ds_winograd_tiles(convolution, size), split = min(tiles, 16)
                        let rows = ds_panel_rows(kernel), row = min(m, rows * ((m / rows + 1) / 2))
                        ds_winograd(kernel, convolution, size, packed, m, epilogue, 0, split, 0, m, &scratch, 0, &out)
                        ds_winograd(kernel, convolution, size, packed, m, epilogue, split, tiles, 0, row, &scratch, 0, &out)
                        ds_winograd(kernel, convolution, size, packed, m, epilogue, split, tiles, row, m, &scratch, 0, &out)
                    }
                    let worst = zip(out, fixture.expected).map { abs($0 - $1) }.max() ?? .nan
                    // Each output adds size² × channels products of values below 1 in magnitude,
                    // scaled by at most 2 × 2 by batch norm; float rounds at 6e-8 of a value, and
                    // the transforms' constants (up to 8) grow that. Measured: a sixth of this or less.
                    let bound = 1e-6 * Float(test.size * test.size * test.channels) * 4
                    XCTAssertLessThanOrEqual(worst, bound, "kernel \(kernel.rawValue), tiles of \(size), \(test)")
                    // Without an epilogue, the sums added to what the outputs held (a gradient's).
                    guard !test.batchNormalize, test.activation == DS_IDENTITY || test.activation == DS_RELU else { continue }
                    let start = (0..<(test.filters * n)).map { Float($0 % 5) - 2 }
                    var added = start
                    fixture.run { convolution, _ in
                        ds_winograd(kernel, convolution, size, packed, m, nil, 0, ds_winograd_tiles(convolution, size), 0, m, &scratch, 0, &added)
                    }
                    // The fixture's expected outputs are ReLU's of the sums plus the bias: compare where that kept the sums.
                    for (i, expected) in fixture.expected.enumerated() where test.activation == DS_IDENTITY || expected > 0 {
                        let sum = expected - fixture.bias[i / n]
                        XCTAssertEqual(added[i], start[i] + sum, accuracy: bound + 1e-6, "kernel \(kernel.rawValue), tiles of \(size), \(test), output \(i)")
                    }
                }
            }
        }
    }
    /// Pooled in its output transform, a Winograd convolution gives exactly what Darknet's
    /// 2 × 2 maxpool of stride 2 makes of its outputs (ties and signed zeros included, which
    /// leaky makes: the window's values compared in Darknet's order), partial tiles too.
    func testWinogradPoolsAsDarknetsMaxpool() {
        let cases = [
            // 14 = 3 tiles of 4 and a half tile: windows in partial tiles.
            Case(channels: 16, height: 14, width: 14, size: 3, stride: 1, padding: 1, filters: 30, batchNormalize: true, activation: DS_LEAKY),
            Case(channels: 17, height: 8, width: 20, size: 3, stride: 1, padding: 1, filters: 9, batchNormalize: false, activation: DS_RELU),
            Case(channels: 16, height: 12, width: 10, size: 5, stride: 1, padding: 2, filters: 25, batchNormalize: true, activation: DS_IDENTITY),
        ]
        for fixture in cases.map(Fixture.init) {
            let test = fixture.test, n = fixture.n, m = Int32(test.filters)
            let filter = Int32(test.size), height = Int32(fixture.outHeight), width = Int32(fixture.outWidth)
            for kernel in Self.kernels {
                for size: Int32 in filter == 3 ? [4, 2] : [2] {
                    let packed = fixture.winogradWeights(kernel, size: size)
                    var scratch = fixture.winogradScratch(kernel, size: size)
                    var out = [Float](repeating: .nan, count: test.filters * n)
                    var pooled = [Float](repeating: .nan, count: test.filters * n / 4)
                    fixture.run { convolution, epilogue in
                        let tiles = ds_winograd_tiles(convolution, size), split = min(tiles, 16)
                        ds_winograd(kernel, convolution, size, packed, m, epilogue, 0, tiles, 0, m, &scratch, 0, &out)
                        ds_winograd(kernel, convolution, size, packed, m, epilogue, 0, split, 0, m, &scratch, 1, &pooled)
                        ds_winograd(kernel, convolution, size, packed, m, epilogue, split, tiles, 0, m, &scratch, 1, &pooled)
                    }
                    var expected = [Float](repeating: .nan, count: pooled.count)
                    ds_maxpool(out, height, width, &expected, height / 2, width / 2, 2, 2, 2, 0, Int(m))
                    XCTAssertEqual(pooled.map(\.bitPattern), expected.map(\.bitPattern), "kernel \(kernel.rawValue), tiles of \(size), \(test)")
                }
            }
        }
    }
    /// A group of fewer than 12 tiles goes through the narrow product (AVX-512), whose sums
    /// must be the tile's to the bit: tile 0 computed alone equals tile 0 computed in a group
    /// of 16, over one K block and over two.
    func testWinogradNarrowGroupsEqualFullOnes() {
        let cases = [
            Case(channels: 16, height: 17, width: 16, size: 3, stride: 1, padding: 1, filters: 30, batchNormalize: true, activation: DS_LEAKY),
            Case(channels: 300, height: 16, width: 16, size: 3, stride: 1, padding: 1, filters: 7, batchNormalize: false, activation: DS_IDENTITY),
        ]
        for fixture in cases.map(Fixture.init) {
            let test = fixture.test, n = fixture.n, m = Int32(test.filters)
            for kernel in Self.kernels {
                let packed = fixture.winogradWeights(kernel, size: 4)
                var scratch = fixture.winogradScratch(kernel, size: 4)
                var full = [Float](repeating: .nan, count: test.filters * n), alone = full
                fixture.run { convolution, epilogue in
                    XCTAssertGreaterThanOrEqual(ds_winograd_tiles(convolution, 4), 16)
                    ds_winograd(kernel, convolution, 4, packed, m, epilogue, 0, 16, 0, m, &scratch, 0, &full)
                    ds_winograd(kernel, convolution, 4, packed, m, epilogue, 0, 1, 0, m, &scratch, 0, &alone)
                }
                // Tile 0: the first four rows and columns of every output plane.
                let tile = (0..<test.filters).flatMap { f in (0..<4).flatMap { y in (0..<4).map { x in (f * fixture.outHeight + y) * fixture.outWidth + x } } }
                XCTAssertEqual(tile.map { alone[$0].bitPattern }, tile.map { full[$0].bitPattern }, "kernel \(kernel.rawValue), \(test)")
            }
        }
    }
}
