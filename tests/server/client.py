#!/usr/bin/env python3
"""Black-box tests of `glossa serve` over loopback (Python standard library only).

Servers: "main" (the tiny synth model, API key, greedy, small limits): every endpoint, every error
case, streaming, the load test with offline parity; "static" (--static-batching): parity and
SIGINT; "slow" (a wider synth model, --max-queue 1 --max-batch-size 1): client disconnects,
queue full, SIGTERM draining; "timeout" (--request-timeout 0.5): 504 and the stream's error event.

usage: client.py --glossa BIN --tiny DIR --slow DIR --work DIR --lines lines.json [--requests N]
"""
import argparse
import json
import os
import subprocess
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402
from offline import Offline  # noqa: E402
from srvlib import Checks, Server, Stream, env_int, log, raw_request  # noqa: E402

KEY = "test-key-123"
MAX_NEW = 16
MAX_INPUT = 200
MAX_BODY = 65536


def sse_collect(stream, ck, name):
    """All events of a stream: (texts, finish_reason, saw_done, errors)."""
    texts, finish, done, errors = [], None, False, []
    for raw in stream.events():
        if raw == b"[DONE]":
            done = True
            continue
        try:
            ev = json.loads(raw.decode("utf-8", "strict"))  # raises on a split UTF-8 character
        except (UnicodeDecodeError, ValueError) as e:
            ck.check(False, f"{name}: event is valid UTF-8 JSON", f"{e}: {raw[:200]!r}")
            continue
        if "error" in ev:
            errors.append(ev["error"])
            continue
        ch = ev["choices"][0]
        texts.append(ch["text"])
        if ch.get("finish_reason"):
            finish = ch["finish_reason"]
    return texts, finish, done, errors


def test_health_languages(s, ck):
    r = s.request("GET", "/health", auth=False)
    ck.check(r.status == 200 and r.json() == {"status": "ok"}, "health 200 without a key", r)
    r = s.request("GET", "/languages", auth=False)
    ck.check(r.status == 401 and r.error_code() == "invalid_api_key", "languages 401 without key", r)
    r = s.request("GET", "/languages", headers={"Authorization": "Bearer wrong"})
    ck.check(r.status == 401, "wrong key 401", r)
    r = s.request("GET", "/languages")
    langs = r.json() or []
    ck.check(r.status == 200 and len(langs) >= 20, "languages 200", r)
    by = {l.get("code"): l for l in langs}
    ok = all(set(l) == {"code", "name", "targets"} for l in langs)
    ck.check(ok and "de" in by and by["de"]["name"] == "German" and "fr" in by["de"]["targets"]
             and "de" not in by["de"]["targets"], "languages entries", langs[:3])
    r = s.request("GET", "/languages?api_key=" + KEY, auth=False)
    ck.check(r.status == 200, "api_key query argument", r)


def test_translate(s, ck, ref):
    en = "A man is giving a presentation in front of a crowd."
    de = "Eine Frau grillt lecker aussehendes Essen im Park."
    r = s.post("/translate", {"q": en, "source": "en", "target": "de", "format": "text"})
    j = r.json() or {}
    ck.check(r.status == 200 and set(j) == {"translatedText"} and j["translatedText"] ==
             ref.get(en, "en", "de"), "translate: one text, as offline", (r, ref.get(en, "en", "de")))
    r2 = s.post("/translate", {"q": en, "source": "en_XX", "target": "DE-de"})
    ck.check(r2.status == 200 and r2.json() == j, "translate: family codes and any case", r2)
    r = s.post("/translate", {"q": [en, de, "OK"], "source": "en", "target": "fr"})
    j = r.json() or {}
    want = [ref.get(t, "en", "fr") for t in (en, de, "OK")]
    ck.check(r.status == 200 and j.get("translatedText") == want, "translate: a list, in order", (r, want))
    r = s.post("/translate", {"q": de, "source": "auto", "target": "en"})
    j = r.json() or {}
    det = j.get("detectedLanguage") or {}
    ck.check(r.status == 200 and det.get("language") == "de" and 50 <= det.get("confidence", 0) <= 100
             and j.get("translatedText") == ref.get(de, "de", "en"), "translate: auto detects", r)
    r = s.post("/translate", {"q": [de, en], "source": "auto", "target": "fr"})
    det = (r.json() or {}).get("detectedLanguage")
    ck.check(r.status == 200 and isinstance(det, list) and [d["language"] for d in det] == ["de", "en"],
             "translate: auto on a list", r)
    r = s.post("/translate", {"q": en, "source": "en", "target": "de", "alternatives": 2})
    j = r.json() or {}
    alts = j.get("alternatives")
    ck.check(r.status == 200 and isinstance(alts, list) and 1 <= len(alts) <= 2 and
             all(isinstance(a, str) and a != j["translatedText"] for a in alts) and
             len(set(alts)) == len(alts), "translate: alternatives from beams", r)
    r = s.post("/translate", {"q": [en, de], "source": "en", "target": "de", "alternatives": 1})
    alts = (r.json() or {}).get("alternatives")
    ck.check(r.status == 200 and isinstance(alts, list) and len(alts) == 2 and
             all(isinstance(a, list) for a in alts), "translate: alternatives for a list", r)
    r = s.post("/translate", {"text": en, "source_lang": "EN", "target_lang": "de"})
    ck.check(r.status == 200 and r.json() == {"result": ref.get(en, "EN", "de")},
             "translate: text / result shape", r)
    r = s.post("/translate", {"q": en, "source": "en", "target": "de", "api_key": KEY}, auth=False)
    ck.check(r.status == 200, "translate: api_key in the body", r)
    r = s.post("/translate", {"q": en, "source": "en", "target": "de", "api_key": "nope"}, auth=False)
    ck.check(r.status == 401 and r.headers.get("www-authenticate") == "Bearer", "translate: wrong body key", r)


def expect_error(s, ck, name, body, status, code, contains=(), path="/translate", **kw):
    r = s.post(path, body, **kw)
    j = r.json() or {}
    e = j.get("error") if isinstance(j.get("error"), dict) else {}
    ok = (r.status == status and set(e) == {"message", "type", "code"} and e["code"] == code and
          all(c in e["message"] for c in contains))
    ck.check(ok, f"error: {name}", r)
    return r


def test_errors(s, ck):
    expect_error(s, ck, "malformed JSON", b'{"q": "x", ', 400, "invalid_json")
    expect_error(s, ck, "empty body", b"", 400, "invalid_json")
    expect_error(s, ck, "not an object", b'["x"]', 400, "invalid_type")
    expect_error(s, ck, "q of the wrong type", {"q": 5, "target": "de"}, 400, "invalid_type", ['"q"'])
    expect_error(s, ck, "list item of the wrong type", {"q": ["a", None], "target": "de"}, 400,
                 "invalid_type", ['"q"[1]'])
    expect_error(s, ck, "alternatives of the wrong type", {"q": "a", "target": "de", "alternatives": "2"},
                 400, "invalid_type")
    expect_error(s, ck, "target of the wrong type", {"q": "a", "target": 7}, 400, "invalid_type")
    expect_error(s, ck, "invalid UTF-8", b'{"q": "caf\xe9", "target": "de"}', 400, "invalid_utf8")
    expect_error(s, ck, "NUL escape", b'{"q": "a\\u0000b", "target": "de"}', 400, "invalid_text")
    expect_error(s, ck, "empty text", {"q": "", "target": "de"}, 400, "empty_text")
    expect_error(s, ck, "empty list", {"q": [], "target": "de"}, 400, "empty_text")
    expect_error(s, ck, "empty item", {"q": ["a", ""], "target": "de"}, 400, "empty_text", ['"q"[1]'])
    expect_error(s, ck, "missing target", {"q": "a"}, 400, "missing_field", ['"target"'])
    expect_error(s, ck, "unknown target", {"q": "a", "source": "en", "target": "xx"}, 400,
                 "unknown_language", ["'xx'", "/languages"])
    expect_error(s, ck, "unknown source", {"q": "a", "source": "qq", "target": "de"}, 400,
                 "unknown_language", ["'qq'", "/languages"])
    expect_error(s, ck, "malformed code", {"q": "a", "source": "e n", "target": "de"}, 400,
                 "unknown_language", ["/languages"])
    expect_error(s, ck, "format html", {"q": "a", "target": "de", "format": "html"}, 400, "unsupported")
    long_text = " ".join(["presentation"] * 400)
    r = expect_error(s, ck, "input over --max-input-tokens", {"q": long_text, "source": "en", "target": "de"},
                     400, "input_too_long", [str(MAX_INPUT), "tokens"])
    ck.check(any(w.isdigit() and int(w) > MAX_INPUT for w in r.body.decode().replace('"', " ").split()),
             "error: input too long names the count", r)
    expect_error(s, ck, "missing key", {"q": "a", "target": "de"}, 401, "invalid_api_key", auth=False)
    r = s.request("GET", "/nope")
    ck.check(r.status == 404 and r.error_code() == "not_found", "error: unknown path 404", r)
    r = s.request("GET", "/translate")
    ck.check(r.status == 405 and r.error_code() == "method_not_allowed", "error: GET /translate 405", r)
    r = s.request("POST", "/translate", {"q": "a", "target": "de"}, headers={"Origin": "http://x"})
    ck.check("access-control-allow-origin" not in r.headers, "no CORS headers", r.headers)
    # body over the cap: answered from the headers (Content-Length), without reading the body
    head = (f"POST /translate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n").encode()
    out = raw_request(s, head + b'{"q": "')
    ck.check(out.startswith(b"HTTP/1.1 413") and b'"payload_too_large"' in out, "error: 413 by Content-Length", out[:300])
    # ... and a chunked body that grows past it
    chunk = b'{"q": "' + b"a" * (MAX_BODY + 10) + b'", "target": "de"}'
    body = b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n"
    head = (f"POST /translate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode()
    out = raw_request(s, head + body)
    ck.check(out.startswith(b"HTTP/1.1 413") and b'"payload_too_large"' in out, "error: 413 chunked", out[:300])
    r = s.request("GET", "/health", auth=False)
    ck.check(r.status == 200, "still healthy after the bad requests", r)


def test_completions(s, ck):
    p = "A man is giving a presentation in front of a crowd."
    r = s.post("/v1/completions", {"prompt": p, "max_tokens": 8, "model": "m"})
    j = r.json() or {}
    ch = (j.get("choices") or [{}])[0]
    u = j.get("usage") or {}
    ck.check(r.status == 200 and j.get("object") == "text_completion" and j.get("model") == "m" and
             j.get("id", "").startswith("cmpl-") and ch.get("finish_reason") in ("stop", "length") and
             isinstance(ch.get("text"), str) and u.get("prompt_tokens", 0) > 0 and
             0 < u.get("completion_tokens", 0) <= 8 and
             u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], "completions: greedy", r)
    text = ch.get("text", "")
    r = s.post("/v1/completions", {"prompt": p, "max_tokens": 8, "temperature": 0.8, "top_p": 0.9,
                                   "n": 2, "seed": 5})
    chs = (r.json() or {}).get("choices") or []
    ck.check(r.status == 200 and [c["index"] for c in chs] == [0, 1], "completions: n = 2 sampled", r)
    r2 = s.post("/v1/completions", {"prompt": p, "max_tokens": 8, "temperature": 0.8, "top_p": 0.9,
                                    "n": 2, "seed": 5})
    ck.check(r2.status == 200 and (r2.json() or {}).get("choices") == chs, "completions: a seed repeats", r2)
    r = s.post("/v1/completions", {"prompt": [p, "OK"], "max_tokens": 4, "n": 2})
    chs = (r.json() or {}).get("choices") or []
    ck.check(r.status == 200 and [c["index"] for c in chs] == [0, 1, 2, 3], "completions: prompts x beams", r)
    if len(text) >= 2:
        stop = text[1:3]
        r = s.post("/v1/completions", {"prompt": p, "max_tokens": 8, "stop": [stop]})
        ch = ((r.json() or {}).get("choices") or [{}])[0]
        ck.check(r.status == 200 and ch.get("text") == text[:text.find(stop)] and
                 ch.get("finish_reason") == "stop", "completions: stop string", (r, stop))
    expect_error(s, ck, "max_tokens over the limit", {"prompt": p, "max_tokens": MAX_NEW + 1}, 400,
                 "invalid_value", [str(MAX_NEW)], path="/v1/completions")
    expect_error(s, ck, "stream with n > 1", {"prompt": p, "stream": True, "n": 2}, 400, "unsupported",
                 path="/v1/completions")
    expect_error(s, ck, "temperature of the wrong type", {"prompt": p, "temperature": "hot"}, 400,
                 "invalid_type", path="/v1/completions")
    expect_error(s, ck, "missing prompt", {"max_tokens": 3}, 400, "missing_field", path="/v1/completions")
    expect_error(s, ck, "logprobs", {"prompt": p, "logprobs": 3}, 400, "unsupported", path="/v1/completions")
    return text


def test_stream(s, ck):
    # en -> de with the tiny synth model (seed 0) generates CJK characters: 3 bytes each
    body = {"prompt": "A man is giving a presentation in front of a crowd.", "max_tokens": 12,
            "source_lang": "en", "target_lang": "de"}
    r = s.post("/v1/completions", body)
    whole = ((r.json() or {}).get("choices") or [{}])[0].get("text")
    st = Stream(s, "/v1/completions", dict(body, stream=True))
    texts, finish, done, errors = sse_collect(st, ck, "stream")
    st.close()
    ck.check(st.status == 200 and st.headers.get("content-type") == "text/event-stream",
             "stream: SSE headers", st.headers)
    ck.check(done and not errors and finish == "length", "stream: finish and [DONE]",
             (texts, finish, done, errors))
    ck.check("".join(texts) == whole and "\ufffd" not in "".join(texts), "stream: text as whole",
             (texts, whole))
    multibyte = any(len(t.encode()) > len(t) for t in texts)
    ck.check(multibyte, "stream: multibyte text", texts)
    log(f"  stream: {len(texts)} chunks {texts!r}")
    body = dict(body, temperature=0.7, seed=3)
    st = Stream(s, "/v1/completions", dict(body, stream=True))
    texts, finish, done, errors = sse_collect(st, ck, "stream sampled")
    st.close()
    r = s.post("/v1/completions", body)
    ck.check(done and "".join(texts) == ((r.json() or {}).get("choices") or [{}])[0].get("text"),
             "stream: sampled, same seed as whole", (texts, r))


def test_metrics(s, ck):
    r = s.request("GET", "/metrics", auth=False)
    ck.check(r.status == 401, "metrics needs the key", r)
    r = s.request("GET", "/metrics")
    text = r.body.decode()
    names = ["glossa_requests_running", "glossa_requests_waiting", "glossa_kv_cache_blocks_used",
             "glossa_kv_cache_blocks_total", "glossa_preemptions_total", "glossa_prompt_tokens_total",
             "glossa_generation_tokens_total"]
    hists = ["glossa_time_to_first_token_seconds", "glossa_time_per_output_token_seconds",
             "glossa_request_queue_time_seconds", "glossa_request_latency_seconds"]
    missing = [n for n in names if f"\n{n} " not in text] + \
              [h for h in hists if f'{h}_bucket{{le="+Inf"}}' not in text or f"\n{h}_count " not in text]
    ck.check(r.status == 200 and r.headers.get("content-type", "").startswith("text/plain") and not missing,
             "metrics: names", missing)
    m = s.metrics()
    ck.check(m["glossa_request_latency_seconds_count"] >= 10 and m["glossa_generation_tokens_total"] > 0 and
             m["glossa_prompt_tokens_total"] > 0 and m['glossa_requests_finished_total{outcome="done"}'] ==
             m["glossa_request_latency_seconds_count"], "metrics: counters", m)
    return m


CONCURRENT_LINES = ["Three girls are horseback riding.", "Save file",
                    "Two men guard the man with the ball."]


def translate_together(s, ck, ref, n, name):
    """n /translate requests at once (CONCURRENT_LINES in turn), each answer as offline."""
    outs = [None] * n

    def one(i):
        outs[i] = s.post("/translate", {"q": CONCURRENT_LINES[i % 3], "source": "en", "target": "ja"})

    ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    [t.start() for t in ths]
    [t.join() for t in ths]
    ok = all(r.status == 200 and r.json()["translatedText"] == ref.get(CONCURRENT_LINES[i % 3], "en", "ja")
             for i, r in enumerate(outs))
    ck.check(ok, name, outs)


def test_static(args, ck, ref):
    s = Server(args.glossa, args.tiny, ["--static-batching", "--beam", "1", "--max-new-tokens",
                                        str(MAX_NEW), "--max-batch-size", "4"],
               os.path.join(args.work, "static.log"), "static")
    s.wait_ready()
    translate_together(s, ck, ref, 6, "static batching: as offline")
    st = Stream(s, "/v1/completions", {"prompt": CONCURRENT_LINES[0], "max_tokens": 6, "stream": True})
    texts, finish, done, errors = sse_collect(st, ck, "static stream")
    st.close()
    ck.check(done and not errors, "static batching: stream", texts)
    ck.check(s.stop(signal.SIGINT) == 0, "static: SIGINT exits 0", s.log_tail())


def test_delay(args, ck, ref):
    """--scheduler-delay-factor: concurrent requests gathered, answers still as offline; a bad
    factor is refused at startup."""
    bad = subprocess.run([args.glossa, "serve", "-m", args.tiny, "--scheduler-delay-factor", "-1"],
                         capture_output=True, text=True, timeout=60)
    ck.check(bad.returncode == 2 and "--scheduler-delay-factor" in bad.stderr,
             "delay factor -1 refused", (bad.returncode, bad.stderr[-300:]))
    s = Server(args.glossa, args.tiny, ["--scheduler-delay-factor", "4", "--beam", "1",
                                        "--max-new-tokens", str(MAX_NEW)],
               os.path.join(args.work, "delay.log"), "delay")
    s.wait_ready()
    translate_together(s, ck, ref, 9, "scheduler delay: as offline")
    ck.check(s.stop() == 0, "delay: SIGTERM exits 0", s.log_tail())


def test_stream_slow(s, ck):
    """Tokens arrive one by one here: every event must carry whole UTF-8 characters."""
    for tgt in ("ru", "ko", "th", "de", "ja"):
        body = {"prompt": "A man is giving a presentation in front of a crowd.", "max_tokens": 12,
                "source_lang": "en", "target_lang": tgt}
        r = s.post("/v1/completions", body)
        whole = ((r.json() or {}).get("choices") or [{}])[0].get("text", "")
        if len(whole.encode()) > len(whole):
            break
    st = Stream(s, "/v1/completions", dict(body, stream=True))
    texts, finish, done, errors = sse_collect(st, ck, "slow stream")
    st.close()
    log(f"  slow stream ({tgt}): {texts!r}")
    ck.check(done and not errors and "".join(texts) == whole and len([t for t in texts if t]) >= 3 and
             len(whole.encode()) > len(whole), "stream: multibyte text in several events", (texts, whole))
    # a stop string whose first occurrence is mid-text: the stream ends right before it
    firsts = [i for i in range(1, len(whole)) if whole.find(whole[i]) == i]
    if firsts:
        i = min(firsts, key=lambda k: abs(k - len(whole) // 2))
        st = Stream(s, "/v1/completions", dict(body, stream=True, stop=[whole[i:i + 2]]))
        texts, finish, done, errors = sse_collect(st, ck, "stream stop")
        st.close()
        ck.check(done and finish == "stop" and "".join(texts) == whole[:i], "stream: stop string",
                 (texts, whole[i:i + 2], whole))
    ck.check(bool(firsts), "stream: a text to test stop strings on", whole)
    # long outputs one token an event: the incremental detokenizer moves its window many times
    for tgt in ("ru", "ja", "de", "ar"):
        body = {"prompt": "Two young people are sitting on a bench.", "max_tokens": 80,
                "source_lang": "en", "target_lang": tgt}
        r = s.post("/v1/completions", body)
        whole = ((r.json() or {}).get("choices") or [{}])[0].get("text", "")
        st = Stream(s, "/v1/completions", dict(body, stream=True))
        texts, finish, done, errors = sse_collect(st, ck, "long stream")
        st.close()
        ck.check(done and not errors and "".join(texts) == whole and "\ufffd" not in whole and
                 len([t for t in texts if t]) >= 10, f"stream: 80 tokens to {tgt} as whole", (texts, whole))


def test_disconnects(s, ck):
    m0 = s.metrics()
    st = Stream(s, "/v1/completions", {"prompt": "Hello there", "max_tokens": 250, "stream": True})
    first = next(st.events(), None)
    ck.check(first is not None and first != b"[DONE]", "disconnect: stream started", first)
    st.close()
    ck.check(s.wait_metric("glossa_requests_running", lambda v: v == 0, 60), "disconnect: running back to 0")
    m = s.metrics()
    ck.check(m['glossa_requests_finished_total{outcome="cancelled"}'] >
             m0['glossa_requests_finished_total{outcome="cancelled"}'] and
             m["glossa_client_disconnects_total"] > m0["glossa_client_disconnects_total"],
             "disconnect: stream cancelled", m)
    # a whole-reply request whose client goes away while it runs
    st = Stream(s, "/v1/completions", {"prompt": "Hello there", "max_tokens": 250})
    ck.check(s.wait_metric("glossa_requests_running", lambda v: v == 1, 60), "disconnect: running 1")
    st.close()
    ck.check(s.wait_metric("glossa_requests_running", lambda v: v == 0, 60), "disconnect: back to 0")
    m2 = s.metrics()
    ck.check(m2['glossa_requests_finished_total{outcome="cancelled"}'] >
             m['glossa_requests_finished_total{outcome="cancelled"}'], "disconnect: request cancelled", m2)
    ck.check(s.wait_metric("glossa_kv_cache_blocks_used", lambda v: v == 0, 30), "disconnect: KV blocks freed")


def test_queue_full(s, ck):
    wait_idle(s, ck, "429")
    a = Stream(s, "/v1/completions", {"prompt": "Hello there", "max_tokens": 250, "stream": True})
    next(a.events(), None)  # running: the only batch slot
    res = {}
    tb = threading.Thread(target=lambda: res.setdefault("b", s.post(
        "/v1/completions", {"prompt": "Hi", "max_tokens": 4})))
    tb.start()
    ck.check(s.wait_metric("glossa_requests_waiting", lambda v: v == 1, 60), "429: one waiting")
    r = s.post("/translate", {"q": "Hello", "source": "en", "target": "de"})
    ck.check(r.status == 429 and r.error_code() == "queue_full" and r.headers.get("retry-after") == "1",
             "429 with Retry-After when the queue is full", r)
    a.close()
    tb.join(120)
    ck.check(res.get("b") is not None and res["b"].status == 200, "429: the waiting one completes", res)


def wait_idle(s, ck, name):
    ok = all(s.wait_metric(k, lambda v: v == 0, 60) for k in (
        "glossa_http_work_in_flight", "glossa_requests_running", "glossa_requests_waiting"))
    ck.check(ok, f"{name}: the server is idle first", s.metrics())


def test_drain(s, ck):
    wait_idle(s, ck, "drain")
    res = {}
    ta = threading.Thread(target=lambda: res.setdefault("a", s.post(
        "/v1/completions", {"prompt": "Hello there", "max_tokens": 150})))
    ta.start()
    ok = s.wait_metric("glossa_http_work_in_flight", lambda v: v == 1, 60) and \
        s.wait_metric("glossa_requests_running", lambda v: v == 1, 60)
    ck.check(ok and ta.is_alive(), "drain: a request running", (res, s.metrics()))
    b = Stream(s, "/v1/completions", {"prompt": "Good morning", "max_tokens": 60, "stream": True})
    ok = s.wait_metric("glossa_http_work_in_flight", lambda v: v == 2, 60)
    ck.check(ok, "drain: two in flight", (res, s.metrics()))
    s.proc.send_signal(signal.SIGTERM)
    deadline, h = time.time() + 30, None
    while time.time() < deadline:
        h = s.request("GET", "/health", auth=False)
        if h.status == 503:
            break
        time.sleep(0.01)
    ck.check(h is not None and h.status == 503 and (h.json() or {}).get("status") == "draining",
             "drain: /health 503", h)
    r = s.post("/translate", {"q": "Hello", "source": "en", "target": "de"})
    ck.check(r.status == 503 and r.error_code() == "draining", "drain: new work 503", r)
    texts, finish, done, errors = sse_collect(b, ck, "drain stream")
    b.close()
    ta.join(300)
    a = res.get("a")
    ck.check(a is not None and a.status == 200 and ((a.json() or {}).get("choices") or [{}])[0].get(
        "finish_reason") == "length", "drain: the running request completes", a)
    ck.check(b.status == 200 and done and not errors and finish, "drain: the waiting stream completes",
             (b.status, texts, errors))
    rc = s.proc.wait(120)
    ck.check(rc == 0, "drain: exit code 0", (rc, s.log_tail()))


def test_timeout(args, ck):
    s = Server(args.glossa, args.slow, ["--request-timeout", "0.5", "--max-new-tokens", "250",
                                        "--threads", "1"],
               os.path.join(args.work, "timeout.log"), "timeout")
    s.wait_ready()
    t0 = time.time()
    r = s.post("/v1/completions", {"prompt": "Hello there", "max_tokens": 250})
    ck.check(r.status == 504 and r.error_code() == "timeout" and time.time() - t0 < 30,
             "timeout: 504", (r, time.time() - t0))
    st = Stream(s, "/v1/completions", {"prompt": "Hello there", "max_tokens": 250, "stream": True})
    texts, finish, done, errors = sse_collect(st, ck, "timeout stream")
    st.close()
    ck.check(st.status == 200 and errors and errors[0].get("code") == "timeout" and not done,
             "timeout: stream ends with an error event", (texts, errors))
    ck.check(s.wait_metric("glossa_requests_running", lambda v: v == 0, 60), "timeout: running back to 0")
    ck.check(s.metrics().get("glossa_request_timeouts_total") == 2, "timeout: counted")
    ck.check(s.stop() == 0, "timeout server: SIGTERM exits 0", s.log_tail())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glossa", required=True)
    ap.add_argument("--tiny", required=True)
    ap.add_argument("--slow", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--lines", required=True)
    ap.add_argument("--requests", type=int, default=env_int("GLOSSA_SERVER_LOAD_REQUESTS", 2000))
    ap.add_argument("--clients", type=int, default=32)
    args = ap.parse_args()
    ck = Checks()
    t0 = time.time()
    ref = Offline(args.glossa, args.tiny, ["--beam", "1", "--max-new-tokens", str(MAX_NEW)])
    s = Server(args.glossa, args.tiny, ["--api-key", KEY, "--beam", "1", "--max-new-tokens", str(MAX_NEW),
                                        "--max-input-tokens", str(MAX_INPUT), "--max-body-bytes",
                                        str(MAX_BODY)], os.path.join(args.work, "main.log"), "main")
    # one thread: generation speed (seconds for 250 tokens) does not depend on the machine's cores
    slow = Server(args.glossa, args.slow, ["--max-queue", "1", "--max-batch-size", "1", "--beam", "1",
                                           "--threads", "1",
                                           "--max-new-tokens", "250"],
                  os.path.join(args.work, "slow.log"), "slow")
    try:
        s.wait_ready()
        log(f"main server on port {s.port}")
        test_health_languages(s, ck)
        test_translate(s, ck, ref)
        test_errors(s, ck)
        test_completions(s, ck)
        test_stream(s, ck)
        with open(args.lines, encoding="utf-8") as f:
            lines = json.load(f)
        load.run(s, ck, ref, lines, n=args.requests, clients=args.clients)
        test_metrics(s, ck)
        ck.check(s.request("GET", "/health", auth=False).status == 200, "healthy after the load")
        rc = s.stop()
        ck.check(rc == 0, "main: SIGTERM exits 0", (rc, s.log_tail()))
        test_static(args, ck, ref)
        test_delay(args, ck, ref)
        slow.wait_ready()
        test_stream_slow(slow, ck)
        test_disconnects(slow, ck)
        test_queue_full(slow, ck)
        test_drain(slow, ck)
        test_timeout(args, ck)
    except Exception as e:  # a crash of the harness is a failure, with the servers' logs
        import traceback
        traceback.print_exc()
        ck.check(False, "harness", repr(e))
        for srv in (s, slow):
            log(f"--- {srv.name} log:\n{srv.log_tail()}")
    print(f"{ck.passed} passed, {ck.failed} failed ({time.time() - t0:.1f} s)", flush=True)
    return 0 if ck.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
