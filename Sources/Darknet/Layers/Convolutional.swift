import CBLAS
import DarknetKernels
import Foundation

/// Darknet's `[convolutional]`: grouped 2-D convolution, optional batch norm, activation.
public struct Convolutional: Layer {
    public static let sectionName = "convolutional"
    public let input: Shape
    public let output: Shape
    public let filters: Int
    public let size: Int
    /// Steps between windows across and down (AlexeyAB's `stride_x`, `stride_y`; both `stride`).
    public let strideX: Int
    public let strideY: Int
    /// Pixels between the taps of a window, across and down (AlexeyAB's; 1 for a 1×1).
    public let dilation: Int
    /// Darknet's `pad`: `size / 2` with `pad=1`, else `padding`; in taps, so `dilation` times
    /// as many pixels (AlexeyAB's im2col pads `pad * dilation`).
    public let padding: Int
    public let groups: Int
    public let batchNormalize: Bool
    public let activation: Activation
    /// AlexeyAB's activations across channels, after batch norm or the bias (`activation` is then linear).
    public let channelNormalization: ChannelNormalization?
    /// Weights stored input-major in the file (Darknet's `flipped`).
    public let flipped: Bool
    /// Empty until `load`: a cfg is read (and `darkscope layers` prints it) without allocating them.
    public private(set) var parameters: [Float] = []
    private let offsets: ParameterOffsets

    init(_ section: inout CfgSection, input: Shape) throws {
        guard input.isImage else { throw section.error("[convolutional] needs an image as input, but the layer before outputs \(input.count) flat values") }
        filters = try section.int("filters", default: 1)
        size = try section.int("size", default: 1)
        let stride = try section.int("stride", default: 1)
        strideX = try section.int("stride_x", default: stride)
        strideY = try section.int("stride_y", default: stride)
        let pad = try section.int("pad", default: 0)
        let explicitPadding = try section.int("padding", default: 0)
        padding = pad != 0 ? size / 2 : explicitPadding
        groups = try section.int("groups", default: 1)
        channelNormalization = ChannelNormalization(rawValue: section.string("activation", default: "logistic"))
        activation = channelNormalization == nil ? try section.activation(default: "logistic") : .linear
        batchNormalize = try section.int("batch_normalize", default: 0) != 0
        flipped = try section.int("flipped", default: 0) != 0
        guard filters > 0, size > 0, strideX > 0, strideY > 0, padding >= 0 else {
            throw section.error("[convolutional] filters, size and stride must be positive and padding not negative (filters=\(filters) size=\(size) stride=\(strideX)x\(strideY) padding=\(padding))")
        }
        guard groups > 0, input.channels % groups == 0, filters % groups == 0 else {
            throw section.error("[convolutional] groups=\(groups) must divide both the input channels (\(input.channels)) and filters (\(filters))")
        }
        let dilation = try section.int("dilation", default: 1)
        guard dilation >= 1 else {
            throw section.error("[convolutional] dilation=\(dilation) must be at least 1", line: section.line(of: "dilation"))
        }
        self.dilation = size == 1 ? 1 : dilation
        // The kernels count pixels in C ints: a window that spans more than any image is refused.
        guard self.dilation == 1 || Double(size + 2 * padding) * Double(self.dilation) <= Double(1 << 24) else {
            throw section.error("[convolutional] dilation=\(dilation) spreads a \(size)x\(size) window over more pixels than an image has", line: section.line(of: "dilation"))
        }
        try section.refuseAlexeyABKeys(["share_index": nil, "deform": "0", "xnor": "0", "binary": "0"])
        self.input = input
        // AlexeyAB's sizes ignore the dilation; its im2col, which does not, must agree.
        output = Shape(
            width: (input.width + 2 * padding - size) / strideX + 1,
            height: (input.height + 2 * padding - size) / strideY + 1,
            channels: filters)
        let span = (size - 1) * self.dilation + 1
        let fits = (input.width + 2 * padding * self.dilation - span) / strideX + 1 == output.width
            && (input.height + 2 * padding * self.dilation - span) / strideY + 1 == output.height
        guard self.dilation == 1 || fits else {
            throw section.error("[convolutional] a \(size)x\(size) window with dilation=\(self.dilation) and padding \(padding) does not fit the \(input.width)x\(input.height) input as AlexeyAB's darknet sizes it (use pad=1)",
                                line: section.line(of: "dilation"))
        }
        var blocks = [ParameterBlock(kind: .biases, count: filters)]
        if batchNormalize {
            blocks += ParameterBlock.batchNorm(count: filters)
        }
        let weightCount = try section.count(of: "weights", input.channels / groups, size, size, filters)
        blocks.append(ParameterBlock(kind: .weights(fanIn: weightCount / filters), count: weightCount))
        parameterBlocks = blocks
        offsets = ParameterOffsets(blocks)
        plainEpilogue = batchNormalize
            ? ChannelEpilogue([Float](repeating: 0, count: filters), channels: filters, offsets: offsets, batchNormalize: false,
                              activation: .linear)
            : nil
        choose(.default)
    }

    public let parameterBlocks: [ParameterBlock]
    /// Per filter, what follows the GEMM: Darknet's batch norm or the bias, and the activation.
    private var epilogue: ChannelEpilogue?
    /// With batch norm, nothing after the GEMM: the sums themselves, for training's batch norm.
    private let plainEpilogue: ChannelEpilogue?
    /// How the layer computes its sums; see `use(_:)`.
    public var algorithm: ConvolutionAlgorithm { winogradTile == nil ? .darknet : .winograd }
    /// Whether the sums and the batch norm, bias and activation round as Darknet's do; not
    /// under `.winograd`, even in the direct convolutions: folded, the epilogue takes a third
    /// of the time of a 3-channel first layer (Tiny Darknet's), whose sums are short, and
    /// its sums fuse their multiply-adds.
    private var roundsAsDarknet = true
    /// Each group's weights as the kernels read them: packed for `ds_convolve`, or
    /// transformed and packed for `ds_winograd`.
    private var packedWeights: [Float] = []

    public mutating func load(_ values: [Float], transposed: Bool) {
        // A trainer loads its update every step: into the arrays held already, not fresh pages.
        if parameters.count == values.count {
            parameters.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: values) }
        } else {
            parameters = values
        }
        let start = offsets[.weights(fanIn: 0)]!
        let k = input.channels / groups * size * size
        if flipped {
            let weights = Array(values[start...])
            for r in 0..<k {
                for f in 0..<filters { parameters[start + f * k + r] = weights[r * filters + f] }
            }
        }
        epilogue = ChannelEpilogue(parameters, channels: filters, offsets: offsets, batchNormalize: batchNormalize,
                                   activation: activation)
        pack()
    }

    /// Computes the layer's sums with `algorithm` from now on, where it applies; Darknet's elsewhere.
    public mutating func use(_ algorithm: ConvolutionAlgorithm) {
        choose(algorithm)
        if epilogue != nil { pack() }
    }

    private mutating func choose(_ algorithm: ConvolutionAlgorithm) {
        winogradTile = algorithm == .winograd ? fittingWinogradTile : nil
        roundsAsDarknet = algorithm == .darknet
    }

    /// The edge of Winograd's output tiles for this layer, nil where Winograd's does not apply.
    private var winogradTile: Int32?

    /// Winograd's applies to 3×3 and 5×5 convolutions of stride 1 that keep the image's size,
    /// where it is faster: with tiles of 4 × 4 outputs (3×3 only) or 2 × 2, 16 tiles or more
    /// (fewer leave vector lanes empty), and 16 input channels or more (with fewer, the
    /// transforms cost more than the products they save: Tiny Darknet's first layer,
    /// 3 channels, ran 1.2 times slower).
    private var fittingWinogradTile: Int32? {
        guard strideX == 1, strideY == 1, dilation == 1, padding == size / 2 else { return nil }
        return Self.winogradTile(size: size, channels: input.channels / groups, output: output)
    }

    /// The tile edge for a convolution of `size` over `channels` input planes, of stride 1
    /// and keeping the size of its `output`, where Winograd's applies (see `fittingWinogradTile`).
    private static func winogradTile(size: Int, channels: Int, output: Shape) -> Int32? {
        guard channels >= 16 else { return nil }
        let edges = size == 3 ? [4, 2] : size == 5 ? [2] : []
        return edges.first { tiles(of: $0, output) >= 16 }.map(Int32.init)
    }

    /// Winograd's output tiles of `edge` × `edge` on `output`.
    private static func tiles(of edge: Int, _ output: Shape) -> Int {
        (output.width + edge - 1) / edge * ((output.height + edge - 1) / edge)
    }

    private mutating func pack() {
        let start = offsets[.weights(fanIn: 0)]!
        let m = Int32(filters / groups), channels = Int32(input.channels / groups), k = channels * Int32(size * size)
        let groupCount = winogradTile.map { ds_winograd_packed_count(Self.instructionSet, m, channels, Int32(size), $0) }
            ?? ds_packed_weights_count(Self.instructionSet, m, k)
        let (weights, tile, instructionSet, groups, filter) = (parameters, winogradTile, Self.instructionSet, groups, Int32(size))
        // Each packer writes every float of its group's share, padding included.
        let fill = { (packed: UnsafeMutableBufferPointer<Float>) in
            weights.withUnsafeBufferPointer { weights in
                for g in 0..<groups {
                    let from = weights.baseAddress! + start + g * Int(m * k), to = packed.baseAddress! + g * groupCount
                    if let tile {
                        ds_winograd_pack_weights(instructionSet, from, m, channels, filter, tile, to)
                    } else {
                        ds_pack_weights(instructionSet, from, m, k, to)
                    }
                }
            }
        }
        if packedWeights.count == groupCount * groups {
            packedWeights.withUnsafeMutableBufferPointer { fill($0) }
        } else {
            packedWeights = .onHugePages(count: groupCount * groups, initializingWith: fill)
        }
    }

    public var scratchCount: Int {
        winogradTile.map { ds_winograd_scratch_count(Self.instructionSet, Int32(input.channels / groups), Int32(size), $0) } ?? phasesCount
    }

    /// Floats of the input's image split by phase (`ds_split_phases`), from which the direct
    /// convolutions of a stride above 1 read every panel within an output row in place; 0
    /// where it does not apply. Not at stride 1: panels inside the image are read in place
    /// already, and each thread's copy of a 3-channel 224 × 224 image took longer than
    /// packing the edges (Tiny Darknet's first layer, 2 threads: 0.25 -> 0.31 ms). Nor above
    /// 4 MB a thread, which every predictor keeps: ResNet-50's 3×3/2 over 128 channels needs 2.2.
    private var phasesCount: Int {
        guard !readsFlat, !isDepthwise, strideX > 1 else { return 0 }
        var description = convolution(of: nil, channels: input.channels / groups)
        let count = ds_phases_count(&description)
        return count <= 1 << 20 ? count : 0
    }

    /// Darknet's line; AlexeyAB's strides across and down (`/ 2x 1`) and dilation (`(2)`) where they are used.
    public var tableEntry: String {
        let steps = (strideX == strideY ? String(format: "/%2d", strideX) : String(format: "/%2dx%2d", strideX, strideY))
            + (dilation > 1 ? "(\(dilation))" : "")
        return String(format: "conv  %5d %2d x%2d %@  %4d x%4d x%4d   ->  %4d x%4d x%4d  %5.3f BFLOPs",
                      filters, size, size, steps, input.width, input.height, input.channels,
                      output.width, output.height, output.channels, Double(operations) / 1e9)
    }

    public var operations: Int { 2 * filters * size * size * input.channels / groups * output.spatial }

    /// Whether `forward` can run a `MaxPool.halves` maxpool after it while its outputs are still
    /// in registers (`ForwardContext.pooledOutput`): Winograd's output tiles, of even edges,
    /// are whole pooling windows on an image of even height and width.
    public var poolsInOutput: Bool {
        winogradTile != nil && output.width % 2 == 0 && output.height % 2 == 0 && epilogue?.fusesActivation == true
            && channelNormalization == nil
    }

    /// Whether `forward` can add a shortcut's input and activate in its epilogue
    /// (`FusedLayer.shortcut`): whenever the kernels apply its own activation.
    public var addsShortcut: Bool { epilogue?.fusesActivation == true && !isDepthwise && channelNormalization == nil }

    /// One filter per channel (groups = channels = filters): summed row by row by
    /// `ds_depthwise`, not as one tiny GEMM a group.
    public var isDepthwise: Bool {
        groups > 1 && groups == input.channels && groups == filters && strideX == strideY && dilation == 1
    }

    /// Whether the input is read as a k × n matrix: a 1×1 convolution of one stride across and
    /// down (pjreddie's rule, whatever the stride; AlexeyAB's samples a strided 1×1 by im2col).
    private var readsFlat: Bool { size == 1 && strideX == strideY }

    public func forward(_ context: ForwardContext) { forward(context, band: nil) }

    /// Output rows `y` read input rows `y * strideY - padding * dilation ..< + span`; a 1×1
    /// convolution of a larger stride is read as a flat matrix (see `forward`), so any of its
    /// outputs may change. Windows are square: nil (the whole input) for unequal strides.
    public var window: Window? {
        strideX == strideY ? Window(size: span, stride: strideX, left: -padding * dilation, top: -padding * dilation) : nil
    }

    public func changedRows(_ rows: Range<Int>) -> Range<Int>? {
        guard !readsFlat || strideX == 1 else { return nil }
        return windowRows(reaching: rows, size: span, stride: strideY, start: -padding * dilation, count: output.height)
    }

    /// Input pixels a window spans across (and down).
    private var span: Int { (size - 1) * dilation + 1 }

    /// Darknet's sums for those rows only, as columns of the GEMM; Winograd's tiles, all rows.
    public func forward(_ context: ForwardContext, rows: Range<Int>) {
        forward(context, band: winogradTile == nil && context.next == nil ? rows : nil)
    }

    /// The whole output, or output rows `band` of it, through `finish` (by default, the layer's
    /// epilogue, then its normalization across channels).
    private func forward(_ context: ForwardContext, band: Range<Int>?, finish: ChannelEpilogue? = nil) {
        sums(context, band: band, finish: finish)
        guard let channelNormalization, finish == nil else { return }
        let rows = band ?? 0..<output.height, positions = (rows.lowerBound * output.width)..<(rows.upperBound * output.width)
        if let keep = context.activationInput {
            for plane in 0..<(context.batch * filters) {
                let at = plane * output.spatial + positions.lowerBound
                (keep + at).update(from: context.output + at, count: positions.count)
            }
        }
        channelNormalization.apply(context.output, images: context.batch, channels: filters, spatial: output.spatial, positions: positions)
    }

    /// The sums of `forward`, through `finish` or the layer's epilogue.
    private func sums(_ context: ForwardContext, band: Range<Int>?, finish: ChannelEpilogue?) {
        guard let epilogue = finish ?? epilogue else { preconditionFailure("forward before load") }
        if isDepthwise { return depthwise(context, band: band, epilogue: epilogue) }
        let m = filters / groups, k = input.channels / groups * size * size, n = output.spatial
        var pooled: UnsafeMutablePointer<Float>?, destination = context.output
        var shortcut = 0, shortcutActivation = DS_IDENTITY
        switch context.next {
        case let .maxPool(output):
            precondition(poolsInOutput, "a maxpool fused into a convolution that cannot pool")
            pooled = output
        case let .shortcut(output, add, activation):
            precondition(addsShortcut, "a shortcut fused into a convolution that cannot add it")
            // The outputs and what they add are laid out alike: one distance between them.
            (destination, shortcut, shortcutActivation) = (output, UnsafePointer(output).distance(to: add), activation)
        case nil: break
        }
        let groupChannels = input.channels / groups
        let groupCount = packedWeights.count / groups
        packedWeights.withUnsafeBufferPointer { packed in
            for g in 0..<groups {
                var groupEpilogue = epilogue.raw(from: g * m)
                groupEpilogue.folded = roundsAsDarknet ? 0 : 1
                (groupEpilogue.shortcut, groupEpilogue.shortcut_activation) = (shortcut, shortcutActivation)
                withUnsafePointer(to: groupEpilogue) { finish in
                    // The work: the weights read, and the multiply-adds, sixteen to a vector instruction.
                    let span = band.map { ($0.lowerBound * output.width)..<($0.upperBound * output.width) }
                        ?? 0..<(winogradTile.map { Self.tiles(of: Int($0), output) } ?? n)
                    let columns = span.count
                    let work = m * k + m * k * columns / 16
                    let weights = packed.baseAddress! + g * groupCount, phases = phasesCount > 0
                    /// Columns [from, to) of `filters` of image b.
                    let compute = { (b: Int, from: Int, to: Int, filters: Range<Int>, scratch: UnsafeMutablePointer<Float>?) in
                        let image = context.input + (b * groups + g) * groupChannels * input.spatial
                        // Darknet feeds a 1×1 convolution's input straight to GEMM, whatever its
                        // stride: as a k × n matrix, which is a 1 × n image with k channels.
                        var convolution = readsFlat
                            ? ds_convolution(image: image, channels: Int32(k), height: 1, width: Int32(n), size: 1,
                                             stride_x: 1, stride_y: 1, dilation: 1, padding: 0, out_height: 1, out_width: Int32(n),
                                             phases: nil)
                            : convolution(of: image, channels: groupChannels)
                        let first = span.lowerBound + from, last = span.lowerBound + to
                        if winogradTile == nil, phases, let scratch {
                            ds_split_phases(&convolution, first, last, scratch)
                            convolution.phases = UnsafePointer(scratch)
                        }
                        let out = pooled.map { $0 + (b * groups + g) * m * n / 4 } ?? destination + (b * groups + g) * m * n
                        let (low, high) = (Int32(filters.lowerBound), Int32(filters.upperBound))
                        if let winogradTile {
                            ds_winograd(Self.instructionSet, &convolution, winogradTile, weights, Int32(m), finish, first, last,
                                        low, high, scratch, pooled == nil ? 0 : 1, out)
                        } else {
                            ds_convolve(Self.instructionSet, &convolution, weights, Int32(m), finish, first, last, low, high, out)
                        }
                    }
                    Self.share(context, images: 0..<context.batch, columns: columns, rows: m, work: work, compute)
                }
            }
        }
        if !epilogue.fusesActivation {
            guard let band else { return context.activate(epilogue.activation, context.output, count: context.batch * output.count) }
            for plane in 0..<(context.batch * filters) {
                context.activate(epilogue.activation, context.output + plane * n + band.lowerBound * output.width, count: band.count * output.width)
            }
        }
    }

    /// Runs `compute(b, from, to, rows, scratch)` over images `images`, each of `columns` output
    /// columns (Winograd's: tiles) [from, to) and `m` rows, shared between the threads: for a
    /// batch they divide, whole images (even shares however small the image: Tiny Darknet's
    /// last layers have a few panels each, and no waiting between images); else each image's
    /// column panels, or where the image is too small for that, its panels of rows. `work`:
    /// one image's, in values touched.
    private static func share(_ context: some LayerThreads, images: Range<Int>, columns: Int, rows m: Int, work: Int,
                              _ compute: (Int, Int, Int, Range<Int>, UnsafeMutablePointer<Float>?) -> Void) {
        if context.threads > 1, images.count % context.threads == 0 {
            context.parallel(images.count, work: work * images.count) { part, scratch in
                for b in part { compute(images.lowerBound + b, 0, columns, 0..<m, scratch) }
            }
            return
        }
        let panels = (columns + 15) / 16, rows = Int(ds_panel_rows(instructionSet))
        for b in images {
            if panels >= 4 * context.threads {
                context.parallel(panels, work: work) { part, scratch in
                    compute(b, part.lowerBound * 16, min(columns, part.upperBound * 16), 0..<m, scratch)
                }
            } else {
                context.parallel((m + rows - 1) / rows, work: work) { part, scratch in
                    compute(b, 0, columns, (part.lowerBound * rows)..<min(m, part.upperBound * rows), scratch)
                }
            }
        }
    }

    /// The kernels' description of the convolution of `channels` planes of the input at `image`.
    private func convolution(of image: UnsafePointer<Float>?, channels: Int) -> ds_convolution {
        ds_convolution(image: image, channels: Int32(channels), height: Int32(input.height), width: Int32(input.width),
                       size: Int32(size), stride_x: Int32(strideX), stride_y: Int32(strideY), dilation: Int32(dilation),
                       padding: Int32(padding * dilation), out_height: Int32(output.height), out_width: Int32(output.width),
                       phases: nil)
    }

    private func depthwise(_ context: ForwardContext, band: Range<Int>?, epilogue: ChannelEpilogue) {
        precondition(context.next == nil, "a layer fused into a depthwise convolution")
        var finish = epilogue.raw
        finish.folded = roundsAsDarknet ? 0 : 1
        let rows = band ?? 0..<output.height, start = offsets[.weights(fanIn: 0)]!
        parameters.withUnsafeBufferPointer { parameters in
            withUnsafePointer(to: finish) { finish in
                for b in 0..<context.batch {
                    var convolution = convolution(of: context.input + b * input.count, channels: input.channels)
                    let out = context.output + b * output.count
                    context.parallel(filters, work: filters * rows.count * output.width * size * size) { channels in
                        ds_depthwise(&convolution, parameters.baseAddress! + start, finish, Int32(channels.lowerBound),
                                     Int32(channels.upperBound), Int32(rows.lowerBound), Int32(rows.upperBound), out)
                    }
                }
            }
        }
        if !epilogue.fusesActivation {
            for plane in 0..<(context.batch * filters) {
                context.activate(epilogue.activation, context.output + plane * output.spatial + rows.lowerBound * output.width,
                                 count: rows.count * output.width)
            }
        }
    }

    /// Darknet's convolutions train with its own sums (see `Trainer`), and batch norm by the batch.
    public var trains: Bool { !flipped && activation.gradientFromOutput && channelNormalization == nil }
    public var keepsActivationInput: Bool { channelNormalization != nil || !activation.gradientFromOutput }
    public var outputActivation: Activation? { activation }

    /// With batch norm, the sums alone (no bias, no activation), then `BatchNormTraining` and
    /// the activation, as Darknet's `forward_convolutional_layer` with `net.train` set.
    public func forward(training context: ForwardContext, state: TrainingState) {
        guard let plainEpilogue else { return forward(context) }
        BatchNormTraining.forward(context, channels: filters, spatial: output.spatial, offsets: offsets, activation: activation,
                                  state: state) { forward($0, band: nil, finish: plainEpilogue) }
    }

    /// Darknet's `backward_convolutional_layer`: the delta through the activation and batch
    /// norm on the batch's statistics (or the bias), the weights' gradient from it and im2col's
    /// columns of the input, then the input's delta as `backward`'s.
    public func backward(training context: BackwardContext, state: TrainingState) {
        let count = context.batch * output.count, n = output.spatial
        state.delta.resize(to: count)
        state.delta.withUnsafeMutableBufferPointer { delta in
            context.parallel(count, work: count) { values in
                let at = values.lowerBound
                activation.gradient(context.outputGradient + at, output: context.output + at, count: values.count,
                                    into: delta.baseAddress! + at)
            }
            if batchNormalize {
                BatchNormTraining.backward(delta.baseAddress!, batch: context.batch, channels: filters, spatial: n,
                                           offsets: offsets, state: state, threads: context)
            } else {
                for plane in 0..<(context.batch * filters) {
                    state.updates[plane % filters] += delta[(plane * n)..<((plane + 1) * n)].reduce(0, +)
                }
            }
        }
        let m = filters / groups, groupChannels = input.channels / groups, k = groupChannels * size * size, area = size * size
        let weightsAt = offsets[.weights(fanIn: 0)]!, batch = context.batch, images = imagesPerBlock(batch: batch)
        // The weights' gradient (m × k) += sums (m × images·n) · columnsᵀ: one product for a
        // block of images, so that small images (a 4 × 4 layer's 16 columns) still make long
        // sums. For blocks of several images, the sums laid out filter after filter, each over
        // the whole batch; a block of one reads them where they are.
        let byFilter = images > 1
        if byFilter {
            state.deltaByFilter.resize(to: count)
            state.delta.withUnsafeBufferPointer { delta in
                state.deltaByFilter.withUnsafeMutableBufferPointer { byFilter in
                    context.parallel(filters, work: count) { rows in
                        for f in rows {
                            for b in 0..<batch {
                                (byFilter.baseAddress! + (f * batch + b) * n).update(from: delta.baseAddress! + (b * filters + f) * n, count: n)
                            }
                        }
                    }
                }
            }
        }
        // Where the sums of filter f over images from b on are: sums + f · rowStride + b · imageStride.
        let (rowStride, imageStride) = byFilter ? (batch * n, n) : (n, filters * n)
        (byFilter ? state.deltaByFilter : state.delta).withUnsafeBufferPointer { sums in
            state.updates.withUnsafeMutableBufferPointer { updates in
                for g in 0..<groups {
                    // Threads take whole input channels: their columns of the weights' gradient.
                    context.parallel(groupChannels, work: batch * m * k * n) { channels, columns in
                        for first in stride(from: 0, to: batch, by: images) {
                            let block = first..<min(batch, first + images), width = block.count * n
                            var channel = channels.lowerBound
                            while channel < channels.upperBound {
                                let count = block.count > 1 ? channels.upperBound - channel : min(columnChannels, channels.upperBound - channel)
                                var matrix = context.input + (first * groups + g) * groupChannels * input.spatial + channel * (readsFlat ? n : input.spatial)
                                if !readsFlat || block.count > 1 {
                                    for (i, b) in block.enumerated() {
                                        let image = context.input + (b * groups + g) * groupChannels * input.spatial
                                        columnRows(of: image, channels: channel..<(channel + count), into: columns! + i * n, rowStride: width)
                                    }
                                    matrix = UnsafePointer(columns!)
                                }
                                ds_gemm_nt(Self.instructionSet, Int32(m), Int32(count * area), width,
                                           sums.baseAddress! + g * m * rowStride + first * imageStride, rowStride, matrix, width,
                                           updates.baseAddress! + weightsAt + g * m * k + channel * area, k)
                                channel += count
                            }
                        }
                    }
                }
            }
        }
        guard context.wantsInputGradient else { return }
        state.delta.withUnsafeBufferPointer { addInputGradient(context, sums: .batch($0.baseAddress!)) }
    }

    /// Images whose columns the weights' gradient takes in one product: as many as fit in
    /// `columnChannels`' megabyte with every input channel, at least one.
    private func imagesPerBlock(batch: Int) -> Int {
        max(1, min(batch, (1 << 18) / (input.channels / groups * size * size * output.spatial)))
    }

    /// The rows of the k × n matrix the sums multiply, for input channels `channels` of one
    /// image's group, `rowStride` apart: Darknet's im2col, or for a flat read, the rows themselves.
    private func columnRows(of image: UnsafePointer<Float>, channels: Range<Int>, into columns: UnsafeMutablePointer<Float>, rowStride: Int) {
        guard readsFlat else {
            var convolution = convolution(of: image + channels.lowerBound * input.spatial, channels: channels.count)
            return ds_im2col(&convolution, columns, rowStride)
        }
        let n = output.spatial
        for (row, c) in channels.enumerated() { (columns + row * rowStride).update(from: image + c * n, count: n) }
    }

    /// Shared: the gradient of one image's sums, or (training's input gradient by convolution)
    /// a few channels' turned filters. Per thread: the column matrix of a few input channels
    /// (`columnChannels`) for `col2im`, or of a block of images for the weights' gradient
    /// (`imagesPerBlock`), or Winograd's working memory.
    public var backwardScratch: (shared: Int, perThread: Int) {
        let images = imagesPerBlock(batch: .max), rows = input.channels / groups * size * size * output.spatial
        let columns = images > 1 ? images * rows : readsFlat ? 0 : columnChannels * size * size * output.spatial
        let winograd = transposedWinogradTile.map { ds_winograd_scratch_count(Self.instructionSet, Int32(filters / groups), Int32(size), $0) }
        let chunk = transposedChunk
        return (max(output.count, chunk.turned + chunk.packed), max(columns, winograd ?? 0))
    }

    /// Input channels whose columns a thread computes at once: about a megabyte of them, at least one.
    private var columnChannels: Int {
        max(1, min(input.channels / groups, (1 << 18) / (size * size * output.spatial)))
    }

    /// Darknet's backward (`backward_convolutional_layer`) for the input: the gradient of the
    /// sums through the activation and test-time batch norm, then Wᵀ times it, folded back onto
    /// the image. From the kept outputs and the plain weights, whichever `algorithm` computed
    /// the forward sums.
    public func backward(_ context: BackwardContext) {
        guard let channelNormalization else { return backward(context, outputGradient: context.outputGradient) }
        // First through the normalization, whose gradient at a position reads every channel's.
        var gradient = [Float](repeating: 0, count: context.batch * output.count)
        channelNormalization.gradient(context.outputGradient, inputs: context.activationInput!, outputs: context.output,
                                      images: context.batch, channels: filters, spatial: output.spatial, into: &gradient)
        gradient.withUnsafeBufferPointer { backward(context, outputGradient: $0.baseAddress!) }
    }

    /// `backward` from the gradient with respect to the linear activation's output, image
    /// after image through the shared scratch.
    private func backward(_ context: BackwardContext, outputGradient: UnsafePointer<Float>) {
        guard let epilogue, let sums = context.shared else { preconditionFailure("backward before load") }
        let n = output.spatial
        let activationInput = channelNormalization == nil ? context.activationInput : nil
        addInputGradient(context, sums: .eachImage { b in
            let at = b * output.count
            context.parallel(filters, work: output.count) { rows in
                for f in rows {
                    epilogue.backward(outputGradient + at + f * n, output: context.output + at + f * n,
                                      input: activationInput.map { $0 + at + f * n },
                                      count: n, channel: f, into: sums + f * n)
                }
            }
            return UnsafePointer(sums)
        })
    }

    /// The gradient of the sums `addInputGradient` multiplies by Wᵀ: every image's at once, laid
    /// out as the output (training's), or one image's at a time, which the closure computes
    /// into the shared scratch and returns (`backward`'s).
    private enum SumsGradient {
        case batch(UnsafePointer<Float>)
        case eachImage((Int) -> UnsafePointer<Float>)
    }

    /// Whether the input's gradient is a convolution of the sums' (stride 1): by the flipped,
    /// transposed filters, padded `size - 1 - padding`, which the forward kernels compute
    /// without im2col's columns or col2im's scattered adds.
    private var transposes: Bool { strideX == 1 && strideY == 1 && dilation == 1 && padding < size }

    /// Adds Wᵀ times the gradient of the sums of every image, folded back onto the image, to
    /// the input's gradient.
    private func addInputGradient(_ context: BackwardContext, sums: SumsGradient) {
        // A convolution by the turned filters where it `transposes` and the whole batch's sums
        // are at hand (training's): packing the filters costs a pass over the weights, which
        // one image at a time (attribution's integrated gradients: a pass a step) does not
        // repay (Tiny Darknet's integrated gradients 0.55 -> 0.88 s).
        if transposes, case let .batch(all) = sums { return addTransposedConvolution(context, sums: all) }
        let m = filters / groups, groupChannels = input.channels / groups, k = groupChannels * size * size
        let n = output.spatial, area = size * size
        parameters.withUnsafeBufferPointer { buffer in
            for b in 0..<context.batch {
                let imageSums: UnsafePointer<Float>
                switch sums {
                case let .batch(all): imageSums = all + b * output.count
                case let .eachImage(compute): imageSums = compute(b)
                }
                for g in 0..<groups {
                    let sums = imageSums + g * m * n
                    let weights = buffer.baseAddress! + offsets[.weights(fanIn: 0)]! + g * m * k
                    let image = context.inputGradient + (b * groups + g) * groupChannels * input.spatial
                    if readsFlat {
                        // The forward read the input as a k × n matrix; its gradient is Wᵀ · sums.
                        context.parallel(k, work: m * k * n) { rows in
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rows.count), Int32(n), Int32(m), 1,
                                        weights + rows.lowerBound, Int32(k), sums, Int32(n), 1,
                                        image + rows.lowerBound * n, Int32(n))
                        }
                        continue
                    }
                    // Threads take whole input channels, so that their col2im never add to the same pixel.
                    context.parallel(groupChannels, work: m * k * n) { channels, columns in
                        var channel = channels.lowerBound
                        while channel < channels.upperBound {
                            let count = min(columnChannels, channels.upperBound - channel)
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(count * area), Int32(n), Int32(m), 1,
                                        weights + channel * area, Int32(k), sums, Int32(n), 0, columns!, Int32(n))
                            col2im(columns!, channels: count, into: image + channel * input.spatial)
                            channel += count
                        }
                    }
                }
            }
        }
    }

    /// `addInputGradient` where it `transposes`, for training's whole batch of `sums` (the
    /// shared scratch then holds the filters): input channel c's gradient, per group, adds
    /// Σ over filters f of the sums' plane f convolved with filter f's plane c turned half a
    /// turn, by `ds_convolve` with those filters packed as its weights.
    private func addTransposedConvolution(_ context: BackwardContext, sums: UnsafePointer<Float>) {
        guard let scratch = context.shared else { preconditionFailure("backward without its shared scratch") }
        let m = filters / groups, groupChannels = input.channels / groups, area = size * size, k = m * area
        let start = offsets[.weights(fanIn: 0)]!, isa = Self.instructionSet, tile = transposedWinogradTile
        let chunk = transposedChunk, turned = scratch, packed = scratch + chunk.turned
        let columns = tile.map { Self.tiles(of: Int($0), input) } ?? input.spatial
        for g in 0..<groups {
            for first in stride(from: 0, to: groupChannels, by: chunk.channels) {
                let channels = first..<min(groupChannels, first + chunk.channels)
                for f in 0..<m {
                    for c in channels {
                        let from = start + ((g * m + f) * groupChannels + c) * area, to = ((c - first) * m + f) * area + area - 1
                        for t in 0..<area { turned[to - t] = parameters[from + t] }
                    }
                }
                let rows = Int32(channels.count)
                if let tile {
                    ds_winograd_pack_weights(isa, turned, rows, Int32(m), Int32(size), tile, packed)
                } else {
                    ds_pack_weights(isa, turned, rows, Int32(k), packed)
                }
                Self.share(context, images: 0..<context.batch, columns: columns, rows: channels.count,
                           work: channels.count * k * input.spatial / 16) { b, from, to, part, scratch in
                    var convolution = ds_convolution(
                        image: sums + (b * groups + g) * m * output.spatial, channels: Int32(m),
                        height: Int32(output.height), width: Int32(output.width), size: Int32(size), stride_x: 1, stride_y: 1,
                        dilation: 1, padding: Int32(size - 1 - padding), out_height: Int32(input.height), out_width: Int32(input.width),
                        phases: nil)
                    let out = context.inputGradient + ((b * groups + g) * groupChannels + first) * input.spatial
                    let (low, high) = (Int32(part.lowerBound), Int32(part.upperBound))
                    if let tile {
                        ds_winograd(isa, &convolution, tile, packed, rows, nil, from, to, low, high, scratch, 0, out)
                    } else {
                        ds_convolve(isa, &convolution, packed, rows, nil, from, to, low, high, out)
                    }
                }
            }
        }
    }

    /// The input channels whose turned filters `addTransposedConvolution` packs at a time, whole
    /// panels of them, about a megabyte (Winograd's packing is four times that): working memory
    /// kept with the pass, since a fresh copy of a large layer's weights on each call left the
    /// allocator holding hundreds of megabytes. With the floats of each.
    private var transposedChunk: (channels: Int, turned: Int, packed: Int) {
        guard transposes else { return (0, 0, 0) }
        let isa = Self.instructionSet, m = filters / groups, k = m * size * size, panel = Int(ds_panel_rows(isa))
        let channels = min(input.channels / groups, max(panel, (1 << 18) / k / panel * panel))
        let packed = transposedWinogradTile.map { ds_winograd_packed_count(isa, Int32(channels), Int32(m), Int32(size), $0) }
            ?? ds_packed_weights_count(isa, Int32(channels), Int32(k))
        return (channels, channels * k, packed)
    }

    /// Winograd's tile for the input's gradient as a convolution (`transposes`): over the
    /// sums' `filters / groups` planes, where their padding is the forward's (`size / 2`).
    private var transposedWinogradTile: Int32? {
        guard transposes, padding == size / 2 else { return nil }
        return Self.winogradTile(size: size, channels: filters / groups, output: input)
    }

    /// The output columns x whose input column x · strideX + shift lies inside the image.
    private func columnsInside(shift: Int) -> Range<Int> {
        let first = min(output.width, shift < 0 ? (-shift + strideX - 1) / strideX : 0)
        let last = min(output.width, input.width - shift <= 0 ? 0 : (input.width - shift + strideX - 1) / strideX)
        return first..<max(first, last)
    }

    /// Adds each column's values back onto the pixels `im2col` took them from.
    private func col2im(_ columns: UnsafePointer<Float>, channels: Int, into image: UnsafeMutablePointer<Float>) {
        let width = input.width, height = input.height, outWidth = output.width
        var row = columns
        for channel in 0..<channels {
            let plane = image + channel * input.spatial
            for dy in 0..<size {
                for dx in 0..<size {
                    let shift = (dx - padding) * dilation, inside = columnsInside(shift: shift)
                    let (first, last) = (inside.lowerBound, inside.upperBound)
                    for y in 0..<output.height {
                        let inY = y * strideY + (dy - padding) * dilation
                        guard inY >= 0, inY < height, first < last else { continue }
                        let target = plane + inY * width + shift, source = row + y * outWidth
                        if strideX == 1 {
                            for x in first..<last { target[x] += source[x] }
                        } else {
                            for x in first..<last { target[x * strideX] += source[x] }
                        }
                    }
                    row += output.spatial
                }
            }
        }
    }

    static let instructionSet = InstructionSet.chosen.kernel
}

/// How convolutions compute their sums.
public enum ConvolutionAlgorithm: String, CaseIterable, Sendable {
    /// Darknet's: each sum bit for bit what Darknet computes.
    case darknet
    /// Winograd's F(4×4, 3×3) (F(2×2, 3×3) on small images) and F(2×2, 5×5) where they
    /// apply: about twice as fast, within float rounding of Darknet's sums but not equal to them.
    /// Elsewhere the direct sums by fused multiply-adds, with batch norm and the bias folded
    /// into one multiply-add.
    case winograd

    /// What a network uses unless told otherwise: Winograd's, which holds Darknet's parity
    /// bounds (each layer within 1e-4 of Darknet's largest value, probabilities within 1e-5;
    /// `OracleTests`) at about twice the speed.
    public static let `default` = winograd
}
