// Chat templates: how a conversation becomes the prompt text of a model that only continues text. A fixed set of
// named templates (no template language to interpret): a checkpoint records one name (`chat_template` in its
// config), and a model without one is served with `plain`. Each template ends the prompt with the assistant's turn
// opened, and names the stop strings that end the assistant's reply (the start of the next turn).

public enum ChatTemplate: String, CaseIterable, Sendable, Codable {
    /// A transcript for base models: one `role: content` line per message, then `assistant:`.
    case plain
    /// ChatML (`<|im_start|>role\ncontent<|im_end|>`), as Qwen and many fine-tunes use.
    case chatml
    /// Alpaca's instruction format: `### Instruction:` / `### Response:` sections, the system message first.
    case alpaca

    /// The template a model without one is served with.
    public static let `default` = ChatTemplate.plain

    public struct Message: Sendable, Equatable {
        /// system, user or assistant.
        public var role: Role
        public var content: String
        public init(role: Role, content: String) {
            self.role = role
            self.content = content
        }
    }

    public enum Role: String, Sendable, CaseIterable {
        case system, user, assistant
    }

    /// The prompt for `messages`, ending where the assistant's next reply begins.
    public func render(_ messages: [Message]) -> String {
        var out = ""
        switch self {
        case .plain:
            for m in messages { out += "\(m.role.rawValue): \(m.content)\n" }
            out += "assistant:"
        case .chatml:
            for m in messages { out += "<|im_start|>\(m.role.rawValue)\n\(m.content)<|im_end|>\n" }
            out += "<|im_start|>assistant\n"
        case .alpaca:
            for m in messages {
                switch m.role {
                case .system: out += "\(m.content)\n\n"
                case .user: out += "### Instruction:\n\(m.content)\n\n"
                case .assistant: out += "### Response:\n\(m.content)\n\n"
                }
            }
            out += "### Response:\n"
        }
        return out
    }

    /// Stop strings that end the assistant's reply: the start of any next turn.
    public var stops: [String] {
        switch self {
        case .plain: ["\nuser:", "\nassistant:", "\nsystem:"]
        case .chatml: ["<|im_end|>", "<|im_start|>"]
        case .alpaca: ["### Instruction:", "### Response:"]
        }
    }

    /// The names, for messages: "plain, chatml, alpaca".
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
