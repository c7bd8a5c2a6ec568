#!/usr/bin/env python3
"""Golden reference files from Hugging Face `transformers` for Quill's GPT-2 loader tests.

Quill's Swift tests compare its GPT-2 loader (safetensors weights, config.json, tokenizer.json / vocab.json +
merges.txt) against what `transformers` computes, without needing torch at test time. This script makes the
reference files once; they are committed under Tests/Fixtures.

Run it with the python of the bench venv (torch, numpy, tokenizers, safetensors), plus transformers:

    PY=$(/work/shared/bench/setup.sh)     # venv with torch, numpy, tokenizers, safetensors
    $PY -m pip install -q transformers gguf
    $PY scripts/gpt2-golden.py tiny Tests/Fixtures
    $PY scripts/gpt2-golden.py check-export SOME_HF_DIR out.json [--golden Tests/Fixtures/tiny-gpt2-golden.json]
    $PY scripts/gpt2-golden.py random-124m /tmp/gpt2-124m

Subcommands:
  tiny OUT_DIR
      Builds a tiny byte-level BPE tokenizer (GPT-2's 256 byte symbols, the first 40 usable GPT-2 merges,
      then <|endoftext|>) and a tiny random GPT-2 (2 layers, 4 heads, n_embd 32, n_positions 64, every bias and
      LayerNorm parameter random), and writes
        OUT_DIR/tiny-gpt2/          model.safetensors, config.json, generation_config.json, vocab.json,
                                    merges.txt, tokenizer.json, tokenizer_config.json (+ whatever the tokenizer
                                    save writes)
        OUT_DIR/tiny-gpt2-sharded/  the same weights in 2-3 safetensors shards + model.safetensors.index.json,
                                    config.json, generation_config.json and tokenizer.json only
        OUT_DIR/tiny-gpt2-golden.json
                                    prompt_text, prompt_ids (20), logits at all 20 positions, greedy_ids (30 greedy
                                    tokens after the prompt, full forwards, no cache), min_greedy_margin (smallest
                                    top-1 minus top-2 logit over those steps), tokenizer_cases, versions.
      The seed starts at 0 and is raised until the greedy margins are all >= 1e-3 and no <|endoftext|> is
      generated (so model.generate, which stops at EOS, gives the same 30 tokens).
  check-export DIR OUT_JSON [--golden FILE]
      Loads DIR with GPT2LMHeadModel.from_pretrained and AutoTokenizer.from_pretrained (e.g. a folder Quill
      exported), runs the golden's prompt_ids, and writes {logits, greedy_ids, tokenizer_ids, config} to OUT_JSON.
      Exits non-zero with a message if loading fails.
  random-124m OUT_DIR
      torch.manual_seed(0); GPT2LMHeadModel(GPT2Config()) saved as safetensors with GPT-2's real vocab.json,
      merges.txt and a tokenizer.json, plus OUT_DIR/golden.json with the ids of "Hello, my name is" and the
      logits at the last position (about 500 MB; keep it outside the repository).
"""

import argparse
import json
import os
import shutil
import sys

GPT2_DATA = os.environ.get("QUILL_GPT2_DATA", "/work/shared/data/gpt2")
EOT = "<|endoftext|>"
N_MERGES = 40
PROMPT_LEN = 20
N_NEW = 30
MIN_MARGIN = 1e-3
PROMPT_SENTENCES = [
    "The quick brown fox jumps over the lazy dog, and then it runs back into the quiet forest.",
    "In the morning she went to the market to buy some fresh bread and a little cheese.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
]
TOKENIZER_CASES = [
    "",
    "hello world",
    "  two spaces",
    "line\nbreak",
    "naïve café",
    "🙂 ok",
    "12345",
    "don't stop",
    "Hello, World!",
    EOT,
    "the end" + EOT + "the start",
]


def die(msg):
    print(f"gpt2-golden: {msg}", file=sys.stderr)
    sys.exit(1)


def floats(t):
    """A tensor of float32 values as nested lists of Python floats (exact float32 values, repr in JSON)."""
    return t.detach().to("cpu").float().tolist()


def read_gpt2_merges(path):
    merges = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            line = line.rstrip("\n")
            if i == 0 and line.startswith("#version"):
                continue
            if not line:
                continue
            a, b = line.split(" ")
            merges.append((a, b))
    return merges


def build_tiny_vocab():
    with open(os.path.join(GPT2_DATA, "vocab.json"), encoding="utf-8") as f:
        gpt2_vocab = json.load(f)
    by_id = sorted(gpt2_vocab.items(), key=lambda kv: kv[1])
    vocab = {}
    for tok, i in by_id[:256]:
        assert i == len(vocab) and len(tok) == 1, (tok, i)
        vocab[tok] = i
    assert len(set(vocab)) == 256
    merges = []
    for a, b in read_gpt2_merges(os.path.join(GPT2_DATA, "merges.txt")):
        if len(merges) == N_MERGES:
            break
        if a in vocab and b in vocab and (a + b) not in vocab:
            merges.append((a, b))
            vocab[a + b] = len(vocab)
    vocab[EOT] = len(vocab)
    return vocab, merges


def write_vocab_merges(d, vocab, merges):
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")


def make_tokenizer(vocab, merges):
    from transformers import GPT2TokenizerFast

    # transformers 5 ignores vocab_file/merges_file in the constructor; pass the vocab and merges themselves.
    return GPT2TokenizerFast(vocab=dict(vocab), merges=list(merges))


def encode(tok, text):
    return tok(text)["input_ids"]


def pick_prompt(tok):
    for sentence in PROMPT_SENTENCES:
        ids = encode(tok, sentence)
        if len(ids) < PROMPT_LEN:
            continue
        ids = ids[:PROMPT_LEN]
        text = tok.decode(ids)
        if encode(tok, text) == ids and text.encode("utf-8").decode("utf-8") == text:
            return text, ids
    die("no prompt sentence re-encodes to exactly its first 20 ids")


def randomize(model, gen):
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif (".ln_" in name or name.startswith("transformer.ln_f")) and name.endswith(".weight"):
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.1)


def greedy(model, prompt_ids, n):
    import torch

    ids = list(prompt_ids)
    out, margins = [], []
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids])).logits[0, -1]
            top = torch.topk(logits, 2)
            margins.append(float(top.values[0] - top.values[1]))
            nxt = int(torch.argmax(logits))
            out.append(nxt)
            ids.append(nxt)
    return out, margins


def build_tiny_model(V, seed):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=V, n_positions=64, n_embd=32, n_layer=2, n_head=4,
        bos_token_id=V - 1, eos_token_id=V - 1, initializer_range=0.2,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).float()
    gen = torch.Generator().manual_seed(seed + 1000)
    randomize(model, gen)
    model.eval()
    return model


def list_safetensors(path):
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return {k: (str(f.get_slice(k).get_dtype()), list(f.get_slice(k).get_shape())) for k in f.keys()}


def cmd_tiny(args):
    import torch
    import transformers

    out = os.path.abspath(args.out_dir)
    vocab, merges = build_tiny_vocab()
    V = len(vocab)
    tok = make_tokenizer(vocab, merges)
    assert len(tok) == V, (len(tok), V)
    assert tok.convert_tokens_to_ids(EOT) == V - 1
    prompt_text, prompt_ids = pick_prompt(tok)
    print(f"vocab_size {V}, {len(merges)} merges; prompt {prompt_text!r} -> {prompt_ids}")

    for seed in range(0, 100):
        model = build_tiny_model(V, seed)
        greedy_ids, margins = greedy(model, prompt_ids, N_NEW)
        m = min(margins)
        if m < MIN_MARGIN or (V - 1) in greedy_ids:
            print(f"seed {seed}: min margin {m:.3g}, eos generated {(V - 1) in greedy_ids}; retrying")
            continue
        break
    else:
        die("no seed gave clear greedy margins")
    print(f"seed {seed}: greedy {greedy_ids}, min margin {m}")

    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids])).logits[0]
        gen = model.generate(
            torch.tensor([prompt_ids]), attention_mask=torch.ones(1, PROMPT_LEN, dtype=torch.long),
            do_sample=False, max_new_tokens=N_NEW, pad_token_id=V - 1,
        )[0, PROMPT_LEN:].tolist()
    if gen != greedy_ids:
        die(f"model.generate disagrees with the manual greedy loop:\n{gen}\n{greedy_ids}")
    assert tuple(logits.shape) == (PROMPT_LEN, V)

    a = os.path.join(out, "tiny-gpt2")
    b = os.path.join(out, "tiny-gpt2-sharded")
    for d in (a, b):
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(d)

    model.save_pretrained(a, safe_serialization=True)
    write_vocab_merges(a, vocab, merges)
    tok.save_pretrained(a)

    model.save_pretrained(b, safe_serialization=True, max_shard_size="60KB")
    shutil.copyfile(os.path.join(a, "tokenizer.json"), os.path.join(b, "tokenizer.json"))
    shards = sorted(f for f in os.listdir(b) if f.endswith(".safetensors"))
    if not (2 <= len(shards) <= 3) or not os.path.exists(os.path.join(b, "model.safetensors.index.json")):
        die(f"expected 2-3 shards plus an index, got {os.listdir(b)}")
    for s in shards:
        print(f"{s}: {sorted(list_safetensors(os.path.join(b, s)))}")

    # The tokenizer as a reader of the folder sees it.
    from transformers import AutoTokenizer

    tok_a = AutoTokenizer.from_pretrained(a)
    cases = [{"text": t, "ids": encode(tok_a, t)} for t in TOKENIZER_CASES]
    for c in cases:
        assert c["ids"] == encode(tok, c["text"]), c
    assert encode(tok_a, prompt_text) == prompt_ids

    golden = {
        "prompt_text": prompt_text,
        "prompt_ids": prompt_ids,
        "logits": floats(logits),
        "greedy_ids": greedy_ids,
        "min_greedy_margin": m,
        "seed": seed,
        "vocab_size": V,
        "tokenizer_cases": cases,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    with open(os.path.join(out, "tiny-gpt2-golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {a}, {b}, {os.path.join(out, 'tiny-gpt2-golden.json')}")


def cmd_check_export(args):
    import torch

    with open(args.golden, encoding="utf-8") as f:
        golden = json.load(f)
    try:
        from transformers import AutoTokenizer, GPT2LMHeadModel

        model = GPT2LMHeadModel.from_pretrained(args.dir).float().eval()
    except Exception as e:  # noqa: BLE001
        die(f"GPT2LMHeadModel.from_pretrained({args.dir!r}) failed: {type(e).__name__}: {e}")
    try:
        tok = AutoTokenizer.from_pretrained(args.dir)
    except Exception as e:  # noqa: BLE001
        die(f"AutoTokenizer.from_pretrained({args.dir!r}) failed: {type(e).__name__}: {e}")
    prompt_ids = golden["prompt_ids"]
    n_new = len(golden.get("greedy_ids", [])) or N_NEW
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids])).logits[0]
    greedy_ids, _ = greedy(model, prompt_ids, n_new)
    result = {
        "logits": floats(logits),
        "greedy_ids": greedy_ids,
        "tokenizer_ids": encode(tok, golden["prompt_text"]),
        "config": model.config.to_dict(),
    }
    with open(args.out_json, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, default=str)
        f.write("\n")
    print(f"wrote {args.out_json}")


def cmd_random_124m(args):
    import torch
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    out = os.path.abspath(args.out_dir)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).float().eval()
    model.save_pretrained(out, safe_serialization=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(GPT2_DATA, name), os.path.join(out, name))
    with open(os.path.join(GPT2_DATA, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    tok = make_tokenizer(vocab, read_gpt2_merges(os.path.join(GPT2_DATA, "merges.txt")))
    assert encode(tok, "Hello world") == [15496, 995], encode(tok, "Hello world")
    tok.save_pretrained(out)
    prompt = "Hello, my name is"
    ids = encode(tok, prompt)
    with torch.no_grad():
        last = model(torch.tensor([ids])).logits[0, -1]
    golden = {
        "prompt_text": prompt,
        "prompt_ids": ids,
        "last_logits": floats(last),
        "argmax": int(torch.argmax(last)),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    with open(os.path.join(out, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f)
        f.write("\n")
    print(f"wrote {out}; prompt ids {ids}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_golden = os.path.join(here, "..", "Tests", "Fixtures", "tiny-gpt2-golden.json")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tiny", help="tiny tokenizer + random GPT-2 + golden outputs")
    t.add_argument("out_dir")
    t.set_defaults(fn=cmd_tiny)
    c = sub.add_parser("check-export", help="load a Hugging Face folder and run the golden prompt")
    c.add_argument("dir")
    c.add_argument("out_json")
    c.add_argument("--golden", default=os.path.normpath(default_golden))
    c.set_defaults(fn=cmd_check_export)
    r = sub.add_parser("random-124m", help="random full-size GPT-2 with the real tokenizer")
    r.add_argument("out_dir")
    r.set_defaults(fn=cmd_random_124m)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
