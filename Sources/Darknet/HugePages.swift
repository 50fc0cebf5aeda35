import Foundation

extension Array where Element == Float {
    /// A copy of `values` in memory the kernel may back with 2 MB pages where the array spans
    /// them (Linux's transparent huge pages, when set to `madvise`): a forward pass streams
    /// through its weights, and in a virtual machine each 4 KB page missed in the TLB
    /// costs a two-level page walk (AlexNet's fully connected layers: 3 % faster).
    static func onHugePages(_ values: some Collection<Float>) -> [Float] {
        onHugePages(count: values.count) { buffer in _ = buffer.initialize(fromContentsOf: values) }
    }

    /// `count` floats on such memory, every one written by `initialize`: fresh pages are
    /// zeroed by the kernel, so zeroing them first would be a second pass for nothing.
    static func onHugePages(count: Int, initializingWith initialize: (UnsafeMutableBufferPointer<Float>) -> Void) -> [Float] {
        // An empty array is Swift's one shared empty storage: setting its count of 0 here is a
        // write to a global that other threads read (ThreadSanitizer: a parameterless layer's
        // random weights made on the explorer's worker while the screen read an empty array).
        guard count > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            // Large arrays are fresh mappings, untouched until written: advise them first.
            if let base = buffer.baseAddress {
                let huge = 2 << 20
                let start = (Int(bitPattern: base) + huge - 1) / huge * huge
                let end = (Int(bitPattern: base + count)) / huge * huge
                if end > start { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE) }
            }
            initialize(buffer)
            initialized = count
        }
    }
}
