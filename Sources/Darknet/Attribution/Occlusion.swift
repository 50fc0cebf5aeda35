extension Attributor {
    /// Occlusion sensitivity: the class's probability minus its probability with a grey patch
    /// (the letterbox's 0.5) over each place of the image, each input pixel given the mean of
    /// the patches that cover it. Each occluded image is computed from `forward`, the image's
    /// own pass, again only in the rows of each layer that its patch reaches.
    func occlusion(settings: AttributionSettings, classIndex: Int, probability: Float, input: Image, forward: ForwardResult,
                   letterbox: Letterbox, tracker: inout Tracker) throws -> InputPlane {
        let width = input.width, height = input.height, patch = settings.patch
        var sum = [Float](repeating: 0, count: width * height), covered = sum
        var occluded = input.values
        for position in Self.patchPositions(settings, letterbox: letterbox) {
            let rows = position.y..<(position.y + patch), columns = position.x..<(position.x + patch)
            for c in 0..<input.channels {
                for y in rows {
                    let row = (c * height + y) * width
                    occluded.replaceSubrange((row + columns.lowerBound)..<(row + columns.upperBound), with: repeatElement(0.5, count: patch))
                }
            }
            let probabilities = try predictor.prediction(for: occluded, changedRows: rows, base: forward)
            let drop = probability - probabilities[classIndex]
            for c in 0..<input.channels {
                for y in rows {
                    let row = (c * height + y) * width
                    occluded.replaceSubrange((row + columns.lowerBound)..<(row + columns.upperBound),
                                             with: input.values[(row + columns.lowerBound)..<(row + columns.upperBound)])
                }
            }
            for y in rows {
                for x in columns {
                    sum[y * width + x] += drop
                    covered[y * width + x] += 1
                }
            }
            try tracker.advance()
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
