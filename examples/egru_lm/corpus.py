"""The character-level corpus both language-model examples train on, built offline from the
docstrings of a fixed list of pure-Python standard-library modules (no download).

`build()` regenerates ``data/corpus.txt`` (committed, so the split does not move with the
Python version); `load()` reads it and returns the fixed split: the first 90 % of the documents
train, the last 10 % validate. Characters are printable ASCII and newline (96 tokens); anything
else was replaced by '?' when the file was built.
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "data" / "corpus.txt"
SEP = "\n\n"
VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))  # token i = VOCAB[i]
VALID_FRACTION = 0.1
MODULES = ("abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "codecs", "collections", "colorsys",
           "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "difflib", "dis", "email.message",
           "enum", "filecmp", "fileinput", "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext",
           "glob", "gzip", "heapq", "hmac", "html.parser", "http.client", "imaplib", "inspect", "ipaddress",
           "json", "json.decoder", "logging", "mailbox", "mimetypes", "netrc", "numbers", "operator", "optparse",
           "os", "pathlib", "pdb", "pickle", "pickletools", "platform", "plistlib", "poplib", "pprint", "pydoc",
           "queue", "quopri", "random", "re", "sched", "secrets", "selectors", "shelve", "shlex", "shutil",
           "smtplib", "socketserver", "statistics", "string", "subprocess", "tabnanny", "tarfile", "tempfile",
           "textwrap", "threading", "timeit", "tokenize", "trace", "traceback", "turtle", "typing",
           "unittest.case", "urllib.parse", "urllib.request", "uuid", "warnings", "wave", "weakref",
           "xml.dom.minidom", "zipfile")


def _clean(text: str) -> str:
    return "".join(c if c in VOCAB else "?" for c in text.expandtabs(4)).strip()


def _docs(modname: str) -> list[str]:
    try:
        mod = importlib.import_module(modname)
    except ImportError:
        return []
    out = [inspect.getdoc(mod) or ""]
    for name in sorted(vars(mod)):
        obj = getattr(mod, name)
        if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            out.append(inspect.getdoc(obj) or "")
            if inspect.isclass(obj):
                out += [inspect.getdoc(m) or "" for k, m in sorted(vars(obj).items())
                        if not k.startswith("_") and inspect.isfunction(m)]
    return [d for d in map(_clean, out) if len(d) >= 40]


def build() -> Path:
    """Write data/corpus.txt from this interpreter's standard library (documents separated by a blank line)."""
    docs = [d for m in MODULES for d in _docs(m)]
    seen, unique = set(), []
    for d in docs:
        if d not in seen:
            seen.add(d)
            unique.append(d)
    CORPUS.parent.mkdir(exist_ok=True)
    CORPUS.write_text(SEP.join(unique) + "\n")
    return CORPUS


def encode(text: str) -> np.ndarray:
    idx = {c: i for i, c in enumerate(VOCAB)}
    return np.array([idx.get(c, idx["?"]) for c in text], np.int64)


def decode(tokens) -> str:
    return "".join(VOCAB[int(t)] for t in tokens)


def streams(tokens: np.ndarray, batch: int):
    """`tokens` cut into `batch` parallel streams, as a (n, batch) int64 torch tensor (truncated BPTT)."""
    import torch

    n = len(tokens) // batch
    return torch.from_numpy(tokens[: n * batch].reshape(batch, n).T.copy())


def load() -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) token arrays of the fixed split."""
    docs = CORPUS.read_text().split(SEP)
    cut = int(round(len(docs) * (1 - VALID_FRACTION)))
    return encode(SEP.join(docs[:cut])), encode(SEP.join(docs[cut:]))


if __name__ == "__main__":
    path = build()
    train, valid = load()
    print(f"{path}: {path.stat().st_size} bytes, train {len(train)} / valid {len(valid)} characters")
