extension Attributor {
    /// Images per forward pass of occluded copies: enough for every thread to have whole
    /// images' work in each layer.
    static let occlusionBatch = 8

    /// Occlusion sensitivity: the class's probability minus its probability with a grey patch
    /// (the letterbox's 0.5) over each place of the image, each input pixel given the mean of
    /// the patches that cover it. The patches run as batches on every thread.
    func occlusion(settings: AttributionSettings, classIndex: Int, probability: Float, input: Image,
                   letterbox: Letterbox, tracker: inout Tracker) throws -> InputPlane {
        let positions = Self.patchPositions(settings, letterbox: letterbox)
        let width = input.width, height = input.height, patch = settings.patch, count = input.values.count
        var sum = [Float](repeating: 0, count: width * height), covered = sum
        var start = 0
        while start < positions.count {
            let chunk = positions[start..<min(start + Self.occlusionBatch, positions.count)]
            var batch = [Float](repeating: 0, count: chunk.count * count)
            for (b, position) in chunk.enumerated() {
                batch.replaceSubrange((b * count)..<((b + 1) * count), with: input.values)
                for c in 0..<input.channels {
                    for y in position.y..<(position.y + patch) {
                        let row = b * count + (c * height + y) * width
                        batch.replaceSubrange((row + position.x)..<(row + position.x + patch), with: repeatElement(0.5, count: patch))
                    }
                }
            }
            let result = try predictor.forward(batch, batch: chunk.count, keepingLayerOutputs: false)
            for (b, position) in chunk.enumerated() {
                let probabilities = result.prediction(image: b)
                let drop = probability - probabilities[probabilities.startIndex + classIndex]
                for y in position.y..<(position.y + patch) {
                    for x in position.x..<(position.x + patch) {
                        sum[y * width + x] += drop
                        covered[y * width + x] += 1
                    }
                }
            }
            try tracker.advance(by: chunk.count)
            start += chunk.count
        }
        return InputPlane(width: width, height: height, values: zip(sum, covered).map { $1 > 0 ? $0 / $1 : 0 })
    }

    /// The patches' top-left corners in the input: every `stride` pixels across the image's
    /// place in it, and one flush with its right and bottom edges, so every pixel is covered.
    static func patchPositions(_ settings: AttributionSettings, letterbox: Letterbox) -> [(x: Int, y: Int)] {
        let patch = settings.patch, stride = max(settings.stride, 1)
        guard patch > 0, patch <= letterbox.width, patch <= letterbox.height else { return [] }
        func starts(_ origin: Int, _ length: Int) -> [Int] {
            var starts = Array(Swift.stride(from: 0, through: length - patch, by: stride))
            if starts.last! != length - patch { starts.append(length - patch) }
            return starts.map { origin + $0 }
        }
        let xs = starts(letterbox.left, letterbox.width)
        return starts(letterbox.top, letterbox.height).flatMap { y in xs.map { (x: $0, y: y) } }
    }

    /// Refuses a patch or stride that cannot slide over the image's place in the input.
    static func checkPatch(_ settings: AttributionSettings, letterbox: Letterbox) throws {
        guard settings.patch > 0, settings.stride > 0 else {
            throw DarknetError.usage("the occlusion patch (\(settings.patch)) and stride (\(settings.stride)) must be at least 1 pixel")
        }
        guard settings.patch <= letterbox.width, settings.patch <= letterbox.height else {
            throw DarknetError.patchTooLarge(patch: settings.patch, width: letterbox.width, height: letterbox.height)
        }
    }
}
