#!/usr/bin/env python3
"""Output lengths of a served model on loadgen's text mix (Python standard library only).

Draws --requests (text, source, target) triples exactly as loadgen.py does (same lines, mixture
and seed), sends each as a non-streamed greedy POST /v1/completions with --concurrency clients,
and prints the distribution of generated tokens (usage.completion_tokens, the final </s>
included): p10 / p50 / p90, min, max, and how many ran to max_tokens. Used to calibrate
`glossa synth --eos-bias` so that a random-weight model's outputs end at varied lengths.

  build/glossa serve -m /tmp/mb --port 8000 &
  bench/loadgen/lengths.py --url http://127.0.0.1:8000 --requests 200 --max-tokens 128
"""
import argparse
import json
import os
import random
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402


def pct(s, q):
    return s[min(len(s) - 1, max(0, int(q * len(s) + 0.999999) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--api-key", default=os.environ.get("GLOSSA_API_KEY"))
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--lines", default=loadgen.DEFAULT_LINES)
    ap.add_argument("--mix", default="30,50,20")
    ap.add_argument("--max-paragraph-bytes", type=int, default=1500)
    ap.add_argument("--targets", default="en,de,fr,zh,ja,ru,ar,hi")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args()
    client = loadgen.Client(args.url, args.api_key, 600, stream=False)
    st, body = client.get("/languages")
    if st != 200:
        sys.exit(f"lengths: GET /languages: {st} {body[:200]!r}")
    supported = {entry["code"] for entry in json.loads(body)}
    args.targets = ",".join(t for t in args.targets.split(",") if t in supported) or sorted(supported)[0]
    work = loadgen.Workload(args, random.Random(args.seed), supported)
    todo = [work.draw() for _ in range(args.requests)]
    lengths, errors, lock = [], {}, threading.Lock()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                text, src, tgt = todo.pop()
            body = {"prompt": text, "source_lang": src, "target_lang": tgt, "max_tokens": args.max_tokens,
                    "temperature": 0}
            c = client.conn()
            try:
                c.request("POST", "/v1/completions", body=json.dumps(body), headers=client.headers)
                r = c.getresponse()
                data = r.read()
                with lock:
                    if r.status == 200:
                        lengths.append(json.loads(data)["usage"]["completion_tokens"])
                    else:
                        errors[r.status] = errors.get(r.status, 0) + 1
            finally:
                c.close()

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if not lengths:
        sys.exit(f"lengths: no answers (errors {errors})")
    s = sorted(lengths)
    out = {"n": len(s), "p10": pct(s, 0.1), "p50": pct(s, 0.5), "p90": pct(s, 0.9), "min": s[0],
           "max": s[-1], "mean": round(sum(s) / len(s), 1), "distinct": len(set(s)),
           "at_max_tokens": sum(1 for x in s if x >= args.max_tokens), "errors": errors}
    if args.json:
        print(json.dumps(out))
    else:
        print(" ".join(f"{k} {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
