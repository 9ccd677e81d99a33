"""The bad-input corpus, read in one place: tests/integration/bad_input_corpus.yml and every
tests/integration/bad_input_corpus.d/*.yml (in name order), their lists of cases joined by key.

Each file has the same top-level keys (role_cases, module_cases, self_heal_cases, known_gaps);
a role or module with many cases may keep them in a file of its own under bad_input_corpus.d/.
Read by the lab run (test_bad_input_corpus.py) and the coverage test (tests/unit).
"""

from __future__ import annotations

import glob
import os

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
MAIN = os.path.join(HERE, "bad_input_corpus.yml")
PARTS = os.path.join(HERE, "bad_input_corpus.d")
KEYS = ("role_cases", "module_cases", "self_heal_cases", "known_gaps")


def corpus_files():
    return [MAIN] + sorted(glob.glob(os.path.join(PARTS, "*.yml")))


def load_corpus():
    """{key: [case, ...]} for each of KEYS, from every corpus file; an unknown key is an error."""
    corpus = {key: [] for key in KEYS}
    for path in corpus_files():
        with open(path, encoding="utf-8") as handle:
            part = yaml.safe_load(handle) or {}
        unknown = sorted(set(part) - set(KEYS))
        assert not unknown, "%s: unknown corpus keys %s (known: %s)" % (path, unknown, ", ".join(KEYS))
        for key in KEYS:
            corpus[key].extend(part.get(key) or [])
    return corpus
