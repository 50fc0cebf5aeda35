import CJPEG
import CPNG
import Foundation

extension Image {
    /// The most pixels an image file may have: 64 megapixels (8192 × 8192), more than any
    /// photo a classifier is shown. Checked from the header before decoding, since decoding
    /// takes 15 bytes a pixel (a 16384 × 16384 PNG of 294 KB took 4 GB and 11 s).
    public static let maximumPixels = 1 << 26

    static func tooLarge(_ path: String, _ width: Int32, _ height: Int32, limit: Int) -> DarknetError {
        .image(file: path, problem: "too large: \(width) x \(height) is \(Int(width) * Int(height)) pixels; darkscope reads images of at most \(limit) pixels" + (limit == maximumPixels ? " (64 megapixels, such as 8192 x 8192)" : ""))
    }

    /// Loads a JPEG or PNG as 8-bit RGB scaled to [0, 1], as Darknet's `load_image_color`
    /// does through OpenCV: gray and palette expanded, alpha dropped, 16 bits cut to 8,
    /// then turned and flipped as its Exif orientation says.
    public init(contentsOf path: String) throws {
        try self.init(decoding: try readRegularFile(path), file: path)
    }

    /// Decodes a JPEG's or PNG's bytes as `init(contentsOf:)` does; `file` names it in errors.
    /// `maximumPixels` lower than the default bounds the work (the fuzzer's: a few hundred
    /// bytes of JPEG can claim 64 megapixels).
    public init(decoding data: Data, file path: String, maximumPixels: Int = Image.maximumPixels) throws {
        let bytes = [UInt8](data)
        var width: Int32 = 0, height: Int32 = 0
        var pixels: UnsafeMutablePointer<UInt8>?
        let orientation = exifOrientation(bytes)
        let format = imageFormat(bytes.prefix(8))
        if format == "a JPEG" {
            var result = ds_jpeg_result()
            let failed = ds_jpeg_decode(bytes, UInt(bytes.count), UInt(maximumPixels), &result)
            if failed == 2 { throw Image.tooLarge(path, result.width, result.height, limit: maximumPixels) }
            guard failed == 0 else { throw DarknetError.image(file: path, problem: "corrupt JPEG: \(message(&result.message))") }
            (width, height, pixels) = (result.width, result.height, result.pixels)
        } else if format == "a PNG" {
            var result = ds_png_result()
            let failed = ds_png_decode(bytes, bytes.count, UInt(maximumPixels), &result)
            if failed == 2 { throw Image.tooLarge(path, result.width, result.height, limit: maximumPixels) }
            guard failed == 0 else { throw DarknetError.image(file: path, problem: "corrupt PNG: \(message(&result.message))") }
            (width, height, pixels) = (result.width, result.height, result.pixels)
        } else {
            let found = format.map { ", but \($0) image" } ?? ""
            throw DarknetError.image(file: path, problem: bytes.isEmpty ? "the file is empty" : "not a JPEG or PNG image\(found)")
        }
        defer { free(pixels) }
        let w = Int(width), h = Int(height), plane = w * h
        // OpenCV's ApplyExifOrientation: 2-4 flip, 5-8 transpose then flip.
        let turned = orientation >= 5
        let (outWidth, outHeight) = turned ? (h, w) : (w, h)
        let flipX = turned ? orientation == 6 || orientation == 7 : orientation == 2 || orientation == 3
        let flipY = turned ? orientation == 7 || orientation == 8 : orientation == 3 || orientation == 4
        let values = [Float](unsafeUninitializedCapacity: 3 * plane) { buffer, initialized in
            initialized = 3 * plane
            if orientation == 1 {
                // Upright (nearly every photo): one pass a plane over the pixels in order.
                let scaled = (0...255).map { Float(Double($0) / 255) }, source = pixels!
                for c in 0..<3 {
                    for i in 0..<plane { buffer[c * plane + i] = scaled[Int(source[3 * i + c])] }
                }
                return
            }
            var i = 0
            for y in 0..<outHeight {
                let fy = flipY ? outHeight - 1 - y : y
                for x in 0..<outWidth {
                    let fx = flipX ? outWidth - 1 - x : x
                    let source = 3 * (turned ? fx * w + fy : fy * w + fx)
                    for c in 0..<3 { buffer[c * plane + i] = Float(Double(pixels![source + c]) / 255) }
                    i += 1
                }
            }
        }
        self.init(width: outWidth, height: outHeight, channels: 3, values: values)
    }
}

/// The image format `bytes` start with, by signature ("a JPEG", "a PNG", …), else nil.
func imageFormat(_ bytes: some Collection<UInt8>) -> String? {
    let signatures: [(String, [UInt8])] = [
        ("a JPEG", [0xFF, 0xD8, 0xFF]), ("a PNG", [0x89, 0x50, 0x4E, 0x47]), ("a GIF", Array("GIF8".utf8)),
        ("a BMP", Array("BM".utf8)), ("a TIFF", [0x49, 0x49, 0x2A, 0x00]), ("a TIFF", [0x4D, 0x4D, 0x00, 0x2A]),
    ]
    return signatures.first { bytes.starts(with: $0.1) }?.0
}

/// The Exif orientation (1-8) OpenCV's imread applies for Darknet, else 1. OpenCV reads it
/// from a JPEG's first APP1 segment or a PNG's first valid eXIf chunk, in the first IFD only.
func exifOrientation(_ bytes: [UInt8]) -> Int {
    guard let tiff = jpegExif(bytes) ?? pngExif(bytes), let orientation = tiffOrientation(Array(tiff)),
          (1...8).contains(orientation) else { return 1 }
    return orientation
}

/// The TIFF data of a JPEG's first APP1 segment, after the six bytes OpenCV skips ("Exif\0\0").
private func jpegExif(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
    guard bytes.starts(with: [0xFF, 0xD8]) else { return nil }
    var offset = 2
    while offset + 4 <= bytes.count, bytes[offset] == 0xFF {
        let marker = bytes[offset + 1]
        if marker == 0xFF { offset += 1; continue }  // fill byte
        if marker == 0xDA || marker == 0xD9 { return nil }  // the header ends at the first scan
        let end = offset + 2 + (Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3]))
        guard end <= bytes.count else { return nil }
        if marker == 0xE1 { return end - offset > 10 ? bytes[(offset + 10)..<end] : nil }
        offset = end
    }
    return nil
}

/// The first eXIf chunk of a PNG that libpng keeps: at least two bytes, `II` or `MM`.
private func pngExif(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
    guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { return nil }
    var offset = 8
    while offset + 8 <= bytes.count {
        let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
        let start = offset + 8, end = start + length
        guard end <= bytes.count, type != "IEND" else { return nil }
        if type == "eXIf", length >= 2, bytes[start] == bytes[start + 1],
           bytes[start] == UInt8(ascii: "I") || bytes[start] == UInt8(ascii: "M") {
            return bytes[start..<end]
        }
        offset = end + 4
    }
    return nil
}

/// Tag 0x0112 of the first IFD, read as OpenCV's ExifReader reads it: little-endian only
/// for `II`, the value's first 16 bits whatever its type, nothing past the end.
private func tiffOrientation(_ tiff: [UInt8]) -> Int? {
    let little = tiff.starts(with: [UInt8(ascii: "I"), UInt8(ascii: "I")])
    func read(_ offset: Int, _ size: Int) -> Int? {
        guard offset >= 0, offset + size <= tiff.count else { return nil }
        let field = tiff[offset..<(offset + size)]
        return (little ? field.reversed() : Array(field)).reduce(0) { $0 << 8 | Int($1) }
    }
    guard read(2, 2) == 42, let first = read(4, 4), let count = read(first, 2) else { return nil }
    for entry in 0..<count {
        let offset = first + 2 + 12 * entry
        guard let tag = read(offset, 2) else { return nil }
        if tag == 0x0112 { return read(offset + 8, 2) }
    }
    return nil
}

/// A C `char[N]` message field as a Swift string.
private func message<T>(_ field: inout T) -> String {
    withUnsafeBytes(of: &field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}
