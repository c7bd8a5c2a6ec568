#!/usr/bin/env python3
"""Validation loss against wall-clock seconds for a Quill run and a PyTorch run, as one SVG (no dependencies).

Usage: scripts/quality-plot.py QUILL.metrics.jsonl TORCH.log OUT.svg
QUILL.metrics.jsonl: quill-train's metrics (lines with "val_loss" and "seconds");
TORCH.log: the output of ../shared/bench/torch_gpt.py quality (lines {"step", "seconds", "val_loss"}).
Also prints a Markdown table of both curves."""
import json
import sys


def read(path, key_s="seconds"):
    pts = []
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        o = json.loads(line)
        step = o.get("step", o.get("steps"))  # torch_gpt.py's final line says "steps"
        if "val_loss" in o and key_s in o and step is not None:
            pts.append((float(o[key_s]), float(o["val_loss"]), int(step)))
    return pts


quill, torch = read(sys.argv[1]), read(sys.argv[2])
W, H, L, R, T, B = 720, 420, 60, 20, 40, 50
w, h = W - L - R, H - T - B
xs = [p[0] for p in quill + torch]
ys = [p[1] for p in quill + torch if p[0] > 0] or [p[1] for p in quill + torch]
xmax = max(xs)
lo, hi = min(ys) - 0.05, min(max(ys), 3.0) + 0.05


def X(s): return L + s / xmax * w
def Y(v): return T + (hi - min(v, hi)) / (hi - lo) * h


out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       '<rect width="100%" height="100%" fill="white"/>',
       f'<text x="{L}" y="24" font-size="15">Validation loss against wall-clock time (same model, same schedule)</text>']
for i in range(6):
    v = lo + (hi - lo) * i / 5
    out.append(f'<line x1="{L}" y1="{Y(v):.1f}" x2="{L + w}" y2="{Y(v):.1f}" stroke="#eee"/>')
    out.append(f'<text x="{L - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    s = xmax * i / 5
    out.append(f'<text x="{X(s):.1f}" y="{T + h + 18}" text-anchor="middle">{s / 60:.1f}</text>')
out.append(f'<text x="{L + w / 2}" y="{T + h + 38}" text-anchor="middle">minutes</text>')
for i, (name, color, pts) in enumerate([("Quill", "#d62728", quill), ("PyTorch eager", "#1f77b4", torch)]):
    p = " ".join(f"{X(s):.1f},{Y(v):.1f}" for s, v, _ in pts)
    out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{p}"/>')
    ly = T + 16 * i + 8
    out.append(f'<line x1="{L + w - 140}" y1="{ly}" x2="{L + w - 120}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
    out.append(f'<text x="{L + w - 114}" y="{ly + 4}">{name}</text>')
out.append("</svg>")
open(sys.argv[3], "w").write("\n".join(out) + "\n")


def at(pts, s):  # val loss at s seconds, linear between the evaluations around it
    for (t0, v0, _), (t1, v1, _) in zip(pts, pts[1:]):
        if t0 <= s <= t1:
            return v0 + (v1 - v0) * (s - t0) / max(t1 - t0, 1e-9)
    return None


print("| minutes | Quill val loss | PyTorch val loss |")
print("|---|---|---|")
for m in [3, 4, 6, 8, 10, 12, 14, 15]:
    q, t = at(quill, m * 60), at(torch, m * 60)
    f = lambda x: f"{x:.3f}" if x is not None else "-"
    print(f"| {m} | {f(q)} | {f(t)} |")
print()
print("evaluations (minutes, step, val loss):")
for name, pts in [("Quill", quill), ("PyTorch", torch)]:
    print(f"- {name}: " + ", ".join(f"{t / 60:.1f} min step {st}: {v:.4f}" for t, v, st in pts))
