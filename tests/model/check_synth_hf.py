#!/usr/bin/env python3
"""Checks `glossa synth` directories against Hugging Face transformers (run where transformers,
torch and sentencepiece are installed; not part of ctest):

  * AutoModelForSeq2SeqLM.from_pretrained(dir, output_loading_info=True): missing / unexpected /
    mismatched keys (all must be empty), the loaded weights equal the file's, lm_head tied;
  * save_pretrained() of the loaded model writes the same tensor names and shapes as glossa;
  * AutoTokenizer.from_pretrained(dir) gives the same ids as `glossa tokenize` (source side with
    src_lang, target side with tgt_lang) and the same decoded text;
  * model.generate() runs;
  * optionally (--full DIR: full-size directories with config.json, the tokenizer files and the
    safetensors header alone as header.safetensors), the full-size tensor names and shapes agree
    with the model transformers builds from that config (on the meta device), and the full-size
    tokenizers agree with glossa's.

Usage: check_synth_hf.py --glossa BIN --work TMPDIR [--full DIR] [--json OUT.json]
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import torch
import transformers
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

SENTENCES = [
    "Hello world, this is a test.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "日本語のテキストも少し。",
    "  leading and   inner spaces  ",
    "Numbers 12345, symbols %s {{x}} and émojis 😀.",
]

# name, synth options, (source codes), (target code), tokenizer kind
CASES = [
    ("tiny", ["--arch", "tiny"], ["en_XX", "de_DE", "ja_XX"], "ro_RO"),
    ("tiny_fp16", ["--arch", "tiny", "--fp16", "--seed", "3"], ["en_XX"], "de_DE"),
    ("mbart", ["--arch", "mbart-large-50", "--layers", "1", "--d-model", "64", "--vocab", "2054"],
     ["en_XX", "de_DE", "ja_XX"], "fr_XX"),
    ("mbart_fill", ["--arch", "mbart-large-50", "--layers", "1", "--d-model", "64", "--vocab", "12054"],
     ["en_XX", "ja_XX"], "de_DE"),
    ("nllb", ["--arch", "nllb-200-distilled-600m", "--layers", "1", "--d-model", "64", "--vocab", "2206"],
     ["eng_Latn", "deu_Latn", "jpn_Jpan"], "fra_Latn"),
    ("nllb_fill", ["--arch", "nllb-200-distilled-600m", "--layers", "1", "--d-model", "64", "--vocab", "12206"],
     ["eng_Latn", "zho_Hans"], "deu_Latn"),
    ("m2m100", ["--arch", "m2m100-418m", "--layers", "1", "--d-model", "64", "--vocab", "2109"],
     ["en", "de", "ja"], "fr"),
    ("m2m100_fill", ["--arch", "m2m100-418m", "--layers", "1", "--d-model", "64", "--vocab", "12109"],
     ["en"], "de"),
    ("marian", ["--arch", "opus-mt-en-de", "--layers", "1", "--d-model", "64", "--vocab", "2000"], [None], None),
    ("marian_fill", ["--arch", "opus-mt-en-de", "--layers", "1", "--d-model", "64", "--vocab", "12000"], [None], None),
    ("bart", ["--arch", "bart-base", "--layers", "1", "--d-model", "64", "--vocab", "1000"], [], None),
]


def log(*a):
    print(*a, flush=True)


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return {k: tuple(v["shape"]) for k, v in h.items()}, n


def glossa_ids(args, d, lines, lang, target):
    cmd = [args.glossa, "tokenize", "-m", d]
    if target:
        cmd += ["--target"] + (["--tgt", lang] if lang else [])
    elif lang:
        cmd += ["--src", lang]
    r = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("glossa tokenize: " + r.stderr)
    return [[int(x) for x in line.split()] for line in r.stdout.splitlines()]


def glossa_decode(args, d, ids):
    r = subprocess.run([args.glossa, "tokenize", "-m", d, "--decode", "--skip-special"],
                       input="\n".join(" ".join(map(str, x)) for x in ids) + "\n", capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("glossa decode: " + r.stderr)
    return r.stdout.split("\n")[:len(ids)]


def check_model(d, res):
    model, info = AutoModelForSeq2SeqLM.from_pretrained(d, output_loading_info=True)
    model.eval()
    info = {k: sorted(v) if isinstance(v, (list, set)) else str(v) for k, v in info.items()}
    res["loading_info"] = info
    res["class"] = type(model).__name__
    res["dtype"] = str(model.dtype)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    log("  loading_info:", json.dumps(info))
    ours = load_file(os.path.join(d, "model.safetensors"))
    sd = model.state_dict()
    diff = [k for k, v in ours.items() if k not in sd or not torch.equal(sd[k].to(v.dtype), v)]
    res["values_differ"] = diff
    tied = model.lm_head.weight.data_ptr() == model.model.shared.weight.data_ptr()
    res["lm_head_tied"] = tied
    log("  weights equal to the file's:", not diff, diff[:5], "| lm_head tied:", tied, "| dtype", model.dtype)
    with tempfile.TemporaryDirectory() as t:
        model.save_pretrained(t)
        theirs, _ = header(os.path.join(t, "model.safetensors"))
        mine, _ = header(os.path.join(d, "model.safetensors"))
        res["save_only_hf"] = sorted(set(theirs) - set(mine))
        res["save_only_glossa"] = sorted(set(mine) - set(theirs))
        res["save_shape_diff"] = sorted(k for k in set(mine) & set(theirs) if mine[k] != theirs[k])
        files = sorted(os.listdir(t))
        res["save_files"] = files
        cfg_hf = json.load(open(os.path.join(t, "config.json")))
        cfg_me = json.load(open(os.path.join(d, "config.json")))
        res["config_only_hf"] = {k: cfg_hf[k] for k in sorted(set(cfg_hf) - set(cfg_me))}
        res["config_only_glossa"] = sorted(set(cfg_me) - set(cfg_hf))
        res["config_value_diff"] = {k: [cfg_me[k], cfg_hf[k]] for k in sorted(set(cfg_me) & set(cfg_hf))
                                    if cfg_me[k] != cfg_hf[k]}
        if "generation_config.json" in files:
            res["generation_config_hf"] = json.load(open(os.path.join(t, "generation_config.json")))
        res["generation_config_glossa"] = json.load(open(os.path.join(d, "generation_config.json")))
    log("  save_pretrained: only HF", res["save_only_hf"], "only glossa", res["save_only_glossa"],
        "shape diff", res["save_shape_diff"])
    log("  config: HF adds", json.dumps(res["config_only_hf"]), "| HF drops", res["config_only_glossa"],
        "| values differ", json.dumps(res["config_value_diff"]))
    log("  generation_config HF:", json.dumps(res.get("generation_config_hf")), "| glossa:",
        json.dumps(res["generation_config_glossa"]))
    ok = not bad and not diff and tied and not res["save_only_hf"] and not res["save_only_glossa"] \
        and not res["save_shape_diff"]
    return model, ok


def check_tokenizer(args, d, srcs, tgt, res):
    tok = AutoTokenizer.from_pretrained(d)
    cfg = json.load(open(os.path.join(d, "config.json")))
    res["tokenizer_class"] = type(tok).__name__
    res["len_tokenizer"] = len(tok)
    log("  tokenizer", type(tok).__name__, "len", len(tok), "vocab_size", cfg["vocab_size"])
    agree = total = 0
    mismatches = []
    for src in srcs:
        for target, lang in ((False, src), (True, tgt)):
            if lang is not None:
                if target:
                    tok.tgt_lang = lang
                else:
                    tok.src_lang = lang
            hf = [tok(text_target=s)["input_ids"] if target else tok(s)["input_ids"] for s in SENTENCES]
            gl = glossa_ids(args, d, SENTENCES, lang, target)
            for s, a, b in zip(SENTENCES, hf, gl):
                total += 1
                if a == b:
                    agree += 1
                else:
                    mismatches.append({"text": s, "lang": lang, "target": target, "hf": a, "glossa": b})
            if max(max(x) for x in hf) >= cfg["vocab_size"]:
                mismatches.append({"error": "id past vocab_size", "lang": lang})
    # decoding (skip_special_tokens=True) of the source ids
    hf_ids = [tok(s)["input_ids"] for s in SENTENCES]
    hf_dec = [tok.decode(x, skip_special_tokens=True) for x in hf_ids]
    gl_dec = glossa_decode(args, d, hf_ids)
    dec_agree = sum(a == b for a, b in zip(hf_dec, gl_dec))
    for a, b in zip(hf_dec, gl_dec):
        if a != b:
            mismatches.append({"decode_hf": a, "decode_glossa": b})
    res["ids_agree"] = f"{agree}/{total}"
    res["decode_agree"] = f"{dec_agree}/{len(SENTENCES)}"
    res["mismatches"] = mismatches[:6]
    log(f"  ids agree {agree}/{total}, decode agrees {dec_agree}/{len(SENTENCES)}")
    for m in mismatches[:4]:
        log("   MISMATCH", json.dumps(m, ensure_ascii=False)[:600])
    sample = glossa_ids(args, d, SENTENCES[:1], srcs[0], False)[0]
    log("  sample ids:", sample, tok.convert_ids_to_tokens(sample))
    return tok, agree == total and dec_agree == len(SENTENCES) and not mismatches


def check_generate(model, tok, srcs, tgt, res):
    if tok is not None:
        if srcs[0]:
            tok.src_lang = srcs[0]
        enc = tok(SENTENCES[:2], return_tensors="pt", padding=True)
    else:
        enc = {"input_ids": torch.tensor([[0, 100, 200, 300, 2]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    kw = {}
    if tgt and tok is not None:
        kw["forced_bos_token_id"] = tok.convert_tokens_to_ids(tgt if "_" in tgt else f"__{tgt}__")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=8, num_beams=2, **kw)
    res["generate"] = out.tolist()
    log("  generate:", out.tolist())
    return True


FULL_LANGS = {"MBart50Tokenizer": (["en_XX", "ja_XX"], "de_DE"), "NllbTokenizer": (["eng_Latn", "zho_Hans"], "deu_Latn"),
              "M2M100Tokenizer": (["en", "ja"], "de"), "MarianTokenizer": ([None], None)}


def check_full(args, full_dir, results):
    for name in sorted(os.listdir(full_dir)):
        d = os.path.join(full_dir, name)
        res = results.setdefault("full:" + name, {})
        try:
            cfg = AutoConfig.from_pretrained(d)
            with torch.device("meta"):
                model = AutoModelForSeq2SeqLM.from_config(cfg)
            sd = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            mine, _ = header(os.path.join(d, "header.safetensors"))
            res["not_in_model"] = sorted(set(mine) - set(sd))
            res["shape_diff"] = sorted(k for k in mine if k in sd and sd[k] != mine[k])
            res["model_not_saved"] = sorted(set(sd) - set(mine))
            res["params_file"] = sum(math.prod(s) for s in mine.values())
            log(f"full {name}: {len(mine)} tensors, {res['params_file']} params; not in model",
                res["not_in_model"], "shape diff", res["shape_diff"], "| in the model, not saved:",
                res["model_not_saved"])
            res["ok"] = not res["not_in_model"] and not res["shape_diff"]
            if os.path.exists(os.path.join(d, "tokenizer_config.json")):
                cls = json.load(open(os.path.join(d, "tokenizer_config.json")))["tokenizer_class"]
                srcs, tgt = FULL_LANGS[cls]
                t0 = time.time()
                _, ok = check_tokenizer(args, d, srcs, tgt, res)
                log(f"  full tokenizer checked in {time.time() - t0:.1f} s")
                res["ok"] = res["ok"] and ok
        except Exception as e:
            res["error"] = repr(e)
            res["ok"] = False
            log(f"full {name}: ERROR", traceback.format_exc()[-1500:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glossa", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--full")
    ap.add_argument("--json")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    log("transformers", transformers.__version__, "torch", torch.__version__)
    results = {}
    for name, opts, srcs, tgt in CASES:
        if args.only and name not in args.only:
            continue
        d = os.path.join(args.work, name)
        res = results.setdefault(name, {})
        log(f"== {name}: glossa synth {' '.join(opts)}")
        ok = True
        try:
            subprocess.run([args.glossa, "synth", "--out", d] + opts, check=True, capture_output=True)
            model, ok = check_model(d, res)
            tok = None
            if srcs:
                tok, tok_ok = check_tokenizer(args, d, srcs, tgt, res)
                ok = ok and tok_ok
            ok = check_generate(model, tok, srcs or [None], tgt, res) and ok
        except Exception as e:
            ok = False
            res["error"] = repr(e)
            log("  ERROR", traceback.format_exc()[-2000:])
        res["ok"] = ok
        log(f"  => {'OK' if ok else 'NOT OK'}")
    if args.full:
        check_full(args, args.full, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, ensure_ascii=False, default=str)
    bad = [k for k, v in results.items() if not v.get("ok")]
    log("SUMMARY:", "all OK" if not bad else "NOT OK: " + ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
