#!/usr/bin/env python3
"""Train glossa's demo model: a small many-to-many mBART-architecture translator over Multi30k
(en de fr cs, all 12 directions) and the UI strings (English <-> 20 languages), with one
SentencePiece vocabulary over all 24 languages. Runs on the GPU machine (torch, transformers 5.x,
sentencepiece); seeded.

    python3 tools/train_demo/train.py --data DATA --out MODEL_DIR [--steps N|auto] [--budget S]

--steps auto measures the step time over the first steps and plans as many steps as fit in
--budget seconds of training; the plan is printed and written to MODEL_DIR/training.json, and
--steps N with that number reproduces the run. The model directory is an HF one (config.json,
generation_config.json, model.safetensors in fp16, sentencepiece.bpe.model, tokenizer.json,
tokenizer_config.json) that transformers and glossa both load.
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402

FAIRSEQ_CODES = ["ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN",
                 "hi_IN", "it_IT", "ja_XX", "kk_KZ", "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP",
                 "nl_XX", "ro_RO", "ru_RU", "si_LK", "tr_TR", "vi_VN", "zh_CN", "af_ZA", "az_AZ",
                 "bn_IN", "fa_IR", "he_IL", "hr_HR", "id_ID", "ka_GE", "km_KH", "mk_MK", "ml_IN",
                 "mn_MN", "mr_IN", "pl_PL", "ps_AF", "pt_XX", "sv_SE", "sw_KE", "ta_IN", "te_IN",
                 "th_TH", "tl_XX", "uk_UA", "ur_PK", "xh_ZA", "gl_ES", "sl_SI"]

ARCH = dict(d_model=256, encoder_layers=6, decoder_layers=3, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=1024, decoder_ffn_dim=1024,
            max_position_embeddings=256, activation_function="gelu", scale_embedding=True,
            dropout=0.1, attention_dropout=0.0, activation_dropout=0.0, init_std=0.02)
SPM_VOCAB = 20000
MAX_LEN = 128          # tokens per side, language code and </s> included
PAD, BOS, EOS, UNK = 1, 0, 2, 3


T0 = time.time()


def args_spm_vocab():
    return SPM_VOCAB


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


# ---------------------------------------------------------------- vocabulary and tokenizer files

def train_spm(texts, prefix, seed):
    """A unigram SentencePiece model over all languages (nmt_nfkc, no byte fallback)."""
    path = prefix + ".txt"
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(t.replace("\n", " ") + "\n")
    spm.set_random_generator_seed(seed)
    spm.SentencePieceTrainer.train(
        input=path, model_prefix=prefix, vocab_size=args_spm_vocab(), model_type="unigram",
        character_coverage=0.9995, input_sentence_size=3000000, shuffle_input_sentence=True,
        num_threads=16, max_sentence_length=4096, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        minloglevel=2)
    return prefix + ".model"


def layout(n_spm):
    """Token ids of the mBART-50 layout: <s> <pad> </s> <unk>, spm pieces (offset 1), the 52
    language codes, <mask>, then this model's extra codes."""
    ids = {c: n_spm + 1 + i for i, c in enumerate(FAIRSEQ_CODES)}
    mask = n_spm + 1 + len(FAIRSEQ_CODES)
    for i, c in enumerate(D.EXTRA_CODES):
        ids[c] = mask + 1 + i
    return ids, mask, mask + 1 + len(D.EXTRA_CODES)


def added(content, lstrip=False, normalized=False):
    return {"content": content, "lstrip": lstrip, "normalized": normalized, "rstrip": False,
            "single_word": False, "special": True}


def write_tokenizer_config(d, n_spm):
    codes, mask, _ = layout(n_spm)
    atd = {str(i): added(t) for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>"])}
    for c, i in codes.items():
        atd[str(i)] = added(c)
    atd[str(mask)] = added("<mask>", lstrip=True, normalized=True)
    cfg = {"added_tokens_decoder": dict(sorted(atd.items(), key=lambda kv: int(kv[0]))),
           "additional_special_tokens": FAIRSEQ_CODES + D.EXTRA_CODES,
           "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "mask_token": "<mask>",
           "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>",
           "clean_up_tokenization_spaces": False, "model_max_length": ARCH["max_position_embeddings"],
           "src_lang": "en_XX", "tgt_lang": "de_DE", "tokenizer_class": "MBart50Tokenizer"}
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)


class Encoder:
    """Text to ids: transformers' tokenizer of the model directory when it loads and agrees with
    the layout, else sentencepiece with the fairseq offset (the same ids by construction)."""

    def __init__(self, d, sp_path):
        self.sp = spm.SentencePieceProcessor(model_file=sp_path)
        self.codes, self.mask, self.vocab = layout(self.sp.get_piece_size())
        self.hf = None
        try:
            from transformers import AutoTokenizer
            tok = AutoTokenizer.from_pretrained(d)
            bad = [c for c, i in self.codes.items() if tok.convert_tokens_to_ids(c) != i]
            if bad:
                log("WARNING: transformers gives other ids for", bad[:5])
            else:
                self.hf = tok
        except Exception as e:  # noqa: BLE001
            log("WARNING: transformers cannot load the tokenizer:", repr(e))

    def spm_ids(self, texts):
        out = self.sp.encode(texts, num_threads=16)
        return [[i + 1 if i else UNK for i in row] for row in out]

    def ids(self, texts):
        if self.hf is None:
            return self.spm_ids(texts)
        return self.hf(texts, add_special_tokens=False)["input_ids"]

    def check(self, texts):
        """Sentences where transformers' ids differ from sentencepiece's with the offset."""
        if self.hf is None:
            return None
        a, b = self.ids(texts), self.spm_ids(texts)
        return sum(x != y for x, y in zip(a, b))


# ---------------------------------------------------------------- training data

def build_pairs(data):
    """[(src_lang, tgt_lang, src_text, tgt_text, weight)]"""
    pairs = []
    m = D.multi30k(data, "train")
    n = len(m["en"])
    for s in D.M30K_LANGS:
        for t in D.M30K_LANGS:
            if s != t:
                pairs += [(s, t, m[s][i], m[t][i], 2) for i in range(n)]
    for lang in D.UI_LANGS:
        train, _ = D.ui_strings(data, lang)
        w = min(10, max(1, math.ceil(5000 / max(1, len(train)))))
        pairs += [("en", lang, en, x, w) for en, x in train]
        pairs += [(lang, "en", x, en, w) for en, x in train]
    return pairs


class Corpus:
    """Token ids of every example in flat arrays: source [code] x </s>, target [code] y </s>."""

    def __init__(self, enc, pairs):
        texts = {}
        for s, t, a, b, _ in pairs:
            texts.setdefault(a, None)
            texts.setdefault(b, None)
        uniq = list(texts)
        log(f"tokenizing {len(uniq)} distinct sentences")
        ids = enc.ids(uniq)
        index = {t: i for i, t in enumerate(uniq)}
        lens = np.array([min(len(x), MAX_LEN - 2) for x in ids], dtype=np.int32)
        offs = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(lens, out=offs[1:])
        flat = np.zeros(int(offs[-1]), dtype=np.int32)
        for i, x in enumerate(ids):
            flat[offs[i]:offs[i + 1]] = x[:lens[i]]
        self.flat, self.offs, self.lens = flat, offs, lens
        code = {l: enc.codes[D.LANG_CODES[l]] for l in D.LANG_CODES}
        ex = []
        for s, t, a, b, w in pairs:
            ex += [(index[a], index[b], code[s], code[t])] * w
        self.ex = np.array(ex, dtype=np.int64)
        self.src_len = lens[self.ex[:, 0]] + 2
        self.tgt_len = lens[self.ex[:, 1]] + 2
        n_unk = int((flat == UNK).sum())
        log(f"{len(self.ex)} examples per epoch, {len(flat)} tokens, {n_unk} <unk>")

    def batches(self, rng, max_tokens):
        """Index arrays of one epoch: examples of similar length together, each batch at most
        max_tokens padded tokens on either side, batches in random order."""
        perm = rng.permutation(len(self.ex))
        out = []
        chunk = 200000
        for c in range(0, len(perm), chunk):
            idx = perm[c:c + chunk]
            key = np.maximum(self.src_len[idx], self.tgt_len[idx])
            idx = idx[np.argsort(key, kind="stable")]
            start, longest = 0, 0
            for k, l in enumerate(np.sort(key, kind="stable").tolist()):
                if max(longest, l) * (k - start + 1) > max_tokens:
                    out.append(idx[start:k])
                    start, longest = k, 0
                longest = max(longest, l)
            out.append(idx[start:])
        rng.shuffle(out)
        return out

    def tensors(self, b):
        ex = self.ex[b]
        sl, tl = self.src_len[b], self.tgt_len[b]
        src = np.full((len(b), sl.max()), PAD, dtype=np.int64)
        dec = np.full((len(b), tl.max()), PAD, dtype=np.int64)
        lab = np.full((len(b), tl.max()), -100, dtype=np.int64)
        for r, (a, t, cs, ct) in enumerate(ex):
            x = self.flat[self.offs[a]:self.offs[a + 1]]
            y = self.flat[self.offs[t]:self.offs[t + 1]]
            src[r, 0], src[r, 1:1 + len(x)], src[r, 1 + len(x)] = cs, x, EOS
            lab[r, 0], lab[r, 1:1 + len(y)], lab[r, 1 + len(y)] = ct, y, EOS
            dec[r, 0], dec[r, 1], dec[r, 2:2 + len(y)] = EOS, ct, y  # </s> starts the decoder
        return src, dec, lab


# ---------------------------------------------------------------- model

def make_model(vocab):
    from transformers import MBartConfig, MBartForConditionalGeneration
    cfg = MBartConfig(vocab_size=vocab, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
                      decoder_start_token_id=EOS, tie_word_embeddings=True, **ARCH)
    return MBartForConditionalGeneration(cfg)


def save(model, d, steps_info):
    from transformers import GenerationConfig
    model = model.to(torch.float16)
    model.config.dtype = "float16"
    model.save_pretrained(d, safe_serialization=True)
    gc = GenerationConfig(bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                          decoder_start_token_id=EOS, forced_eos_token_id=EOS, max_length=256)
    gc.save_pretrained(d)
    with open(os.path.join(d, "training.json"), "w") as f:
        json.dump(steps_info, f, indent=2)


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * max(0.0, (total - step) / max(1, total - warmup))


def train(args, corpus, vocab, dev):
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = make_model(vocab).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e6:.2f} M parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-8,
                            weight_decay=0.01, fused=dev.type == "cuda")
    model.train()
    planned = None if args.steps == "auto" else int(args.steps)
    probe = 200  # step time measured over steps probe..2*probe, after the warm-up
    total = planned if planned else 10 ** 9
    step, epoch, t_start, t_probe = 0, 0, time.time(), None
    ema = None
    while step < total:
        for b in corpus.batches(rng, args.max_tokens):
            if step >= total:
                break
            src, dec, lab = (torch.from_numpy(x).pin_memory().to(dev, non_blocking=True)
                             for x in corpus.tensors(b))
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total if planned else 10 ** 9, args.lr, args.warmup)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                out = model(input_ids=src, attention_mask=(src != PAD), decoder_input_ids=dec)
            loss = F.cross_entropy(out.logits.float().view(-1, out.logits.size(-1)), lab.view(-1),
                                   ignore_index=-100, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 100 == 0 or step == probe:
                lv = loss.item()
                ema = lv if ema is None else 0.9 * ema + 0.1 * lv
                log(f"step {step} epoch {epoch} loss {lv:.3f} (ema {ema:.3f}) lr {opt.param_groups[0]['lr']:.2e} "
                    f"{time.time() - t_start:.0f}s")
            if planned is None and step == probe:
                torch.cuda.synchronize() if dev.type == "cuda" else None
                t_probe = time.time()
            if planned is None and step == 2 * probe:
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                per = (time.time() - t_probe) / probe
                left = args.deadline - (time.time() - T0)
                planned = max(2 * probe + 1, int(left / per) + 2 * probe)
                planned = min(planned, args.max_steps)
                total = planned
                log(f"measured {per * 1000:.1f} ms/step: planning {planned} steps")
        epoch += 1
    secs = time.time() - t_start
    log(f"trained {step} steps, {epoch} epochs started, {secs:.0f} s")
    return model, {"steps": step, "seconds": round(secs, 1), "epochs_started": epoch,
                   "seed": args.seed, "lr": args.lr, "warmup": args.warmup,
                   "max_tokens": args.max_tokens, "final_loss_ema": ema, "params": n_params,
                   "arch": ARCH, "spm_vocab": SPM_VOCAB,
                   "reproduce": f"train.py --steps {step} --seed {args.seed}"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", default="auto")
    ap.add_argument("--deadline", type=float, default=480,
                    help="--steps auto: training ends this many seconds after the script started")
    ap.add_argument("--max-steps", type=int, default=40000)
    ap.add_argument("--max-tokens", type=int, default=12000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=800)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--smoke", action="store_true", help="tiny corpus and model: checks the pipeline")
    args = ap.parse_args()
    random.seed(args.seed)
    np.random.seed(args.seed)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    t0 = T0
    pairs = build_pairs(args.data)
    if args.smoke:
        global SPM_VOCAB
        random.Random(0).shuffle(pairs)
        pairs = pairs[:20000]
        ARCH.update(encoder_layers=1, decoder_layers=1)
        SPM_VOCAB = 4000
    log(f"{len(pairs)} pairs")
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp()
    texts = sorted({p[2] for p in pairs} | {p[3] for p in pairs})
    random.Random(args.seed).shuffle(texts)
    sp_path = train_spm(texts, os.path.join(work, "spm"), args.seed)
    shutil.copy(sp_path, os.path.join(args.out, "sentencepiece.bpe.model"))
    n_spm = spm.SentencePieceProcessor(model_file=sp_path).get_piece_size()
    write_tokenizer_config(args.out, n_spm)
    log(f"sentencepiece: {n_spm} pieces ({time.time() - t0:.0f} s)")
    enc = Encoder(args.out, sp_path)
    sample = texts[:2000]
    log(f"tokenizer check: {enc.check(sample)} of {len(sample)} sentences differ (None: spm only)")
    corpus = Corpus(enc, pairs)
    _, _, vocab = layout(n_spm)
    model, info = train(args, corpus, vocab, dev)
    info["hf_tokenizer"] = enc.hf is not None
    save(model, args.out, info)
    if enc.hf is not None:
        hf_dir = os.path.join(work, "hf_tok")
        enc.hf.save_pretrained(hf_dir)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            if os.path.exists(os.path.join(hf_dir, name)):
                shutil.copy(os.path.join(hf_dir, name), os.path.join(args.out, name))
    log(f"saved {args.out} ({time.time() - t0:.0f} s in all)")


if __name__ == "__main__":
    main()
