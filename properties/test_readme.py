"""The README's Python examples run as shown.

Every ```python block of README.md is a doctest (``>>>`` lines and the output they print).
Each block runs in a fresh interpreter (``python -m doctest``), as a reader pasting it into a
new ``python`` session would: the suite's own start-up (jax's x64 mode, the registered test
backends, torch's random state) cannot leak into the examples, nor the examples' into the
suite. A block fails when an example raises, when its output differs from the one shown, or
when it raises a RuntimeWarning (turned into an error, as the suite does for the library).
The file given to doctest starts with as many blank lines as precede the block, so a failure
names the README's own line. Bash blocks are not run.

A second test requires an example per family, so that none can silently disappear.
"""

from __future__ import annotations

import ast
import doctest
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

_FENCE = re.compile(r"^```(\w*)\s*$")


class Block(NamedTuple):
    lang: str
    line: int  # README line number of the block's first line (1-based)
    text: str


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of ``text`` (top-level fences only, as the README writes them)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        if j == len(lines):
            raise ValueError(f"README.md line {i + 1}: a ``` fence is never closed")
        blocks.append(Block(m.group(1), i + 2, "\n".join(lines[i + 1 : j]) + "\n"))
        i = j + 1
    return blocks


PYTHON_BLOCKS = [b for b in readme_blocks(README.read_text(encoding="utf-8")) if b.lang == "python"]


def _block_id(block: Block) -> str:
    first = next((s.strip() for s in block.text.splitlines() if s.strip()), "")
    first = re.sub(r"[^\w.=()\[\], -]", "", first.removeprefix(">>>").strip())[:40].strip()
    return f"line{block.line}-{first}"


def test_readme_has_python_blocks():
    assert len(PYTHON_BLOCKS) >= 6, f"README.md has {len(PYTHON_BLOCKS)} ```python blocks"


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[_block_id(b) for b in PYTHON_BLOCKS])
def test_block_is_a_doctest_with_output(block: Block):
    """Every example shows what it prints: a doctest block with at least one expected output
    (a block of plain code would run but show the reader nothing to check)."""
    examples = doctest.DocTestParser().get_examples(block.text)
    assert examples, f"README.md line {block.line}: the block has no '>>>' examples"
    assert any(e.want for e in examples), (
        f"README.md line {block.line}: no example in the block shows its output"
    )


def _missing_modules(block: Block) -> list[str]:
    """The top-level modules the block imports that are not installed (torch, jax, mpmath)."""
    tops: set[str] = set()
    for example in doctest.DocTestParser().get_examples(block.text):
        for node in ast.walk(ast.parse(example.source)):
            if isinstance(node, ast.Import):
                tops.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                tops.add(node.module.split(".")[0])
    return sorted(t for t in tops if importlib.util.find_spec(t) is None)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[_block_id(b) for b in PYTHON_BLOCKS])
def test_block_runs_and_prints_what_it_shows(block: Block, tmp_path: Path):
    missing = _missing_modules(block)
    if missing:
        pytest.skip(f"README.md line {block.line} imports {missing}, not installed")
    path = tmp_path / "README.md"
    path.write_text("\n" * (block.line - 1) + block.text, encoding="utf-8")
    # (as a fresh shell would: no pytest variables, no jax or primitives settings that would
    # change what the examples print)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "JAX_", "PRIMITIVES_", "HYPOTHESIS_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "doctest", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (
        f"README.md's python block at line {block.line} failed "
        f"(python -m doctest, exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )


# Each family: what its example must call (a regex over the README's python blocks).
FAMILIES = {
    "losses (forward and backward, numpy and torch autograd)": [
        r"P\.cross_entropy\(",
        r"P\.cross_entropy_backward\(",
        r"\.backward\(\)",
    ],
    "optimizers": [r"P\.optim\.\w+\(", r"\.init\(", r"\.step\(params"],
    "dropout": [r"P\.dropout\(", r"P\.dropout_backward\(", r"training=False"],
    "batch_norm": [
        r"P\.batch_norm\(",
        r"P\.batch_norm_backward\(",
        r"training=True",
        r"training=False",
    ],
    "EarlyStopping": [r"P\.EarlyStopping\(", r"\.step\((?!params)"],
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_readme_has_an_example_per_family(family: str):
    """Some python block calls everything its family's example must call."""
    parser = doctest.DocTestParser()
    codes = ["\n".join(e.source for e in parser.get_examples(b.text)) for b in PYTHON_BLOCKS]
    patterns = FAMILIES[family]
    assert any(all(re.search(p, code) for p in patterns) for code in codes), (
        f"README.md has no python block with an example for {family} (calling all of {patterns})"
    )


def test_readme_documents_early_stopping_step():
    """The prose says what EarlyStopping.step takes and returns (not only an example)."""
    prose = re.sub(r"```.*?```", "", README.read_text(encoding="utf-8"), flags=re.S)
    assert "`step(metric)`" in prose
