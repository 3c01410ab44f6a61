#!/usr/bin/env python3
"""glossa vs HF transformers side by side on the GPU machine (the CUDA-backend issue's matrix).

    python3 bench/hf_compare.py --glossa BIN [--model DIR] [--out OUT] [--runs 3] [--quick]

One random-weight model for both engines: `glossa synth --arch mbart-large-50` (611M parameters),
which transformers loads from the same files. Shapes: 64 input tokens, exactly 64 generated
(min_new_tokens = max_new_tokens, EOS ignored), greedy at batch 1, 8, 32, 64 and 128, beam 4 with
16 requests. HF runs fp16 with sdpa, eager with its default dynamic cache and with
cache_implementation="static"; glossa runs `glossa bench --device cuda` (fp16).

Also measured in the same run: the copy bandwidth of the card (a 1 GiB device-to-device copy,
bytes read plus written), and from it the floor of a greedy decode step (decoder weights plus
lm_head in fp16, plus the KV cache read by the step) and each engine's achieved bandwidth (floor
bytes / step time). glossa's greedy steps of 1-64 rows read an int8 copy of the lm_head instead
(256 MB fewer, the ids exact: src/backend/cuda/cuda_lm_int8.cu), so there the floor is the
issue's definition, not the bytes glossa reads, and its "achieved" figure is equivalent. Prints a markdown table (ratio = glossa over the faster HF configuration) and
writes OUT/hf_compare.json.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "model"))
import hf_run  # noqa: E402

GREEDY_BATCHES = [1, 8, 32, 64, 128]
BEAM = (16, 4)
IN_LEN = OUT_LEN = 64


def copy_bandwidth():
    """Bytes read + written per second of a large device-to-device copy (median of 20)."""
    n = 1 << 29  # 1 GiB of fp16
    a = torch.empty(n, dtype=torch.float16, device="cuda").uniform_()
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    times = []
    for _ in range(20):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        b.copy_(a)
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    times.sort()
    del a, b
    torch.cuda.empty_cache()
    return 2 * n * 2 / times[len(times) // 2]


def step_bytes(cfg, batch, beams=1):
    """Fewest bytes one decode step must move: the decoder's weights and the lm_head in fp16,
    read once, and the fp16 K/V the step attends over (self-attention: OUT_LEN/2 past tokens, the
    average over the generation; cross-attention: IN_LEN) for every row."""
    d, f, L, V = cfg["d_model"], cfg["decoder_ffn_dim"], cfg["decoder_layers"], cfg["vocab_size"]
    per_layer = 4 * d * d + 4 * d * d + 2 * d * f  # self-attn QKVO, cross-attn QKVO, FFN
    weights = 2 * (L * per_layer + V * d)
    rows = batch * beams
    kv = 2 * rows * L * 2 * d * (OUT_LEN // 2 + IN_LEN)
    return weights + kv


def glossa_bench(binary, model, batch, beam, runs):
    cmd = [binary, "bench", "-m", model, "--device", "cuda", "--batch", str(batch), "--in", str(IN_LEN),
           "--out", str(OUT_LEN), "--beam", str(beam), "--runs", str(runs), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    line = next((l for l in p.stdout.splitlines() if l.startswith("{")), None)
    if p.returncode != 0 or not line:
        return {"failed": (p.stderr or p.stdout)[-300:]}
    return json.loads(line)


def hf_bench(model, m_cache, batch, beam, cache, runs):
    a = argparse.Namespace(dir=model, batch=batch, in_len=IN_LEN, out_len=OUT_LEN, beam=beam, device="cuda",
                           dtype="fp16", threads=os.cpu_count(), runs=runs, cache=cache)
    import contextlib
    import io
    buf = io.StringIO()
    try:
        torch.cuda.reset_peak_memory_stats()
        with contextlib.redirect_stdout(buf):
            hf_run.cmd_bench(a, model_cache=m_cache)
        return json.loads(buf.getvalue().strip().splitlines()[-1])
    except Exception as e:  # noqa: BLE001 - a configuration HF cannot run is reported, not fatal
        torch.cuda.empty_cache()
        return {"failed": repr(e)[-300:]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glossa", required=True)
    ap.add_argument("--model", default="/tmp/mbart-large-50")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="batch 1 and 64 only, no beam")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.model, "model.safetensors")):
        subprocess.run([a.glossa, "synth", "--arch", "mbart-large-50", "--out", a.model], check=True)
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    gpu = torch.cuda.get_device_name()
    bw = copy_bandwidth()
    print(f"{gpu}: copy bandwidth {bw / 1e12:.2f} TB/s", flush=True)
    shapes = [(b, 1) for b in ([1, 64] if a.quick else GREEDY_BATCHES)] + ([] if a.quick else [BEAM])
    m_cache = {}
    rows = []
    for batch, beam in shapes:
        r = {"batch": batch, "beam": beam}
        r["glossa"] = glossa_bench(a.glossa, a.model, batch, beam, a.runs)
        r["hf_static"] = hf_bench(a.model, m_cache, batch, beam, "static", a.runs)
        r["hf_eager"] = hf_bench(a.model, m_cache, batch, beam, "dynamic", a.runs)
        floor = step_bytes(cfg, batch, beam)
        r["floor_bytes_per_step"] = floor
        r["floor_ms_per_step"] = floor / bw * 1e3
        for k in ("glossa", "hf_static", "hf_eager"):
            if "ms_per_step" in r[k]:
                r[k]["achieved_tb_s"] = floor / (r[k]["ms_per_step"] / 1e3) / 1e12
        rows.append(r)
        print(json.dumps(r), flush=True)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "hf_compare.json"), "w") as f:
        json.dump({"gpu": gpu, "copy_bandwidth_tb_s": bw / 1e12, "model": cfg.get("_name_or_path", a.model),
                   "in": IN_LEN, "out": OUT_LEN, "date": time.strftime("%Y-%m-%d"), "rows": rows}, f, indent=1)

    def cell(x, key, fmt):
        return fmt.format(x[key]) if key in x else "failed"

    print(f"\n{gpu}, copy bandwidth {bw / 1e12:.2f} TB/s; {IN_LEN} in, {OUT_LEN} out, fp16\n")
    print("| batch x beam | glossa tok/s | ms/step | TTFT ms | HF static tok/s | HF eager tok/s | "
          "ratio to faster HF | floor ms/step | glossa achieved TB/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        g, s, e = r["glossa"], r["hf_static"], r["hf_eager"]
        best = max(s.get("tok_per_s", 0), e.get("tok_per_s", 0))
        ratio = f"{g['tok_per_s'] / best:.2f}x" if best and "tok_per_s" in g else "-"
        print(f"| {r['batch']} x {r['beam']} | {cell(g, 'tok_per_s', '{:,.0f}')} | {cell(g, 'ms_per_step', '{:.3f}')} "
              f"| {cell(g, 'ttft_ms', '{:.2f}')} | {cell(s, 'tok_per_s', '{:,.0f}')} | {cell(e, 'tok_per_s', '{:,.0f}')} "
              f"| {ratio} | {r['floor_ms_per_step']:.3f} | {cell(g, 'achieved_tb_s', '{:.2f}')} |")
    # memory: glossa's device memory beyond its backend's creation, less the K/V block pools (which
    # are sized from free memory, not by the batch), against HF's torch peak allocation
    print("\n| batch x beam | glossa device MiB | of it K/V pools | glossa less pools | HF static peak MiB | "
          "HF eager peak MiB | KV bytes/token |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        g, s, e = r["glossa"], r["hf_static"], r["hf_eager"]
        less = (f"{g['device_mib'] - g['kv_pool_mib']:,.0f}" if "device_mib" in g and "kv_pool_mib" in g
                else "-")
        print(f"| {r['batch']} x {r['beam']} | {cell(g, 'device_mib', '{:,.0f}')} | {cell(g, 'kv_pool_mib', '{:,.0f}')} "
              f"| {less} | {cell(s, 'peak_mem_mib', '{:,.0f}')} | {cell(e, 'peak_mem_mib', '{:,.0f}')} "
              f"| {cell(g, 'kv_bytes_per_token', '{:,}')} |")


if __name__ == "__main__":
    main()
