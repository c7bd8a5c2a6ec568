// Data-parallel training across processes: the ranks that `mpirun -np N quill-train train …` starts. Each rank
// runs the same loop on its share of every global batch; gradients are summed with MPI_Allreduce and averaged, so
// every rank applies the same update. Rank 0 evaluates and writes the run's files.
import CQuillMPI
import Foundation

/// The group of processes a run is spread over.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sum over every rank, in place.
    func sum(_ data: UnsafeMutablePointer<Float>, count: Int) throws(TrainingError)
    func sum(_ data: inout [Double]) throws(TrainingError)
    func barrier() throws(TrainingError)
}

/// Open MPI, loaded at run time (CQuillMPI): no MPI is needed to build quill-train or to run it in one process.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    /// The communicator of a process that mpirun started as one of several ranks; nil in a plain process
    /// (no OMPI_COMM_WORLD_SIZE, PMIX_SIZE or PMI_SIZE above 1 in the environment).
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment)
        throws(TrainingError) -> MPICommunicator? {
        let size = ["OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"].compactMap { env[$0].flatMap(Int.init) }.first ?? 1
        guard size > 1 else { return nil }
        return try MPICommunicator()
    }

    private init() throws(TrainingError) {
        var error = [CChar](repeating: 0, count: 512)
        guard quill_mpi_init(&error, error.count) == 0 else {
            throw .config("MPI: " + String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        rank = Int(quill_mpi_rank())
        size = Int(quill_mpi_size())
    }

    public func sum(_ data: UnsafeMutablePointer<Float>, count: Int) throws(TrainingError) {
        let r = quill_mpi_allreduce_sum_float(data, count)
        guard r == 0 else { throw .model("MPI_Allreduce of \(count) floats failed (error \(r))") }
    }

    public func sum(_ data: inout [Double]) throws(TrainingError) {
        let n = data.count
        let r = data.withUnsafeMutableBufferPointer { quill_mpi_allreduce_sum_double($0.baseAddress, n) }
        guard r == 0 else { throw .model("MPI_Allreduce of \(n) doubles failed (error \(r))") }
    }

    public func barrier() throws(TrainingError) {
        let r = quill_mpi_barrier()
        guard r == 0 else { throw .model("MPI_Barrier failed (error \(r))") }
    }

    /// MPI_Finalize: call once, after the last collective operation.
    public func finalize() { _ = quill_mpi_finalize() }

    /// Ends every rank (MPI_Abort): what an error on one rank must do, or the others wait for it forever.
    public func abort(code: Int32) { quill_mpi_abort(code) }
}
