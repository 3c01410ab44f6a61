"""Reference translations from the offline command (`glossa translate`), batched per language
pair and cached, to compare the server's outputs with."""
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor


class Offline:
    def __init__(self, glossa, model, extra_args):
        self.glossa = glossa
        self.model = model
        self.extra = list(extra_args)
        self.cache = {}
        self.lock = threading.Lock()

    def _run(self, src, tgt, texts):
        cmd = [self.glossa, "translate", "-m", self.model, "--tgt", tgt] + self.extra
        if src:
            cmd += ["--src", src]
        data = "".join(t + "\n" for t in texts).encode("utf-8")
        p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"{cmd}: {p.stderr.decode('utf-8', 'replace')}")
        out = p.stdout.decode("utf-8").split("\n")
        if len(out) != len(texts) + 1 or out[-1] != "":
            raise RuntimeError(f"{cmd}: {len(out) - 1} lines for {len(texts)}")
        return out[:-1]

    def prefetch(self, triples, workers=2):
        """Translate every (text, src, tgt) not cached yet: one process per language pair."""
        groups = {}
        with self.lock:
            for text, src, tgt in triples:
                if (text, src, tgt) not in self.cache:
                    groups.setdefault((src, tgt), set()).add(text)

        def job(item):
            (src, tgt), texts = item
            texts = sorted(texts)
            outs = self._run(src, tgt, texts)
            with self.lock:
                for t, o in zip(texts, outs):
                    self.cache[(t, src, tgt)] = o

        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(job, groups.items()))

    def get(self, text, src, tgt):
        key = (text, src, tgt)
        if key not in self.cache:
            self.prefetch([key])
        return self.cache[key]
