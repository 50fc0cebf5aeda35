import CJPEG
import CPNG
import Foundation

extension Image {
    /// Loads a JPEG or PNG as 8-bit RGB scaled to [0, 1], as Darknet's `load_image_color`
    /// does through OpenCV: gray and palette expanded, alpha dropped, 16 bits cut to 8.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DarknetError.file(path: path, problem: readProblem(path))
        }
        let bytes = [UInt8](data)
        var width: Int32 = 0, height: Int32 = 0
        var pixels: UnsafeMutablePointer<UInt8>?
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            var result = ds_jpeg_result()
            let failed = ds_jpeg_decode(bytes, UInt(bytes.count), &result)
            guard failed == 0 else { throw DarknetError.image(file: path, problem: "corrupt JPEG: \(message(&result.message))") }
            (width, height, pixels) = (result.width, result.height, result.pixels)
        } else if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            var result = ds_png_result()
            let failed = ds_png_decode(bytes, bytes.count, &result)
            guard failed == 0 else { throw DarknetError.image(file: path, problem: "corrupt PNG: \(message(&result.message))") }
            (width, height, pixels) = (result.width, result.height, result.pixels)
        } else {
            throw DarknetError.image(file: path, problem: bytes.isEmpty ? "the file is empty" : "not a JPEG or PNG image")
        }
        defer { free(pixels) }
        let w = Int(width), h = Int(height), plane = w * h
        let values = [Float](unsafeUninitializedCapacity: 3 * plane) { buffer, initialized in
            for i in 0..<plane {
                for c in 0..<3 { buffer[c * plane + i] = Float(Double(pixels![3 * i + c]) / 255) }
            }
            initialized = 3 * plane
        }
        self.init(width: w, height: h, channels: 3, values: values)
    }
}

/// A C `char[N]` message field as a Swift string.
private func message<T>(_ field: inout T) -> String {
    withUnsafeBytes(of: &field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}
