import CBLAS
import Foundation

/// OpenBLAS as darkscope runs it: on the calling thread only, since our threads split the
/// BLAS calls between them.
public enum OpenBLAS {
    /// Keeps OpenBLAS to the calling thread. Its pthreads build also starts a thread a core when
    /// it loads, each spinning about 2^28 cycles (0.07 s) for work before it sleeps: on two
    /// cores that takes one from our threads for the first passes (a whole `classify` lasts
    /// about 0.05 s), so the pool is stopped where the build has one (`blas_thread_shutdown_`,
    /// looked up: the serial build has none). A call that asked for threads again would
    /// restart it.
    /// Engines call it as they start; a program calls it first thing, since the pool spins
    /// from the moment the library loads.
    public static func useCallingThread() { _ = stopped }

    private static let stopped: Void = {
        openblas_set_num_threads(1)
        typealias Shutdown = @convention(c) () -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "blas_thread_shutdown_") {
            _ = unsafeBitCast(symbol, to: Shutdown.self)()
        }
    }()
}
