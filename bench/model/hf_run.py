#!/usr/bin/env python3
"""HF transformers side of the model benchmarks and parity checks (runs on the GPU machine).

  hf_run.py greedy DIR --src en_XX --tgt de_DE --lines FILE --max-new N --out IDS_FILE
      greedy translation of every line (batch of all lines, padded), generated ids without the
      decoder start token, one line each, space-separated
  hf_run.py bench DIR --batch B --in L --out L [--beam N] [--device cpu|cuda] [--dtype fp32|fp16]
      [--threads T] [--runs R] [--cache dynamic|static]
  hf_run.py parity DIR --out DIR [--n 64] [--max-new 32] [--dtype fp16]
      random inputs, HF's greedy ids and first-step logits: the reference of test_cuda_parity
      B requests of L random input ids (EOS last), exactly L new tokens (min_new_tokens = L);
      one warm-up, then the median of R runs; prints one JSON line
"""
import argparse, json, os, statistics, sys, time

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer


def load(d, device, dtype):
    dt = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    m = AutoModelForSeq2SeqLM.from_pretrained(d, dtype=dt).to(device).eval()
    return m


def cmd_greedy(a):
    torch.set_num_threads(a.threads)
    tok = AutoTokenizer.from_pretrained(a.dir)
    tok.src_lang = a.src
    m = load(a.dir, a.device, a.dtype)
    lines = [l.rstrip("\n") for l in open(a.lines, encoding="utf-8")]
    enc = tok(lines, return_tensors="pt", padding=True).to(a.device)
    bos = tok.convert_tokens_to_ids(a.tgt)
    with torch.no_grad():
        out = m.generate(**enc, forced_bos_token_id=bos, num_beams=1, do_sample=False,
                         max_new_tokens=a.max_new)
    pad = m.generation_config.pad_token_id
    with open(a.out, "w") as f:
        for row in out.tolist():
            ids = row[1:]
            while ids and ids[-1] == pad:
                ids.pop()
            f.write(" ".join(map(str, ids)) + "\n")


def cmd_parity(a):
    """The reference of tests/gpu/test_cuda_parity: N random inputs of random length (random ids
    of the spm range, [src_lang] ... </s>), HF's greedy ids (forced target language, max_new
    tokens) and HF's teacher-forced logits of the first two decoder positions ([</s>, tgt_lang]),
    in the dtype given. Writes OUT/inputs.txt (one input a line), OUT/greedy.txt (generated ids
    after the decoder start) and OUT/logits.f32 (N x 2 x vocab, little-endian float32)."""
    torch.manual_seed(a.seed)
    tok = AutoTokenizer.from_pretrained(a.dir)
    m = load(a.dir, a.device, a.dtype)
    src_id, tgt_id = tok.convert_tokens_to_ids(a.src), tok.convert_tokens_to_ids(a.tgt)
    eos, pad = m.generation_config.eos_token_id, m.generation_config.pad_token_id
    n_spm = min(m.config.vocab_size, 250000) - 60
    g = torch.Generator().manual_seed(a.seed)
    inputs = []
    for _ in range(a.n):
        n = int(torch.randint(8, 64, (1,), generator=g))
        body = torch.randint(4, n_spm, (n,), generator=g).tolist()
        inputs.append([src_id] + body + [eos])
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "inputs.txt"), "w") as f:
        f.writelines(" ".join(map(str, x)) + "\n" for x in inputs)
    greedy, logits = [], []
    with torch.no_grad():
        for x in inputs:
            ids = torch.tensor([x], device=a.device)
            out = m.generate(input_ids=ids, attention_mask=torch.ones_like(ids), forced_bos_token_id=tgt_id,
                             num_beams=1, do_sample=False, max_new_tokens=a.max_new)
            row = out[0].tolist()[1:]
            while row and row[-1] == pad:
                row.pop()
            greedy.append(row)
            dec = torch.tensor([[m.config.decoder_start_token_id, tgt_id]], device=a.device)
            lg = m(input_ids=ids, attention_mask=torch.ones_like(ids), decoder_input_ids=dec).logits
            logits.append(lg[0].float().cpu())
    with open(os.path.join(a.out, "greedy.txt"), "w") as f:
        f.writelines(" ".join(map(str, x)) + "\n" for x in greedy)
    torch.stack(logits).numpy().astype("<f4").tofile(os.path.join(a.out, "logits.f32"))


def cmd_bench(a, model_cache=None):
    """model_cache: a dict that keeps loaded models across calls (bench/hf_compare.py)."""
    torch.set_num_threads(a.threads)
    dev = a.device
    key = (a.dir, dev, a.dtype)
    if model_cache is not None and key in model_cache:
        m = model_cache[key]
    else:
        m = load(a.dir, dev, a.dtype)
        if model_cache is not None:
            model_cache[key] = m
    g = torch.Generator().manual_seed(0)
    vocab = m.config.vocab_size
    ids = torch.randint(4, min(vocab, 250000) - 60, (a.batch, a.in_len), generator=g)
    ids[:, -1] = m.config.eos_token_id
    ids = ids.to(dev)
    mask = torch.ones_like(ids)
    kw = dict(max_new_tokens=a.out_len, min_new_tokens=a.out_len, num_beams=a.beam,
              do_sample=False, early_stopping=False)
    if a.cache == "static":
        kw["cache_implementation"] = "static"

    def once():
        if dev == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            out = m.generate(input_ids=ids, attention_mask=mask, **kw)
        if dev == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, out

    once()
    times = []
    for _ in range(a.runs):
        t, out = once()
        times.append(t)
    med = statistics.median(times)
    gen = out.shape[1] - 1
    res = {"peer": "hf-transformers", "device": dev, "dtype": a.dtype, "threads": a.threads,
           "batch": a.batch, "in": a.in_len, "out": a.out_len, "beam": a.beam, "cache": a.cache,
           "generated_per_seq": gen, "runs": a.runs, "total_ms": med * 1e3,
           "tok_per_s": a.batch * a.out_len / med, "ms_per_step": med * 1e3 / a.out_len,
           "torch": torch.__version__, "transformers": __import__("transformers").__version__}
    if dev == "cuda":
        res["peak_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(res), flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("greedy")
    g.add_argument("dir")
    g.add_argument("--src", required=True)
    g.add_argument("--tgt", required=True)
    g.add_argument("--lines", required=True)
    g.add_argument("--max-new", type=int, default=32)
    g.add_argument("--threads", type=int, default=os.cpu_count())
    g.add_argument("--device", default="cpu")
    g.add_argument("--dtype", default="fp32")
    g.add_argument("--out", required=True)
    b = sub.add_parser("bench")
    b.add_argument("dir")
    b.add_argument("--batch", type=int, default=16)
    b.add_argument("--in", dest="in_len", type=int, default=64)
    b.add_argument("--out", dest="out_len", type=int, default=64)
    b.add_argument("--beam", type=int, default=1)
    b.add_argument("--device", default="cpu")
    b.add_argument("--dtype", default="fp32")
    b.add_argument("--threads", type=int, default=os.cpu_count())
    b.add_argument("--runs", type=int, default=3)
    b.add_argument("--cache", default="dynamic")
    p = sub.add_parser("parity")
    p.add_argument("dir")
    p.add_argument("--src", default="en_XX")
    p.add_argument("--tgt", default="de_DE")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--max-new", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="fp16")
    p.add_argument("--out", required=True)
    a = ap.parse_args()
    {"greedy": cmd_greedy, "bench": cmd_bench, "parity": cmd_parity}[a.cmd](a)


if __name__ == "__main__":
    main()
