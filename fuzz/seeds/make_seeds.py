#!/usr/bin/env python3
"""Writes the libFuzzer seed corpora under fuzz/seeds/<target>/ (scripts/test.sh copies
fuzz/seeds/<target>/* into the corpus). Every seed is small (< 16 KB) and valid or nearly so,
so mutations start from inputs that reach deep into each reader. Run from the repository root:
python3 fuzz/seeds/make_seeds.py"""
import json
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ROOT))


def out(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    assert len(data) < 64 * 1024, (target, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_safetensors: small files as the reference writer lays them out ----
def safetensors(tensors, metadata=None, align=8):
    """tensors: list of (name, dtype, shape, bytes)"""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % align)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def st_seeds():
    t = "fuzz_safetensors"
    out(t, "f32_f16_bf16.safetensors", safetensors([
        ("model.encoder.embed_tokens.weight", "F32", [4, 2], f32(*range(8))),
        ("model.encoder.layers.0.fc1.weight", "F16", [2, 2], struct.pack("<4H", 0x3c00, 0x4000, 0xbc00, 0)),
        ("model.encoder.layers.0.fc1.bias", "BF16", [2], struct.pack("<2H", 0x3f80, 0xc040)),
        ("final_logits_bias", "F32", [1, 4], f32(0, 0, 0, 0)),
    ], {"format": "pt"}))
    out(t, "scalar_empty.safetensors", safetensors([
        ("scalar", "F32", [], f32(1.5)),
        ("empty", "F16", [0, 3], b""),
        ("ids", "I64", [2], struct.pack("<2q", 7, -1)),
        ("mask", "BOOL", [3], b"\x01\x00\x01"),
    ]))
    out(t, "all_dtypes.safetensors", safetensors([
        ("a", "F64", [1], struct.pack("<d", 2.0)), ("b", "I32", [1], struct.pack("<i", 3)),
        ("c", "I16", [1], struct.pack("<h", 4)), ("d", "I8", [2], b"\x05\xfb"), ("e", "U8", [1], b"\x06"),
        ("f", "F8_E4M3", [1], b"\x38"), ("g", "F8_E5M2", [1], b"\x3c"),
    ], {"format": "pt", "note": "dtypes"}))
    out(t, "meta_only.safetensors", safetensors([], {"format": "pt"}))
    out(t, "empty_header.safetensors", struct.pack("<Q", 8) + b"{}      ")
    out(t, "unaligned.safetensors", safetensors([("w", "F32", [1, 1, 1, 1, 1, 1, 1, 1], f32(3))], align=1))


# ---- fuzz_hf_config: the hub configs, a 5.x pair, and gen\0config pairs ----
def cfg_seeds():
    t = "fuzz_hf_config"
    src = os.path.join(REPO, "tests", "fixtures", "configs")
    for d in sorted(os.listdir(src)):
        p = os.path.join(src, d)
        if not os.path.isdir(p):
            continue
        cfg = open(os.path.join(p, "config.json"), "rb").read()
        out(t, d + ".config.json", cfg)
        g = os.path.join(p, "generation_config.json")
        if os.path.exists(g):
            gen = open(g, "rb").read()
            out(t, d + ".generation_config.json", gen)
            out(t, d + ".pair", gen + b"\0" + cfg)
    out(t, "marian_min.pair", b'{"bad_words_ids":[[58100],[1,2]],"early_stopping":"never","eos_token_id":[0,3],'
        b'"forced_bos_token_id":null,"max_new_tokens":16,"do_sample":true,"temperature":0.5,"top_p":0.9}\0'
        b'{"model_type":"marian","vocab_size":100,"decoder_vocab_size":80,"share_encoder_decoder_embeddings":false,'
        b'"pad_token_id":5,"decoder_start_token_id":5,"d_model":8,"encoder_attention_heads":2,'
        b'"decoder_attention_heads":2,"activation_function":"gelu_new"}')
    out(t, "bart_compat.json", b'{"model_type":"bart","force_bos_token_to_be_generated":true,"hidden_size":64,'
        b'"num_attention_heads":4,"decoder_attention_heads":4,"dtype":"float16","eos_token_id":[2]}')


# ---- fuzz_spm_model: two small fixture models ----
def spm_model_seeds():
    for name in ("uni_1k_identity_uds.model", "bpe_1k_identity.model"):
        src = os.path.join(REPO, "tests", "fixtures", "spm", name)
        d = os.path.join(ROOT, "fuzz_spm_model")
        os.makedirs(d, exist_ok=True)
        shutil.copyfile(src, os.path.join(d, name))


# ---- fuzz_spm_encode: first byte picks one of the target's 5 models, the rest is text ----
def spm_encode_seeds():
    texts = [
        "Hello world, this is a test.", "  leading and  double  spaces ", "日本語のテキストと English mixed",
        "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ ﬁ ligature ½", "\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd",
        "emoji 😀👍🏽 and \u200d joiners", "e\u0301 combining, \u1100\u1161 jamo", "tabs\tand\nnewlines\r\n",
        "<s> </s> <unk> user symbols ▁▁x", "Привет, мир! Ελληνικά. ქართული",
    ]
    for i, text in enumerate(texts):
        out("fuzz_spm_encode", "text%02d" % i, bytes([i % 5]) + text.encode("utf-8"))
    out("fuzz_spm_encode", "invalid_utf8", b"\x02bad \xff\xfe \xe0\xa4 \xc0\x80 end")


# ---- fuzz_tokenizer_json: small hand-written tokenizer.json files ----
def added(i, content, special=True, lstrip=False, rstrip=False, normalized=False, single_word=False):
    return {"id": i, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def tok(model, added_tokens, normalizer=None, pre=None, post=None, decoder=None):
    return json.dumps({"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
                       "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": post,
                       "decoder": decoder, "model": model}, ensure_ascii=False, indent=1)


def template(first, last):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": first, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": last, "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": first, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": last, "type_id": 1}}],
            "special_tokens": {first: {"id": first, "ids": [4], "tokens": [first]},
                               last: {"id": last, "ids": [2], "tokens": [last]}}}


META = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
WORDS = ["\u2581the", "\u2581a", "\u2581hello", "\u2581world", "\u2581", "s", "ing", "ed", "er", "\u2581th", "e",
         "\u2581de", "\u2581la", "\u65e5", "\u672c", "\u8a9e", ",", ".", "!", "?", "'"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]


def tok_seeds():
    t = "fuzz_tokenizer_json"
    specials = [added(0, "<s>"), added(1, "<pad>"), added(2, "</s>"), added(3, "<unk>"), added(4, "en_XX"),
                added(5, "fr_XX")]
    # 1. Unigram + byte fallback, NFKC/Replace/Lowercase, Metaspace, template, decoder chain
    pieces = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["en_XX", 0.0], ["fr_XX", 0.0]]
    pieces += [["<0x%02X>" % b, 0.0] for b in range(256)]
    pieces += [[w, -2.0 - 0.1 * i] for i, w in enumerate(WORDS + LETTERS)]
    pieces.append(["<mask>", 0.0])
    mask = added(len(pieces) - 1, "<mask>", special=True, lstrip=True)
    out(t, "unigram_bytefallback.json", tok(
        {"type": "Unigram", "unk_id": 3, "vocab": pieces, "byte_fallback": True}, specials + [mask],
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "NFKC"}, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            {"type": "Lowercase"}]},
        pre=META, post=template("en_XX", "</s>"),
        decoder={"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}))
    # 2. Unigram, no byte fallback, NFD + Strip + Prepend, no pre-tokenizer, Metaspace "first"
    pieces2 = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    pieces2 += [[w, -1.0 - 0.05 * i] for i, w in enumerate(WORDS + LETTERS + ["\u0301", "\u1100", "\u1161"])]
    out(t, "unigram_nfd_prepend.json", tok(
        {"type": "Unigram", "unk_id": 3, "vocab": pieces2, "byte_fallback": False},
        specials[:4] + [added(len(pieces2), "[NEW]", special=False, rstrip=True, normalized=True)],
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "NFD"}, {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
            {"type": "Prepend", "prepend": "\u2581"}]},
        decoder={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
        post={"type": "BertProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0]}))
    # 3. BPE over Metaspace (NLLB-like), string merges, fuse_unk, Split + WhitespaceSplit
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "en_XX": 4, "fr_XX": 5}
    for s in ["\u2581"] + LETTERS + [",", ".", "\u65e5", "\u672c"]:
        vocab.setdefault(s, len(vocab))
    merges = []
    for a, b in [("\u2581", "t"), ("h", "e"), ("\u2581t", "he"), ("\u2581", "a"), ("e", "r"), ("i", "n"),
                 ("in", "g"), ("\u2581", "w"), ("o", "r"), ("\u2581w", "or"), ("l", "d"), ("\u2581wor", "ld")]:
        merges.append(a + " " + b)
        vocab.setdefault(a + b, len(vocab))
    out(t, "bpe_metaspace.json", tok(
        {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": False, "ignore_merges": False,
         "vocab": vocab, "merges": merges}, specials,
        normalizer={"type": "NFC"},
        pre={"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"String": ","}, "behavior": "Isolated", "invert": False},
            {"type": "WhitespaceSplit"}, META]},
        post=template("fr_XX", "</s>"), decoder=META))
    # 4. BPE, pair merges, ignore_merges, no unk; Split behaviours; post Sequence; Metaspace "never"
    v4 = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for c in LETTERS + ["-", "\u2581", "\u00e9", "\u00df", "\u4e2d"]:
        v4.setdefault(c, len(v4))
    pairs = [["\u2581", "t"], ["h", "e"], ["\u2581t", "he"], ["\u2581", "a"], ["e", "r"], ["\u2581", "w"],
             ["o", "r"], ["l", "d"], ["\u2581w", "or"], ["\u2581wor", "ld"]]
    for a, b in pairs:
        v4.setdefault(a + b, len(v4))
    v4["<mask>"] = len(v4)
    out(t, "bpe_pairs_split.json", tok(
        {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
         "vocab": v4, "merges": pairs},
        specials[:4] + [added(v4["<mask>"], "<mask>", lstrip=True), added(len(v4), "ZZ", special=False,
                                                                          single_word=True)],
        pre={"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithPrevious", "invert": False},
            {"type": "Split", "pattern": {"Regex": "[0-9]"}, "behavior": "MergedWithNext", "invert": False},
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}]},
        post={"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True,
             "add_prefix_space": False}]},
        decoder={"type": "Sequence", "decoders": [
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": True},
            {"type": "Strip", "content": " ", "start": 0, "stop": 1}]}))
    # 5. BPE with byte fallback and a regex Split, NFKD + Lowercase, decoder chain
    vb = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for b in range(256):
        vb["<0x%02X>" % b] = len(vb)
    for s in ["\u2581"] + LETTERS + ["\u2581t", "he", "\u2581the"]:
        vb.setdefault(s, len(vb))
    out(t, "bpe_bytefallback_regex.json", tok(
        {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
         "vocab": vb, "merges": [["\u2581", "t"], ["h", "e"], ["\u2581t", "he"]]}, specials[:4],
        normalizer={"type": "Sequence", "normalizers": [{"type": "NFKD"}, {"type": "Lowercase"}]},
        pre={"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{N}+|[^\\s\\p{N}]+|\\s+"}, "behavior": "Removed",
             "invert": True},
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": True}]},
        decoder={"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}))
    real = os.path.join(REPO, "tests", "fixtures", "hf_tok", "mbart50_uni8k", "tokenizer.json")
    out(t, "transformers_mbart50_uni.json", open(real, "rb").read())  # as transformers 5 writes it
    for name in os.listdir(os.path.join(ROOT, t)):
        assert os.path.getsize(os.path.join(ROOT, t, name)) < 16 * 1024, name


if __name__ == "__main__":
    st_seeds()
    cfg_seeds()
    spm_model_seeds()
    spm_encode_seeds()
    tok_seeds()
