// QuillTraining: corpus loading, train/val batches, evaluation, the training loop, metrics logs and loss plots.
// The optimizer and the learning-rate schedule live in QuillModel, beside the parameters they update.

/// Namespace of the training module; the loop arrives with the trainer (issue: quill-train).
public enum QuillTraining {}
