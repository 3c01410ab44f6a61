#!/usr/bin/env python3
"""Overload test of `glossa serve` (Python standard library only): more concurrent requests than
--max-queue + --max-batch-size admit must be answered 429 with Retry-After and the error JSON, at
once, never with a reset connection or a 5xx, and every request that is served must be served
right (translations equal offline `glossa translate`, completions equal the idle server's).

Server: a synth model wide enough that a request takes tens of milliseconds on one thread,
--max-queue 4 --max-batch-size 2 (6 requests in flight at most; the derived connection limit is
6 + 64 = 70). Load, on loopback:
  burst: 60 clients (fewer than the connection limit, ten times the admission limit) each open a
         connection and send one request at the same moment (a barrier);
  flood: for 3 s, 40 keep-alive clients send requests back to back, pausing 50 ms after a 429
         (a client reuses its connection after a 429, which must stay open).
Requests mix /translate (one text, or a list of three: several engine jobs, so the engine's own
queue check answers 429 too), /v1/completions whole and streamed.

usage: overload.py --glossa BIN --model DIR --work DIR
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from offline import Offline  # noqa: E402
from srvlib import Checks, Server, log  # noqa: E402

MAX_NEW = 24
TEXTS = [("A man is giving a presentation in front of a crowd.", "en"),
         ("Save file", "en"),
         ("Two young people are sitting on a bench.", "en"),
         ("Ein Hund rennt durch den Schnee.", "de"),
         ("Un homme fait du vélo dans la rue.", "fr"),
         ("Are you sure?", "en")]
TARGETS = ["de", "ja"]


def make_request(i):
    """The i-th request of the mix: (kind, path, body)."""
    text, src = TEXTS[i % len(TEXTS)]
    tgt = TARGETS[(i // len(TEXTS)) % len(TARGETS)]
    if tgt == src:
        tgt = "ja"
    kind = ("translate", "list", "completion", "stream")[i % 4]
    if kind == "translate":
        return kind, "/translate", {"q": text, "source": src, "target": tgt}
    if kind == "list":
        texts = [TEXTS[(i + k) % len(TEXTS)] for k in range(3)]
        return kind, "/translate", {"q": [t for t, _ in texts if _ == src] or [text],
                                    "source": src, "target": tgt}
    body = {"prompt": text, "source_lang": src, "target_lang": tgt}
    if kind == "stream":
        body["stream"] = True
    return kind, "/v1/completions", body


def read_stream(r):
    """The text of an SSE completion stream, or raise on a malformed one."""
    text, done, buf = [], False, b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if not ev.startswith(b"data: "):
                continue
            if ev == b"data: [DONE]":
                done = True
                continue
            j = json.loads(ev[6:])
            if "error" in j:
                raise ValueError(f"stream error event {j}")
            text.append(j["choices"][0]["text"])
    if not done:
        raise ValueError("stream without [DONE]")
    return "".join(text)


def one(conn, path, body, kind):
    """Send one request on conn; returns (status, headers, payload): payload is the parsed JSON,
    or the streamed text for a 200 stream."""
    conn.request("POST", path, body=json.dumps(body).encode("utf-8"),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    headers = {k.lower(): v for k, v in r.getheaders()}
    if r.status == 200 and kind == "stream":
        return r.status, headers, read_stream(r)
    data = r.read()
    try:
        payload = json.loads(data.decode("utf-8"))
    except ValueError:
        payload = data
    return r.status, headers, payload


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.results = []  # (i, status or exception name, headers, payload)

    def add(self, *res):
        with self.lock:
            self.results.append(res)


def burst(s, tally, clients=60):
    barrier = threading.Barrier(clients)

    def client(i):
        kind, path, body = make_request(i)
        conn = http.client.HTTPConnection(s.host, s.port, timeout=120)
        try:
            conn.connect()
            barrier.wait(30)
            st, h, p = one(conn, path, body, kind)
            tally.add(i, st, h, p)
        except (OSError, http.client.HTTPException, ValueError, threading.BrokenBarrierError) as e:
            tally.add(i, type(e).__name__, {}, repr(e))
        finally:
            conn.close()

    ths = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    [t.start() for t in ths]
    [t.join() for t in ths]


def flood(s, tally, clients=40, seconds=3.0, pause=0.05):
    stop_at = time.time() + seconds
    nxt = [0]
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection(s.host, s.port, timeout=120)
        while time.time() < stop_at:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            kind, path, body = make_request(i)
            try:  # no reconnect: a connection closed after a 429 is a failure
                st, h, p = one(conn, path, body, kind)
                tally.add(i, st, h, p)
            except (OSError, http.client.HTTPException, ValueError) as e:
                tally.add(i, type(e).__name__, {}, repr(e))
                conn.close()
                conn = http.client.HTTPConnection(s.host, s.port, timeout=120)
                st = None
            if st == 429:
                time.sleep(pause)  # a short pause, not Retry-After: keep the server overloaded
        conn.close()

    ths = [threading.Thread(target=client) for _ in range(clients)]
    [t.start() for t in ths]
    [t.join() for t in ths]


def wide(s, ck, clients, completion_ref):
    """More clients than the old fixed connection limit (512) and than --max-queue +
    --max-batch-size: each opens a connection and sends one long completion at the same moment.
    Those past the admission limit must get 429 at once; the admitted ones wait (nothing is
    reset); then the test closes them and the server cancels their work."""
    limit = int(s.metrics()["glossa_http_work_limit"])
    barrier = threading.Barrier(clients + 1)
    conns = [None] * clients
    res = [None] * clients
    closing = threading.Event()

    def client(i):
        kind, path, body = "completion", "/v1/completions", make_request(4 * i + 2)[2]
        conn = conns[i] = http.client.HTTPConnection(s.host, s.port, timeout=120)
        try:
            conn.connect()
            barrier.wait(60)
            res[i] = one(conn, path, body, kind)
        except (OSError, http.client.HTTPException, ValueError, threading.BrokenBarrierError) as e:
            res[i] = ("closed by the test" if closing.is_set() else type(e).__name__, {}, repr(e))

    ths = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    [t.start() for t in ths]
    barrier.wait(60)
    t0 = time.time()
    # every client is answered (429) or admitted (in flight); the admitted ones are not answered
    # for a long time (a batch of 2 generating 250 tokens each)
    deadline, settled = time.time() + 60, None
    while time.time() < deadline:
        answered = sum(1 for r in res if r is not None)
        inflight = s.metrics()["glossa_http_work_in_flight"]
        if answered + inflight == clients:
            settled = (answered, inflight)
            break
        time.sleep(0.1)
    log(f"  wide: {clients} clients, {limit} admitted at most: answered + in flight "
        f"{settled} after {time.time() - t0:.1f} s")
    ck.check(settled is not None, "wide: every client answered or in flight",
             (sum(1 for r in res if r is not None), s.metrics().get("glossa_http_work_in_flight")))
    statuses = {}
    for r in res:
        if r is not None:
            statuses[r[0]] = statuses.get(r[0], 0) + 1
    log(f"  wide: statuses {statuses}")
    ck.check(set(statuses) <= {200, 429}, "wide: only 200 and 429 (no resets, no 5xx)", statuses)
    ck.check(statuses.get(429, 0) >= clients - limit - statuses.get(200, 0) and
             statuses.get(429, 0) > 0, f"wide: the {clients - limit} past the limit got 429",
             statuses)
    bad = [r for r in res if r is not None and r[0] == 429 and not (
        r[1].get("retry-after", "").isdigit() and isinstance(r[2], dict) and
        (r[2].get("error") or {}).get("code") == "queue_full")]
    ck.check(not bad, "wide: 429s with Retry-After and the error JSON", bad[:3])
    closing.set()
    for c in conns:
        try:
            if c is not None and c.sock is not None:
                c.sock.shutdown(2)
        except OSError:
            pass
    [t.join() for t in ths]
    served = [(4 * i + 2, r) for i, r in enumerate(res) if r[0] == 200]
    wrong = []
    for k, r in served:
        body = make_request(k)[2]
        want = completion_ref((body["prompt"], body["source_lang"], body["target_lang"]))
        got = ((r[2].get("choices") or [{}])[0].get("text")) if isinstance(r[2], dict) else None
        if got != want:
            wrong.append((body, got, want))
    ck.check(not wrong, f"wide: the {len(served)} served are right", wrong[:3])


def check(s, ck, name, tally, offline, completion_ref):
    res = tally.results
    statuses = {}
    for r in res:
        statuses[r[1]] = statuses.get(r[1], 0) + 1
    log(f"  {name}: {len(res)} requests, statuses {statuses}")
    ck.check(set(statuses) <= {200, 429}, f"{name}: only 200 and 429 (no resets, no 5xx)", statuses)
    ck.check(statuses.get(429, 0) > 0, f"{name}: some 429", statuses)
    ck.check(statuses.get(200, 0) > 0, f"{name}: some served", statuses)
    bad429 = []
    why = {}
    for i, st, h, p in res:
        if st != 429:
            continue
        e = p.get("error") if isinstance(p, dict) else None
        ok = (h.get("retry-after", "").isdigit() and int(h["retry-after"]) >= 1 and
              h.get("content-type") == "application/json" and isinstance(e, dict) and
              e.get("code") == "queue_full" and e.get("type") == "rate_limit_error" and
              isinstance(e.get("message"), str) and e["message"])
        if not ok:
            bad429.append((i, h, p))
        else:
            k = "engine" if "queue is full" in e["message"] else "http"
            why[k] = why.get(k, 0) + 1
    log(f"  {name}: 429s by where they were decided: {why}")
    ck.check(not bad429, f"{name}: every 429 has Retry-After and the error JSON", bad429[:3])
    served = [r for r in res if r[1] == 200]
    # translations against offline `glossa translate`
    triples = []
    for i, st, h, p in served:
        kind, path, body = make_request(i)
        if path == "/translate":
            qs = body["q"] if isinstance(body["q"], list) else [body["q"]]
            triples += [(q, body["source"], body["target"]) for q in qs]
    offline.prefetch(triples)
    wrong = []
    for i, st, h, p in served:
        kind, path, body = make_request(i)
        if path == "/translate":
            qs = body["q"] if isinstance(body["q"], list) else [body["q"]]
            got = p.get("translatedText") if isinstance(p, dict) else None
            got = got if isinstance(got, list) else [got]
            want = [offline.get(q, body["source"], body["target"]) for q in qs]
        else:
            key = (body["prompt"], body["source_lang"], body["target_lang"])
            want = [completion_ref(key)]
            got = [p if kind == "stream" else
                   ((p.get("choices") or [{}])[0].get("text") if isinstance(p, dict) else None)]
        if got != want:
            wrong.append((kind, body, got, want))
    ck.check(not wrong, f"{name}: every served request is right ({len(served)} served, "
             f"{len(wrong)} wrong)", wrong[:3])
    return statuses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glossa", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    ck = Checks()
    t0 = time.time()
    # --scheduler-delay-factor 0: the batch-size check below asserts that a waiting request fills
    # a freed slot at the next step, which the delay (serve's default 2) trades away on purpose
    s = Server(args.glossa, args.model, ["--max-queue", "4", "--max-batch-size", "2", "--beam", "1",
                                         "--threads", "1", "--max-new-tokens", str(MAX_NEW),
                                         "--scheduler-delay-factor", "0"],
               os.path.join(args.work, "overload.log"), "overload")
    offline = Offline(args.glossa, args.model, ["--beam", "1", "--max-new-tokens", str(MAX_NEW),
                                                "--threads", "1"])
    refs = {}

    def completion_ref(key):
        if key not in refs:  # asked of the idle server, after the load
            r = s.post("/v1/completions", {"prompt": key[0], "source_lang": key[1],
                                           "target_lang": key[2]})
            refs[key] = ((r.json() or {}).get("choices") or [{}])[0].get("text") \
                if r.status == 200 else f"(status {r.status})"
        return refs[key]

    try:
        s.wait_ready()
        m = s.metrics()
        ck.check(m.get("glossa_http_work_limit") == 6 and m.get("glossa_http_connection_limit") == 70,
                 "limits: 6 requests in flight (4 + 2), 70 connections", m)
        before = m
        runs = []
        for name, fn in (("burst", burst), ("flood", flood)):
            t = Tally()
            t1 = time.time()
            fn(s, t)
            log(f"  {name}: {time.time() - t1:.1f} s")
            runs.append((name, t))
        n429 = sum(1 for _, t in runs for r in t.results if r[1] == 429)
        # the server idles afterwards: nothing left in flight, every KV block back
        idle = all(s.wait_metric(k, lambda v: v == 0, 30) for k in (
            "glossa_http_work_in_flight", "glossa_requests_running", "glossa_requests_waiting",
            "glossa_kv_cache_blocks_used"))
        ck.check(idle, "idle after the load", s.metrics())
        m = s.metrics()
        code = lambda k, m: m.get(f'glossa_http_responses_total{{code="{k}"}}', 0)  # noqa: E731
        ck.check(code(429, m) - code(429, before) == n429,
                 "the server counted every 429 the clients saw", (n429, m))
        five = {k: code(k, m) - code(k, before) for k in (500, 502, 503, 504)}
        ck.check(not any(five.values()), "no 5xx counted by the server", five)
        # glossa_batch_size: with a queue left waiting, every decode step ran the full batch of 2
        b = {q: (m.get(f'glossa_batch_size_count{{queue="{q}"}}', 0),
                 m.get(f'glossa_batch_size_sum{{queue="{q}"}}', 0),
                 m.get(f'glossa_batch_size_bucket{{queue="{q}",le="1"}}', 0),
                 m.get(f'glossa_batch_size_bucket{{queue="{q}",le="2"}}', 0)) for q in ("empty", "waiting")}
        log(f"  batch sizes (steps, rows, steps <= 1, steps <= 2): {b}")
        ck.check(b["waiting"][0] > 0 and b["waiting"][1] >= 1.9 * b["waiting"][0] and
                 all(v[3] == v[0] for v in b.values()) and b["empty"][0] > 0,
                 "glossa_batch_size: full batches of 2 while requests wait, none above 2", b)
        for name, t in runs:
            check(s, ck, name, t, offline, completion_ref)
        ck.check(s.request("GET", "/health").status == 200, "healthy after the load")
        ck.check(s.stop() == 0, "SIGTERM exits 0", s.log_tail())
        # past the old fixed limit of 512 connections (where resets came instead of 429s)
        w = Server(args.glossa, args.model, ["--max-queue", "600", "--max-batch-size", "2",
                                             "--beam", "1", "--threads", "1", "--max-new-tokens",
                                             "250"], os.path.join(args.work, "wide.log"), "wide")
        s = w
        refs.clear()
        w.wait_ready()
        wide(w, ck, 700, completion_ref)
        idle = all(w.wait_metric(k, lambda v: v == 0, 60) for k in (
            "glossa_http_work_in_flight", "glossa_requests_running", "glossa_requests_waiting",
            "glossa_kv_cache_blocks_used"))
        ck.check(idle, "wide: idle once the clients closed (their requests cancelled)", w.metrics())
        ck.check(w.request("GET", "/health").status == 200, "wide: healthy after")
        ck.check(w.stop() == 0, "wide: SIGTERM exits 0", w.log_tail())
    except Exception as e:  # a crash of the harness is a failure, with the server's log
        import traceback
        traceback.print_exc()
        ck.check(False, "harness", repr(e))
        log(f"--- server log:\n{s.log_tail()}")
    print(f"{ck.passed} passed, {ck.failed} failed ({time.time() - t0:.1f} s)", flush=True)
    return 0 if ck.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
