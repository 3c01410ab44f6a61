"""The bounded load test: N /translate requests from C concurrent keep-alive clients, mixed
lengths (UI strings, sentences, paragraphs), source languages (some "auto"), target languages and
single / list bodies. Asserts zero 5xx (every answer 200), every request answered exactly once,
and every translation identical to offline `glossa translate` with the same settings."""
import http.client
import json
import random
import threading
import time

UI_STRINGS = ["OK", "Cancel", "Save", "Open file", "Settings", "Log in", "Sign out", "Delete",
              "Are you sure?", "Next", "Back", "Search", "Help", "Close window", "Undo", "Print"]
TARGETS = ["de", "fr", "ja"]
# several scripts; few enough language pairs that the offline reference stays cheap (one
# `glossa translate` process per pair)
SOURCES = {"en", "de", "fr", "zh_CN", "ja", "ru", "ar", "hi"}


def build_texts(lines, rng):
    """(text, lang) items: the fixture's lines, UI strings, and paragraphs of 2-4 lines."""
    items = [(l["text"], l["lang"]) for l in lines if "\n" not in l["text"] and l["text"].strip()]
    by_lang = {}
    for t, lang in items:
        by_lang.setdefault(lang, []).append(t)
    paragraphs = []
    for lang, ts in sorted(by_lang.items()):
        for _ in range(3):
            p = " ".join(rng.sample(ts, min(len(ts), rng.randint(2, 4))))
            if len(p.encode("utf-8")) <= 400:  # well under --max-input-tokens in any script
                paragraphs.append((p, lang))
    ui = [(u, "en") for u in UI_STRINGS]
    return items, paragraphs, ui


def build_requests(lines, n, rng):
    items, paragraphs, ui = build_texts(lines, rng)
    reqs = []
    for i in range(n):
        r = rng.random()
        pool = ui if r < 0.25 else paragraphs if r < 0.4 else items
        tgt = TARGETS[i % len(TARGETS)]
        if rng.random() < 0.1:  # a list of 2-3 texts of one language
            lang = rng.choice(items)[1]
            same = [t for t, l in items if l == lang]
            texts = rng.sample(same, min(len(same), rng.randint(2, 3)))
            reqs.append({"q": texts, "source": lang, "target": tgt})
            continue
        text, lang = rng.choice(pool)
        src = "auto" if rng.random() < 0.1 and len(text) >= 20 else lang
        reqs.append({"q": text, "source": src, "target": tgt})
    return reqs


def run(server, ck, offline, lines, n=2000, clients=32, seed=1):
    rng = random.Random(seed)
    codes = {l["code"] for l in server.request("GET", "/languages").json()}
    lines = [l for l in lines if l["lang"] in SOURCES and l["lang"].split("_")[0].lower() in codes]
    reqs = build_requests(lines, n, rng)
    results = [None] * n
    dup = []
    nxt = [0]
    lock = threading.Lock()
    before = server.metrics()

    def worker():
        conn = None
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                break
            body = json.dumps(reqs[i]).encode("utf-8")
            try:  # no retries: a failure counts (a retry could hide a lost or doubled answer)
                if conn is None:
                    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
                conn.request("POST", "/translate", body=body,
                             headers=server.auth({"Content-Type": "application/json"}))
                r = conn.getresponse()
                out = (r.status, r.read())
            except (OSError, http.client.HTTPException) as e:
                if conn:
                    conn.close()
                conn = None
                out = ("exception", repr(e).encode())
            with lock:
                if results[i] is not None:
                    dup.append(i)
                results[i] = out
        if conn:
            conn.close()

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    statuses = {}
    for r in results:
        k = r[0] if r else "lost"
        statuses[k] = statuses.get(k, 0) + 1
    print(f"  load: {n} requests, {clients} clients, {elapsed:.1f} s ({n / elapsed:.0f} req/s); "
          f"statuses {statuses}", flush=True)
    ck.check(not any(isinstance(k, int) and k >= 500 for k in statuses), "load: zero 5xx", statuses)
    odd = [(reqs[i], r) for i, r in enumerate(results) if not r or r[0] != 200]
    ck.check(statuses.get(200) == n, "load: every request answered 200", (statuses, odd[:3]))
    ck.check(not dup, "load: no duplicated responses", dup[:10])
    after = server.metrics()
    d200 = after.get('glossa_http_responses_total{code="200"}', 0) - before.get(
        'glossa_http_responses_total{code="200"}', 0)
    # (+ 1: the /metrics answer that took the first snapshot)
    ck.check(d200 == n + 1, "load: the server counted exactly one 200 per request", d200)
    check_outputs(ck, offline, reqs, results)
    return elapsed


def check_outputs(ck, offline, reqs, results):
    triples, expect = [], []
    for req, res in zip(reqs, results):
        if not res or res[0] != 200:
            expect.append(None)
            continue
        j = json.loads(res[1].decode("utf-8"))
        texts = req["q"] if isinstance(req["q"], list) else [req["q"]]
        outs = j["translatedText"] if isinstance(req["q"], list) else [j["translatedText"]]
        if req["source"] == "auto":
            det = j["detectedLanguage"]
            srcs = [d["language"] for d in (det if isinstance(det, list) else [det])]
        else:
            srcs = [req["source"]] * len(texts)
        if len(outs) != len(texts):
            expect.append(None)
            ck.check(False, "load: one translation per text", (req, j))
            continue
        cur = [(t, s, req["target"]) for t, s in zip(texts, srcs)]
        triples += cur
        expect.append((cur, outs))
    t0 = time.time()
    offline.prefetch(triples)
    print(f"  load: offline reference for {len(set(triples))} translations in "
          f"{time.time() - t0:.1f} s", flush=True)
    bad = []
    for e in expect:
        if e is None:
            continue
        for (t, s, tgt), out in zip(*e):
            ref = offline.get(t, s, tgt)
            if ref != out:
                bad.append((t[:60], s, tgt, out[:60], ref[:60]))
    ck.check(not bad, f"load: outputs identical to offline translate ({len(bad)} differ)", bad[:5])
