import Darknet
import Foundation
import XCTest

/// Darknet's classifier augmentation (`load_data_augment`), against what its formulas give
/// worked by hand.
final class AugmentationTests: XCTestCase {
    private func augmentation(_ options: String, width: Int = 8) throws -> Augmentation {
        try Network(cfg: CfgFile.parse("[net]\nwidth=\(width)\nheight=\(width)\nchannels=3\n\(options)\n[softmax]\n", file: "test.cfg"))
            .training.augmentation
    }

    /// An 8×8 RGB picture whose every value differs.
    private let picture = Image(width: 8, height: 8, channels: 3, values: (0..<192).map { Float($0) / 191 })

    private func mirrored(_ image: Image) -> Image {
        var mirror = image
        for c in 0..<3 { for y in 0..<8 { for x in 0..<8 { mirror[x, y, c] = image[7 - x, y, c] } } }
        return mirror
    }

    func testDarknetsDefaultsAreReadFromNet() throws {
        let defaults = try augmentation("", width: 224)
        XCTAssertEqual(defaults.minRatio, 1)
        XCTAssertEqual(defaults.maxRatio, 2)
        XCTAssertEqual([defaults.angle, defaults.aspect, defaults.hue, defaults.saturation, defaults.exposure], [0, 1, 0, 1, 1])
        XCTAssertTrue(defaults.flip)
        let given = try augmentation("min_crop=256\nmax_crop=448\nangle=7\naspect=.75\nhue=.1\nsaturation=.75\nexposure=.75\nflip=0", width: 224)
        XCTAssertEqual(given.minRatio, 256 / 224, accuracy: 1e-6)
        XCTAssertEqual(given.maxRatio, 2)
        XCTAssertEqual([given.angle, given.aspect, given.hue, given.saturation, given.exposure], [7, 0.75, 0.1, 0.75, 0.75])
        XCTAssertFalse(given.flip)
        XCTAssertThrowsError(try augmentation("aspect=0")) { error in
            XCTAssertEqual("\(error)", "test.cfg:5: [net] aspect=0.0 must be a positive number")
        }
    }

    /// With the crop the input's own size, no angle and no colour change, the crop is the
    /// picture itself, or its mirror; both come up, and the same seed gives the same draws.
    func testACropOfTheInputsSizeIsThePictureOrItsMirror() throws {
        let plain = try augmentation("min_crop=8\nmax_crop=8")
        var random = SplitMix64(seed: 3), flips = 0
        var outputs: [Image] = []
        for _ in 0..<20 {
            let crop = plain.apply(to: picture, size: 8, using: &random)
            XCTAssertTrue(crop == picture || crop == mirrored(picture))
            if crop != picture { flips += 1 }
            outputs.append(crop)
        }
        XCTAssertTrue((4...16).contains(flips), "\(flips) of 20 flipped")
        var again = SplitMix64(seed: 3)
        XCTAssertEqual((0..<20).map { _ in plain.apply(to: picture, size: 8, using: &again) }, outputs)
        let never = try augmentation("min_crop=8\nmax_crop=8\nflip=0")
        var draws = SplitMix64(seed: 3)
        for _ in 0..<20 { XCTAssertEqual(never.apply(to: picture, size: 8, using: &draws), picture) }
    }

    /// Values whose draws or crops would overflow (a crash in the random range or the crop's
    /// side) are refused, naming the key and its line.
    func testValuesBeyondAnyPictureAreRefused() {
        for (option, bound) in [("angle=3e38", "360"), ("angle=-400", "360"), ("hue=2e38", "1"), ("max_ratio=1e30", "100"),
                                ("min_ratio=101", "100")] {
            XCTAssertThrowsError(try augmentation(option), option) { error in
                let key = String(option.prefix { $0 != "=" })
                XCTAssertTrue("\(error)".contains("\(key)=") && "\(error)".contains("at most \(bound)") && "\(error)".contains(":5"),
                              "\(option): \(error)")
            }
        }
        XCTAssertNoThrow(try augmentation("angle=-360\nhue=0.5\nmax_ratio=100"))
    }

    /// The rotated, scaled and moved window is Darknet's `rotate_crop_image`: black where it
    /// leaves the photo, each pixel within a float rounding of Debian's (built with -Ofast,
    /// which regroups the sums).
    func testTheRotatedCropIsDarknets() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = Repo.path("assets/dog.jpg")
        let photo = try Oracle.image(path, in: directory)
        let windows: [(radians: Float, scale: Float, size: Int, dx: Float, dy: Float, aspect: Float)] = [
            (0.3, 0.4, 96, 12.5, -7.25, 1.3), (-0.7, 0.1, 64, -3, 2.5, 0.8),
        ]
        for w in windows {
            let theirs = try Oracle.rotatedCrop(path, radians: w.radians, scale: w.scale, size: w.size, dx: w.dx, dy: w.dy,
                                                aspect: w.aspect, in: directory)
            let ours = photo.rotatedCrop(radians: w.radians, scale: w.scale, size: w.size, dx: w.dx, dy: w.dy, aspect: w.aspect)
            XCTAssertEqual([ours.width, ours.height, ours.channels], [theirs.width, theirs.height, theirs.channels])
            let worst = zip(ours.values, theirs.values).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 2.5e-7, "\(w): a pixel differs from Darknet's")
            XCTAssertTrue(theirs.values.contains(0) == (w.scale < 0.2), "\(w): black only where the window leaves the photo")
        }
    }

    /// A crop twice the input's size scales the picture by 2 (rotate_crop_image at scale 2:
    /// output x reads source x at (x - 4) / 2 + dx / 2 + 4), so a ramp rises half as fast;
    /// where the window leaves the picture it is black.
    func testALargerCropScalesThePictureAndIsBlackOutside() throws {
        let ramp = Image(width: 8, height: 8, channels: 3, values: (0..<192).map { Float($0 % 8) / 7 })
        let twice = try augmentation("min_crop=16\nmax_crop=16\nflip=0")
        var random = SplitMix64(seed: 5)
        for _ in 0..<5 {
            let crop = twice.apply(to: ramp, size: 8, using: &random)
            XCTAssertEqual(crop.width, 8)
            XCTAssertEqual(crop.height, 8)
            for x in 0..<7 where crop[x + 1, 3, 0] > 0 && crop[x + 1, 3, 0] < 1 && crop[x, 3, 0] > 0 {
                XCTAssertEqual(crop[x + 1, 3, 0] - crop[x, 3, 0], 1 / 14, accuracy: 1e-5)
            }
        }
        // A 4×4 white picture in an 8×8 window, moved by up to 2 pixels: at least 3×3 pixels
        // of it stay white, and what lies a pixel or more outside it is black.
        let small = Image(width: 4, height: 4, channels: 3, filledWith: 1)
        let same = try augmentation("min_crop=4\nmax_crop=4\nflip=0")
        for _ in 0..<5 {
            let inside = same.apply(to: small, size: 8, using: &random)
            let plane = inside.values.prefix(64)
            XCTAssertGreaterThanOrEqual(plane.filter { $0 == 1 }.count, 9, "\(Array(plane))")
            XCTAssertGreaterThanOrEqual(plane.filter { $0 == 0 }.count, 39, "\(Array(plane))")
        }
    }

    /// Hue, saturation and exposure as Darknet's distort_image: a hue shift of a third turns
    /// red to green, a saturation of 0 turns a colour to grey at its value, an exposure
    /// factor scales the value and clamps at 1.
    func testColourChangesAreDarknetsHSV() throws {
        let red = Image(width: 1, height: 1, channels: 3, values: [1, 0, 0])
        var shifted = red
        shifted.distort(hue: 1.0 / 3, saturation: 1, exposure: 1)
        XCTAssertEqual(shifted.values[0], 0, accuracy: 1e-6)
        XCTAssertEqual(shifted.values[1], 1, accuracy: 1e-6)
        XCTAssertEqual(shifted.values[2], 0, accuracy: 1e-6)
        var grey = Image(width: 1, height: 1, channels: 3, values: [0.8, 0.4, 0.2])
        grey.distort(hue: 0, saturation: 0, exposure: 1)
        XCTAssertEqual(grey.values, [0.8, 0.8, 0.8])
        var bright = Image(width: 1, height: 1, channels: 3, values: [0.6, 0.3, 0.15])
        bright.distort(hue: 0, saturation: 1, exposure: 2)
        XCTAssertEqual(bright.values[0], 1)
        XCTAssertEqual(bright.values[1], 0.6, accuracy: 1e-6)
        XCTAssertEqual(bright.values[2], 0.3, accuracy: 1e-6)
        var same = Image(width: 1, height: 1, channels: 3, values: [0.3, 0.7, 0.5])
        same.distort(hue: 0, saturation: 1, exposure: 1)
        for (a, b) in zip(same.values, [0.3, 0.7, 0.5] as [Float]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }
}
