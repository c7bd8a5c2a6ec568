// quill-train plot: the train and validation loss curves of a checkpoint's training history, as SVG.
import ArgumentParser
import Foundation
import QuillCheckpoint
import QuillTraining

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the loss curves stored in a checkpoint as an SVG file.")

    @Option(help: "Checkpoint (.safetensors).") var checkpoint: String
    @Option(help: "SVG file to write.") var out: String

    func run() throws {
        let ckpt: Checkpoint
        do { ckpt = try Checkpoint.read(from: URL(fileURLWithPath: checkpoint)) } catch { fail(error.description) }
        let history = ckpt.training.history
        guard !history.isEmpty else { fail("\(checkpoint) has no training history to plot") }
        let name = URL(fileURLWithPath: checkpoint).lastPathComponent
        let svg = LossPlot.svg(title: "\(name): loss", series: [
            ("train", "#1f77b4", history.map { ($0.step, $0.trainLoss) }),
            ("val", "#d62728", history.map { ($0.step, $0.valLoss) }),
        ])
        do { try svg.write(toFile: out, atomically: true, encoding: .utf8) } catch {
            fail("cannot write \(out): \(error.localizedDescription)")
        }
        print("\(out): \(history.count) evaluations, steps 0…\(history.last!.step)")
    }
}
