import CPNG
import Foundation

extension Raster {
    /// Writes the picture as an 8-bit RGB PNG through libpng; never over an existing file.
    public func writePNG(to path: String) throws {
        try Raster.refuseExisting(path)
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            rgb[3 * i] = pixels[4 * i]
            rgb[3 * i + 1] = pixels[4 * i + 1]
            rgb[3 * i + 2] = pixels[4 * i + 2]
        }
        var message = [CChar](repeating: 0, count: 256)
        let failed = ds_png_write(path, rgb, Int32(width), Int32(height), &message, message.count)
        guard failed == 0 else {
            throw RenderError(path: path, problem: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }
}

extension Raster {
    /// Throws what `writePNG` would for a file that already exists, so that a command can
    /// refuse before its work rather than after.
    public static func refuseExisting(_ path: String) throws {
        if FileManager.default.fileExists(atPath: path) {
            throw RenderError(path: path, problem: "already exists; darkscope does not overwrite files (remove it first)")
        }
    }
}

/// A picture that cannot be written.
public struct RenderError: Error, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }
}
