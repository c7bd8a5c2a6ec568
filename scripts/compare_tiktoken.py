#!/usr/bin/env python3
# Quill's GPT-2 tokenizer beside tiktoken on the same file, in the same run: token counts, identical ids, MB/s.
# Run from the package root with the bench venv's python (it has tiktoken), after building quill-bench:
#
#     swift build -c release
#     $(../shared/bench/setup.sh) scripts/compare_tiktoken.py
#
# tiktoken's `gpt2` encoding is rebuilt from the local files (its own download needs the network), exactly as
# tiktoken_ext.openai_public.gpt2 builds it: data_gym_to_mergeable_bpe_ranks + the r50k pattern + <|endoftext|>.
# Timing is like for like: one thread each, whole file, tiktoken's encode_ordinary against `quill-bench tokenize`
# (which encodes without special tokens); the best of --repeat encodes, over --rounds alternating rounds.
# Prints a few readable lines, then one JSON line; exits 1 if the ids differ.
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ["TIKTOKEN_CACHE_DIR"] = ""  # read the local files directly; cache nothing in /tmp


def tiktoken_gpt2(vocab_dir):
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import ENDOFTEXT, r50k_pat_str

    names = [("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")]
    for encoder_json, vocab_bpe in names:
        if os.path.exists(os.path.join(vocab_dir, encoder_json)) and os.path.exists(os.path.join(vocab_dir, vocab_bpe)):
            break
    else:
        sys.exit(f"{vocab_dir}: expected vocab.json + merges.txt or encoder.json + vocab.bpe")
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=os.path.join(vocab_dir, vocab_bpe),
        encoder_json_file=os.path.join(vocab_dir, encoder_json))
    return tiktoken.Encoding(name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={ENDOFTEXT: len(ranks)}, explicit_n_vocab=len(ranks) + 1)


def time_tiktoken(encoding, text, repeat):
    best, ids = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        ids = encoding.encode_ordinary(text)
        best = min(best, time.perf_counter() - start)
    return best, ids


def run_quill(binary, vocab_dir, data, repeat, ids_path):
    command = [binary, "tokenize", "--vocab", vocab_dir, "--data", data, "--repeat", str(repeat), "--ids-out", ids_path]
    try:
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        sys.exit(f"{binary} not found: build it first with `swift build -c release`")
    except subprocess.CalledProcessError as error:
        sys.exit(f"{' '.join(command)} failed:\n{error.stderr}")
    figures = json.loads(output.strip().splitlines()[-1])
    with open(ids_path) as f:
        ids = [int(line) for line in f if line.strip()]
    return figures, ids


def main():
    parser = argparse.ArgumentParser(description="Quill vs tiktoken (gpt2): identical ids and MB/s on one file.")
    data = os.environ.get("QUILL_DATA") or "data"
    parser.add_argument("--vocab", default=os.path.join(data, "gpt2"), help="GPT-2 vocabulary directory")
    parser.add_argument("--data", default=os.path.join(data, "tinyshakespeare.txt"), help="UTF-8 text file")
    parser.add_argument("--bin", default=".build/release/quill-bench", help="the quill-bench executable")
    parser.add_argument("--repeat", type=int, default=5, help="encodes per round; the best counts")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of tiktoken and Quill")
    args = parser.parse_args()

    with open(args.data, encoding="utf-8", newline="") as f:   # newline="": keep "\r\n" as it is in the file
        text = f.read()
    size = len(text.encode("utf-8"))
    encoding = tiktoken_gpt2(args.vocab)

    tiktoken_best, quill_best = float("inf"), float("inf")
    with tempfile.TemporaryDirectory() as scratch:
        ids_path = os.path.join(scratch, "ids.txt")
        for _ in range(args.rounds):
            seconds, tiktoken_ids = time_tiktoken(encoding, text, args.repeat)
            tiktoken_best = min(tiktoken_best, seconds)
            figures, quill_ids = run_quill(args.bin, args.vocab, args.data, args.repeat, ids_path)
            quill_best = min(quill_best, figures["seconds"])

    identical = tiktoken_ids == quill_ids
    tiktoken_mbps, quill_mbps = size / tiktoken_best / 1e6, size / quill_best / 1e6
    import tiktoken
    print(f"file      {args.data}: {size:,} bytes")
    print(f"tiktoken  {tiktoken.__version__} encode_ordinary, 1 thread: {len(tiktoken_ids):,} tokens, "
          f"{tiktoken_best * 1e3:.2f} ms, {tiktoken_mbps:.1f} MB/s")
    print(f"quill     quill-bench tokenize, 1 thread:        {len(quill_ids):,} tokens, "
          f"{quill_best * 1e3:.2f} ms, {quill_mbps:.1f} MB/s")
    if identical:
        print(f"ids       identical; Quill/tiktoken throughput = {quill_mbps / tiktoken_mbps:.2f}x")
    else:
        first = next((i for i, (a, b) in enumerate(zip(tiktoken_ids, quill_ids)) if a != b),
                     min(len(tiktoken_ids), len(quill_ids)))
        print(f"ids       DIFFER from index {first}: tiktoken {tiktoken_ids[first:first + 8]} "
              f"quill {quill_ids[first:first + 8]}")
    print(json.dumps({"bytes": size, "tiktoken_tokens": len(tiktoken_ids), "quill_tokens": len(quill_ids),
                      "identical": identical, "tiktoken_seconds": tiktoken_best, "quill_seconds": quill_best,
                      "tiktoken_mb_per_s": round(tiktoken_mbps, 2), "quill_mb_per_s": round(quill_mbps, 2),
                      "ratio": round(quill_mbps / tiktoken_mbps, 2)}, sort_keys=True))
    sys.exit(0 if identical else 1)


if __name__ == "__main__":
    main()
