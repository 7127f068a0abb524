"""The product speaks of what it does, not of how it was built: no tracked text file (code,
comments, docstrings, config, docs, tests, benchmarks) names the work that made it -- a work
session, a numbered issue, a review, what the code "was" before. History lives in git."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROCESS_WORDS = re.compile("|".join((
    r"\bsessions? \d",                    # a work session
    r"\bissues? #?\d", r"\(issue\b",       # a numbered issue
    r"\bfound (in|by|during) (a |the )?review", r"\bin review\b",
    r"\bwas: ", r"\(was\b", r"\bbefore: ",  # what it was
    r"\bno longer\b", r"\bnow fixed\b",
    r"\bfailed in CI\b", r"\(CI[,:)]",
)), re.IGNORECASE)

TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".xml", ".txt", ".toml", ".cfg", ".msg", ".sh",
                 ".launch", ""}


def tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    for name in names:
        path = REPO / name
        if path.suffix in TEXT_SUFFIXES and path.is_file() and path.name != Path(__file__).name:
            yield name, path


def test_no_tracked_text_names_the_process():
    found = []
    for name, path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if match := PROCESS_WORDS.search(line):
                found.append(f"{name}:{number}: {match.group(0)!r}: {line.strip()[:120]}")
    assert not found, f"{len(found)} lines name the process:\n" + "\n".join(found)
