"""The README is executable documentation: every Python block runs as pasted (from the repository root, in
a fresh interpreter), and every repository path and ``python -m`` module it names exists.

A block that must not run here (a long search, say) is marked on the line before its fence with
``<!-- no-run: reason -->``; the reason is required and the list is kept tiny by a test.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NO_RUN = re.compile(r"<!--\s*no-run:\s*(?P<reason>.*?)\s*-->")
MAX_NO_RUN = 1
PACKAGES = ("nas_data", "nni_plumbing", "nni_spaces", "strategies", "trials", "studies", "mlp_nas")
PATH_ROOTS = PACKAGES + ("configs", "benchmarks", "tests", "data", "docs")


def code_blocks(text: str) -> list[tuple[int, str, str, str | None]]:
    """Every fenced block as (first line number, language, code, no-run reason or None)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        before = next((line for line in reversed(lines[:start - 1]) if line.strip()), "")
        mark = NO_RUN.search(before)
        blocks.append((start, fence.group(1), "\n".join(body) + "\n", mark.group("reason") if mark else None))
        i += 1
    return blocks


BLOCKS = code_blocks(README.read_text())
PYTHON = [(line, code) for line, lang, code, reason in BLOCKS if lang == "python" and reason is None]


def test_the_readme_has_python_blocks_and_few_are_skipped():
    skipped = [(line, reason) for line, lang, _, reason in BLOCKS if lang == "python" and reason is not None]
    assert PYTHON, "the README has no runnable Python block"
    assert len(skipped) <= MAX_NO_RUN, f"too many README blocks marked no-run: {skipped}"
    assert all(reason for _, reason in skipped), f"a no-run mark needs a reason: {skipped}"


@pytest.mark.parametrize("line,code", PYTHON, ids=[f"README.md:{line}" for line, _ in PYTHON])
def test_python_block_runs_as_pasted(line, code, tmp_path):
    env = {**os.environ, "NAS_TOOLKIT_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stderr[-3000:]}"


def _named_paths(text: str) -> set[str]:
    """Repository paths the README names (in backticks or code blocks), without test ids and placeholders."""
    spans = re.findall(r"`([^`\n]+)`", text) + [code for _, _, code, _ in BLOCKS]
    found = set()
    for span in spans:
        for token in re.findall(r"[\w./*<>-]+", span):
            token = token.split("::")[0].rstrip(".,:;)")
            if token.split("/")[0] in PATH_ROOTS and "/" in token and not re.search(r"[*<>]", token):
                found.add(token)
    return found


def test_every_repository_path_the_readme_names_exists():
    missing = sorted(p for p in _named_paths(README.read_text()) if not (ROOT / p).exists())
    assert not missing, f"README.md names paths that do not exist: {missing}"


def test_every_module_the_readme_runs_exists():
    modules = set(re.findall(r"python3? -m ([\w.]+)", README.read_text()))
    ours = sorted(m for m in modules if m.split(".")[0] in PACKAGES)
    assert ours, "the README runs none of the project's modules"

    def exists(module: str) -> bool:
        path = ROOT.joinpath(*module.split("."))
        return path.with_suffix(".py").exists() or (path / "__main__.py").exists()

    missing = [m for m in ours if not exists(m)]
    assert not missing, f"README.md runs modules that do not exist: {missing}"


def test_the_readme_points_nowhere_outside_the_repository():
    text = README.read_text()
    for pattern in (r"\.\./", r"\bshared/", r"DESIGN\.md", r"\b[Ss]eeds? 00\d", r"\(seed 00"):
        hits = [n for n, line in enumerate(text.splitlines(), 1) if re.search(pattern, line)]
        assert not hits, f"README.md points outside the repository ({pattern}) on lines {hits}"
