#!/usr/bin/env python3
"""Open-loop load generator for `glossa serve` (Python standard library only).

Requests arrive as a Poisson process at --rate per second (exponential gaps, independent of how
fast the server answers: open loop), each in its own thread. Texts follow a length mixture built
from tests/fixtures/hf/lines.json: short UI strings, single sentences, and paragraphs of several
sentences of one language; source languages are the lines' own, targets are drawn from --targets.

Endpoints (--endpoint):
  completions  POST /v1/completions with "stream": true and the glossa extensions "source_lang" /
               "target_lang": latency, time to first token (first SSE event with text), tokens.
  translate    POST /translate (LibreTranslate): latency only (no streaming there).
--no-stream sends completions with "stream": false (latency only, greedy like the streamed ones).

Prints one JSON object per rate (a list for several --rate values): offered and achieved rate,
throughput (requests/s, generated tokens/s), latency and TTFT p50 / p90 / p99 / mean in ms,
errors by status, and the server's own counters over the run (preemptions, iterations).

  bench/loadgen/loadgen.py --url http://127.0.0.1:8000 --rate 2,4,8 --duration 60
"""
import argparse
import http.client
import json
import math
import os
import random
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_LINES = os.path.join(HERE, "..", "..", "tests", "fixtures", "hf", "lines.json")
UI_STRINGS = ["OK", "Cancel", "Save", "Open file", "Settings", "Log in", "Sign out", "Delete",
              "Are you sure?", "Next", "Back", "Search", "Help", "Close window", "Undo", "Print",
              "Download", "Share", "Copy link", "Send message"]


def load_texts(path, rng, max_par_bytes):
    with open(path, encoding="utf-8") as f:
        lines = json.load(f)
    sents = [(l["text"], l["lang"]) for l in lines
             if "\n" not in l["text"] and l["text"].strip() and not l.get("edge")]
    by_lang = {}
    for t, lang in sents:
        by_lang.setdefault(lang, []).append(t)
    paragraphs = []
    for lang, ts in sorted(by_lang.items()):
        for _ in range(8):
            k = rng.randint(3, min(8, len(ts))) if len(ts) >= 3 else len(ts)
            p = " ".join(rng.sample(ts, k))
            while len(p.encode("utf-8")) > max_par_bytes and " " in p:
                p = p.rsplit(" ", 1)[0]
            paragraphs.append((p, lang))
    return [(u, "en") for u in UI_STRINGS], sents, paragraphs


class Workload:
    """Draws (text, source, target) by the mixture --mix ui,sentence,paragraph."""

    def __init__(self, args, rng, supported):
        ui, sents, pars = load_texts(args.lines, rng, args.max_paragraph_bytes)
        ok = lambda lang: not supported or lang.split("_")[0].lower() in supported  # noqa: E731
        self.pools = [[x for x in pool if ok(x[1])] for pool in (ui, sents, pars)]
        w = [float(x) for x in args.mix.split(",")]
        self.cum = [sum(w[:i + 1]) / sum(w) for i in range(3)]
        self.targets = args.targets.split(",")
        self.rng = rng

    def draw(self):
        u = self.rng.random()
        pool = self.pools[next(i for i, c in enumerate(self.cum) if u <= c)]
        text, src = self.rng.choice(pool)
        tgt = self.rng.choice([t for t in self.targets if t != src.split("_")[0]] or self.targets)
        return text, src, tgt


def error_detail(status, data):
    """The error message of a non-200 answer (the body when it is not the error JSON)."""
    if status == 200:
        return None
    try:
        return json.loads(data.decode("utf-8"))["error"]["message"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return data[:300].decode("utf-8", "replace")


def percentiles(xs):
    if not xs:
        return None
    s = sorted(xs)

    def p(q):
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]

    return {"p50": round(p(0.50), 2), "p90": round(p(0.90), 2), "p99": round(p(0.99), 2),
            "mean": round(sum(s) / len(s), 2), "max": round(s[-1], 2), "n": len(s)}


class Client:
    def __init__(self, url, api_key, timeout, stream=True):
        self.stream = stream
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port or 80
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = "Bearer " + api_key
        self.timeout = timeout

    def conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def get(self, path):
        c = self.conn()
        try:
            c.request("GET", path, headers=self.headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def metrics(self):
        try:
            st, body = self.get("/metrics")
        except OSError:
            return {}
        out = {}
        for line in body.decode("utf-8", "replace").splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
        return out

    def one(self, endpoint, text, src, tgt, max_tokens):
        """Returns (status, latency_s, ttft_s or None, SSE events or None, error detail or None)."""
        t0 = time.perf_counter()
        c = self.conn()
        try:
            if endpoint == "translate":
                body = {"q": text, "source": src, "target": tgt}
                c.request("POST", "/translate", body=json.dumps(body), headers=self.headers)
                r = c.getresponse()
                data = r.read()
                return r.status, time.perf_counter() - t0, None, None, error_detail(r.status, data)
            body = {"prompt": text, "stream": self.stream, "source_lang": src, "target_lang": tgt}
            if max_tokens:
                body["max_tokens"] = max_tokens
            c.request("POST", "/v1/completions", body=json.dumps(body), headers=self.headers)
            r = c.getresponse()
            if r.status != 200 or not self.stream:
                data = r.read()
                return r.status, time.perf_counter() - t0, None, None, error_detail(r.status, data)
            ttft, events, buf = None, 0, b""
            while True:
                chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
                if not chunk:
                    break
                buf += chunk
                while b"\n\n" in buf:
                    ev, buf = buf.split(b"\n\n", 1)
                    if not ev.startswith(b"data: ") or ev == b"data: [DONE]":
                        continue
                    j = json.loads(ev[6:])
                    if "error" in j:
                        return (j["error"].get("code", "error"), time.perf_counter() - t0, ttft, None,
                                j["error"].get("message"))
                    if j["choices"][0]["text"] and ttft is None:
                        ttft = time.perf_counter() - t0
                    events += 1
            return 200, time.perf_counter() - t0, ttft, events, None
        except (OSError, http.client.HTTPException) as e:
            return type(e).__name__, time.perf_counter() - t0, None, None, repr(e)
        finally:
            c.close()


def batch_stats(delta):
    """Decode steps over the run and their mean sequences (glossa_batch_size; static batching:
    batches and requests a batch), all and those that left requests waiting (where admission,
    not the arrivals, set the batch)."""
    out = {}
    for q in ("empty", "waiting"):
        n = delta(f'glossa_batch_size_count{{queue="{q}"}}')
        out[q] = {"steps": int(n),
                  "mean_rows": round(delta(f'glossa_batch_size_sum{{queue="{q}"}}') / n, 1) if n else None}
    n = out["empty"]["steps"] + out["waiting"]["steps"]
    rows = sum((v["mean_rows"] or 0) * v["steps"] for v in out.values())
    out["all"] = {"steps": n, "mean_rows": round(rows / n, 1) if n else None}
    return out


def run_rate(args, client, workload, rate, rng):
    results = []
    lock = threading.Lock()
    inflight = threading.BoundedSemaphore(args.max_inflight)
    dropped = [0]
    threads = []

    def fire(text, src, tgt):
        try:
            res = client.one(args.endpoint, text, src, tgt, args.max_tokens)
            with lock:
                results.append(res + (len(text), text[:80]))
        finally:
            inflight.release()

    m0 = client.metrics()
    t_start = time.perf_counter()
    t_next = t_start
    n = 0
    while True:
        t_next += rng.expovariate(rate)
        if t_next - t_start > args.duration or (args.requests and n >= args.requests):
            break
        delay = t_next - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        text, src, tgt = workload.draw()
        if not inflight.acquire(blocking=False):  # client-side cap: count it, stay open-loop
            dropped[0] += 1
            continue
        th = threading.Thread(target=fire, args=(text, src, tgt), daemon=True)
        th.start()
        threads.append(th)
        n += 1
    t_sent = time.perf_counter() - t_start
    for th in threads:
        th.join(args.timeout)
    wall = time.perf_counter() - t_start
    m1 = client.metrics()
    ok = [r for r in results if r[0] == 200]
    errors, samples = {}, {}
    for r in results:
        if r[0] != 200:
            errors[str(r[0])] = errors.get(str(r[0]), 0) + 1
            ss = samples.setdefault(str(r[0]), [])
            if len(ss) < 3 and str(r[0]) != "429":  # what each kind of failure said (429: full)
                ss.append({"detail": (r[4] or "")[:300], "input_chars": r[5], "text": r[6]})
    delta = lambda k: m1.get(k, 0) - m0.get(k, 0)  # noqa: E731
    return {
        "endpoint": args.endpoint,
        "offered_rate": rate,
        "sent": n,
        "sent_rate": round(n / t_sent, 3) if t_sent > 0 else 0,
        "completed": len(ok),
        "dropped_client_side": dropped[0],
        "errors": errors,
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(ok) / wall, 3) if wall > 0 else 0,
        "generated_tokens_per_s": round(delta("glossa_generation_tokens_total") / wall, 1),
        "latency_ms": percentiles([r[1] * 1e3 for r in ok]),
        "ttft_ms": percentiles([r[2] * 1e3 for r in ok if r[2] is not None]),
        "input_chars": percentiles([r[5] for r in results]),
        "error_samples": samples,
        "server": {"batch": batch_stats(delta),
                   "preemptions": delta("glossa_preemptions_total"),
                   "iterations": delta("glossa_engine_iterations_total"),
                   "prompt_tokens": delta("glossa_prompt_tokens_total"),
                   "generated_tokens": delta("glossa_generation_tokens_total")},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--api-key", default=os.environ.get("GLOSSA_API_KEY"))
    ap.add_argument("--rate", default="2", help="arrivals per second; a comma list sweeps")
    ap.add_argument("--duration", type=float, default=60, help="seconds of arrivals per rate")
    ap.add_argument("--requests", type=int, default=0, help="stop after N arrivals (0: duration)")
    ap.add_argument("--endpoint", choices=["completions", "translate"], default="completions")
    ap.add_argument("--max-tokens", type=int, default=0, help="completions max_tokens (0: server's)")
    ap.add_argument("--no-stream", action="store_true",
                    help="completions without streaming (latency only): separates the cost of "
                         "per-token events from scheduling")
    ap.add_argument("--lines", default=DEFAULT_LINES)
    ap.add_argument("--mix", default="30,50,20", help="weights of UI strings, sentences, paragraphs")
    ap.add_argument("--max-paragraph-bytes", type=int, default=1500)
    ap.add_argument("--targets", default="en,de,fr,zh,ja,ru,ar,hi")
    ap.add_argument("--max-inflight", type=int, default=2048)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pause", type=float, default=2, help="seconds between rates of a sweep")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    client = Client(args.url, args.api_key, args.timeout, stream=not args.no_stream)
    st, body = client.get("/languages")
    if st != 200:
        sys.exit(f"loadgen: GET /languages: {st} {body[:200]!r}")
    supported = {l["code"] for l in json.loads(body)}
    args.targets = ",".join(t for t in args.targets.split(",") if t in supported) or sorted(supported)[0]
    rng = random.Random(args.seed)
    workload = Workload(args, rng, supported)
    out = []
    for i, rate in enumerate(float(r) for r in args.rate.split(",")):
        if i:
            time.sleep(args.pause)
        res = run_rate(args, client, workload, rate, random.Random(args.seed + i))
        print(json.dumps(res), file=sys.stderr, flush=True)
        out.append(res)
    text = json.dumps(out[0] if len(out) == 1 else out, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
