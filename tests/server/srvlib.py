"""Helpers for the black-box tests of `glossa serve` (Python standard library only): start a
server on a free port (--port 0, the port read from its log), HTTP requests, server-sent events,
metrics, and a check counter. The server is always killed on exit."""
import atexit
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

_servers = []


def _kill_all():
    for s in _servers:
        s.kill()


atexit.register(_kill_all)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()

    def check(self, ok, name, detail=""):
        with self.lock:
            if ok:
                self.passed += 1
            else:
                self.failed += 1
                print(f"FAIL {name}: {detail}"[:2000], flush=True)
        return ok


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def error_code(self):
        j = self.json()
        if isinstance(j, dict) and isinstance(j.get("error"), dict):
            return j["error"].get("code")
        return None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Server:
    def __init__(self, glossa, model, args, log_path, name):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        cmd = [glossa, "serve", "-m", model, "--port", "0"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        _servers.append(self)
        self.port = None
        self.host = "127.0.0.1"
        self.key = None
        if "--api-key" in args:
            self.key = args[args.index("--api-key") + 1]

    def wait_ready(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.port is None:
                m = re.search(r"listening on http://[^:]+:(\d+)", self.log_text())
                if m:
                    self.port = int(m.group(1))
            if self.port is not None:
                try:
                    if self.request("GET", "/health", timeout=5).status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def auth(self, headers=None):
        h = dict(headers or {})
        if self.key and "Authorization" not in h:
            h["Authorization"] = "Bearer " + self.key
        return h

    def request(self, method, path, body=None, headers=None, timeout=120, auth=True):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode("utf-8")
            elif isinstance(body, str):
                body = body.encode("utf-8")
            h = self.auth(headers) if auth else dict(headers or {})
            if body is not None:
                h.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def metrics(self):
        r = self.request("GET", "/metrics")
        out = {}
        for line in r.body.decode("utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
        return out

    def wait_metric(self, name, pred, timeout=60):
        deadline = time.time() + timeout
        v = None
        while time.time() < deadline:
            v = self.metrics().get(name)
            if v is not None and pred(v):
                return True
            time.sleep(0.02)
        print(f"  ({self.name}: {name} = {v} after {timeout} s)")
        return False

    def stop(self, sig=signal.SIGTERM, timeout=120):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


class Stream:
    """A raw-socket POST whose response is read incrementally (server-sent events)."""

    def __init__(self, server, path, body, timeout=120):
        data = json.dumps(body).encode("utf-8")
        self.sock = socket.create_connection((server.host, server.port), timeout=timeout)
        head = (f"POST {path} HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n")
        if server.key:
            head += f"Authorization: Bearer {server.key}\r\n"
        self.sock.sendall(head.encode("ascii") + b"\r\n" + data)
        self.buf = b""
        self.status = None
        self.headers = {}
        self.chunked = False
        self.body_buf = b""
        self.done = False

    def _recv(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for l in lines[1:]:
            k, _, v = l.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"

    def _more_body(self):
        """Move decoded body bytes from buf to body_buf; False at the end of the body."""
        if not self.chunked:
            if self.buf:
                self.body_buf += self.buf
                self.buf = b""
                return True
            try:
                self._recv()
            except EOFError:
                return False
            return True
        while b"\r\n" not in self.buf:
            self._recv()
        size_line, rest = self.buf.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            self.buf = rest
            self._recv()
            rest = self.buf
        if size == 0:
            self.buf = rest[2:]
            return False
        self.body_buf += rest[:size]
        self.buf = rest[size + 2:]
        return True

    def events(self):
        """Yield the raw bytes of each `data:` event."""
        if self.status is None:
            self.read_head()
        while True:
            while b"\n\n" in self.body_buf:
                ev, self.body_buf = self.body_buf.split(b"\n\n", 1)
                for line in ev.split(b"\n"):
                    if line.startswith(b"data: "):
                        yield line[6:]
            if self.done or not self._more_body():
                self.done = True
                if self.body_buf.strip():
                    yield from (l[6:] for l in self.body_buf.split(b"\n") if l.startswith(b"data: "))
                    self.body_buf = b""
                return

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_request(server, data, timeout=30):
    """Send raw bytes, read until the server closes or a full response arrives."""
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except OSError:
                break
            if not d:
                break
            out += d
            if b"\r\n\r\n" in out:
                head, body = out.split(b"\r\n\r\n", 1)
                m = re.search(rb"content-length:\s*(\d+)", head, re.I)
                if m and len(body) >= int(m.group(1)):
                    break
        return out
    finally:
        s.close()


def log(msg):
    print(msg, flush=True)
    sys.stdout.flush()


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default
