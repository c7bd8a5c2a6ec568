// Serving with `weights: q8`: the model quantized at load, named in /info, smaller in memory, and answering.
import Foundation
import QuillModel
import QuillService
import Testing

@Suite("Serving 8-bit weights", .serialized)
struct QuantizedServingTests {
    @Test("a q8 model says so in /info, holds fewer weight bytes than in f32, and completes")
    func q8Serves() async throws {
        let f32 = Fixture.model
        let q8 = try LoadedModel(path: Fixture.checkpointPath, workers: 1, precision: .q8)
        #expect(q8.precision == .q8 && f32.precision == .f32)
        try await Fixture.withServer(model: q8) { server in
            let info = try await RawClient.request(port: server.port, path: "/info").json
            #expect(info["model"]?["weights"]?.string == "q8")
            let bytes = info["model"]?["memory"]?["weights_bytes"]?.int ?? 0
            #expect(bytes > 0 && bytes < f32.weightBytes, "q8 \(bytes) bytes against f32 \(f32.weightBytes)")
            let r = try await RawClient.post(port: server.port, "/complete",
                                             json: #"{"prompt":"ROMEO:","max_tokens":12,"strategy":"greedy","logprobs":2}"#)
            #expect(r.status == 200)
            #expect(r.json["tokens"]?.array?.count == 12)
        }
    }

    @Test("the weights setting takes f32 or q8, from the file, QUILL_WEIGHTS or the flag, and names anything else")
    func weightsSetting() throws {
        var c = ServerConfig()
        #expect(c.weights == "f32")
        try c.apply(environment: ["QUILL_WEIGHTS": "q8"])
        #expect(c.weights == "q8")
        try c.validate()
        c.weights = "q4"
        #expect(throws: ServiceError.self) { try c.validate() }
        do { try c.validate() } catch { #expect(error.description.contains("weights must be f32 or q8")) }
    }
}
