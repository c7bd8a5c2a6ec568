// quill-server: serves a Quill checkpoint over HTTP (API.md). Settings: defaults < Config/server.json (or
// --config FILE) < QUILL_* environment variables < flags. SIGTERM/SIGINT drain in-flight requests for
// drain_seconds, then exit 0.
import ArgumentParser
import Dispatch
import Foundation
import Logging
import QuillModel
import QuillService
import QuillSettings
import QuillTensor

/// glibc's mallopt (malloc.h, which the Glibc module does not export).
@_silgen_name("mallopt")
func glibcMallopt(_ parameter: CInt, _ value: CInt) -> CInt

@main
struct QuillServerCommand: AsyncParsableCommand {

    /// OpenBLAS's kernels first (BLASKernels: a CPU newer than the library gets slow fallback kernels).
    static func main() async {
        BLASKernels.reexecIfFallback()
        // A fixed mmap threshold: allocations of 256 KB and more (request bodies, responses, logits) are mapped and
        // unmapped, never kept in the heap arenas. glibc's default raises the threshold each time a mapped chunk is
        // freed, after which such buffers fragment the arenas and a long-running server's RSS creeps up.
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 256 << 10)
        await self.main(nil)
    }
    static let configuration = CommandConfiguration(
        commandName: "quill-server",
        abstract: "Serve a Quill checkpoint over HTTP: /complete, /tokenize, /attention, /v1/completions, …",
        discussion: """
            Settings come from defaults, then the config file, then QUILL_* environment variables (QUILL_PORT, \
            QUILL_CHECKPOINT, QUILL_API_KEY, … one per config key), then these flags.

            """ + ServerConfig.table.helpText,
        version: QuillAPI.version)

    @Option(help: "JSON settings file (default: Config/server.json when it exists).")
    var config: String?
    @Flag(name: .customLong("settings-table"), help: "Print the settings as the README's Markdown table, and exit.")
    var settingsTable = false
    @Argument(parsing: .allUnrecognized, help: "Settings: --key value (any setting below).")
    var settingFlags: [String] = []

    func settings() throws(ServiceError) -> ServerConfig {
        var s = ServerConfig()
        if let config {
            s = try ServerConfig.load(file: config)
        } else if FileManager.default.fileExists(atPath: "Config/server.json") {
            s = try ServerConfig.load(file: "Config/server.json")
        }
        try s.apply(environment: ProcessInfo.processInfo.environment)
        try s.apply(flags: settingFlags)
        try s.validate()
        _ = try s.allAPIKeys()  // an unreadable or empty api_key_file stops the start, not the first request
        return s
    }

    func run() async throws {
        if settingsTable {
            print(ServerConfig.table.markdownTable)
            return
        }
        let s: ServerConfig
        do { s = try settings() } catch { fail(error.description) }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = Logger.Level(rawValue: s.logLevel) ?? .info
            return h
        }
        let logger = Logger(label: "quill-server")
        Parallel.configureBLAS()
        let workers = s.threads > 0 ? s.threads : ProcessInfo.processInfo.activeProcessorCount
        // The port opens first, so probes see {"status":"loading"} (503) while the checkpoint loads.
        let server = QuillServer(config: s, logger: logger)
        do { try server.start() } catch { fail(error.description) }
        let started = Date()
        let model: LoadedModel
        do {
            model = try LoadedModel(path: s.checkpoint, name: s.modelName, workers: workers,
                                    precision: WeightPrecision(rawValue: s.weights) ?? .f32)
        } catch {
            fail("\(error.description)\(FileManager.default.fileExists(atPath: s.checkpoint) ? "" : "; train one with `quill-train train` or set --checkpoint")")
        }
        server.load(model)
        logger.info("serving \(model.name) (\(model.parameterCount) parameters, \(model.precision.rawValue) weights, \(model.tokenizer.kind.rawValue) tokenizer, loaded in \(String(format: "%.2f", Date().timeIntervalSince(started))) s) on http://\(s.host.contains(":") ? "[\(s.host)]" : s.host):\(server.port)\(server.tlsPort.map { " and https://\(s.host.contains(":") ? "[\(s.host)]" : s.host):\($0)" } ?? "")")

        // SIGHUP: load the checkpoint again (live reload); the model in use keeps serving if the new one fails.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler {
            Task {
                do {
                    let outcome = try await server.reload()
                    if !outcome.reloaded { logger.info("SIGHUP: \(s.checkpoint) is unchanged (sha256 \(outcome.model.fileSHA256.prefix(12)))") }
                } catch {
                    logger.warning("SIGHUP: \((error as? APIError)?.message ?? "\(error)")")
                }
            }
        }
        hangup.resume()

        // SIGTERM/SIGINT: stop accepting, drain, exit 0. A second signal exits at once, with 128 + the signal.
        let (signals, continuation) = AsyncStream<Int32>.makeStream()
        let count = SignalCount()
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if count.increment() > 1 {
                    // A second signal gives up on the drain: say so, and exit as a process killed by it would.
                    FileHandle.standardError.write(Data(
                        "quill-server: signal \(sig) during the drain: exiting at once, requests still in flight are cut\n".utf8))
                    _exit(128 + sig)
                }
                continuation.yield(sig)
            }
            source.resume()
            sources.append(source)
        }
        for await sig in signals {
            logger.info("signal \(sig): draining in-flight requests for up to \(s.drainSeconds) s")
            await server.shutdown()
            logger.info("stopped")
            break
        }
        sources.forEach { $0.cancel() }
        hangup.cancel()
    }

    func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("quill-server: error: \(message)\n".utf8))
        Foundation.exit(1)
    }
}

/// Signals received so far.
final class SignalCount: @unchecked Sendable {  // `n` is guarded by `lock`
    private let lock = NSLock()
    private var n = 0
    func increment() -> Int { lock.withLock { n += 1; return n } }
}
