#!/usr/bin/env python3
"""Writes a Hugging Face GPT-2 folder with random weights, without torch: numpy and safetensors only.

Usage: scripts/random-gpt2.py DIR VOCAB_DIR [--n-layer 12 --n-head 12 --n-embd 768 --n-ctx 1024 --seed 0]
  VOCAB_DIR holds GPT-2's vocab.json and merges.txt (QUILL_DATA/gpt2). The default shape is GPT-2 124M.

Weights are drawn as GPT-2 initialises them (normal, std 0.02; the two residual projections scaled by
1/sqrt(2·n_layer); layer norms 1 and biases 0), so the model is the same size and shape as the real one, for
benchmarks and for comparing precisions. It is not a trained model.
"""
import argparse
import json
import os
import shutil

import numpy as np
from safetensors.numpy import save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("vocab_dir")
    ap.add_argument("--n-layer", type=int, default=12)
    ap.add_argument("--n-head", type=int, default=12)
    ap.add_argument("--n-embd", type=int, default=768)
    ap.add_argument("--n-ctx", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    with open(os.path.join(a.vocab_dir, "vocab.json")) as f:
        V = len(json.load(f))
    C, L, T = a.n_embd, a.n_layer, a.n_ctx
    rng = np.random.default_rng(a.seed)

    def normal(*shape, std=0.02):
        return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float32)

    t = {"transformer.wte.weight": normal(V, C), "transformer.wpe.weight": normal(T, C, std=0.01)}
    for i in range(L):
        p = f"transformer.h.{i}."
        t[p + "ln_1.weight"] = np.ones(C, np.float32)
        t[p + "ln_1.bias"] = np.zeros(C, np.float32)
        t[p + "attn.c_attn.weight"] = normal(C, 3 * C)
        t[p + "attn.c_attn.bias"] = np.zeros(3 * C, np.float32)
        t[p + "attn.c_proj.weight"] = normal(C, C, std=0.02 / np.sqrt(2 * L))
        t[p + "attn.c_proj.bias"] = np.zeros(C, np.float32)
        t[p + "ln_2.weight"] = np.ones(C, np.float32)
        t[p + "ln_2.bias"] = np.zeros(C, np.float32)
        t[p + "mlp.c_fc.weight"] = normal(C, 4 * C)
        t[p + "mlp.c_fc.bias"] = np.zeros(4 * C, np.float32)
        t[p + "mlp.c_proj.weight"] = normal(4 * C, C, std=0.02 / np.sqrt(2 * L))
        t[p + "mlp.c_proj.bias"] = np.zeros(C, np.float32)
    t["transformer.ln_f.weight"] = np.ones(C, np.float32)
    t["transformer.ln_f.bias"] = np.zeros(C, np.float32)
    os.makedirs(a.out, exist_ok=True)
    save_file(t, os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V, "n_positions": T,
              "n_ctx": T, "n_embd": C, "n_layer": L, "n_head": a.n_head, "n_inner": None,
              "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True,
              "bos_token_id": 50256, "eos_token_id": 50256}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(a.vocab_dir, name), os.path.join(a.out, name))
    print(f"{a.out}: GPT-2 {L} layers, {a.n_head} heads, {C} wide, context {T}, vocabulary {V}")


if __name__ == "__main__":
    main()
