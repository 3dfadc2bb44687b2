"""`python -m tests.conformance [--check]`: run the matrix's tests and write
docs/conformance.md, or with `--check` exit 1 with a diff when the committed file is not
what the tests give now."""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conformance.conftest import RESULTS_VARIABLE
from tests.conformance.matrix import missing_cells, read_outcomes, render

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "conformance.md"
# pytest's exit codes for "ran, all passed" and "ran, some failed": either way the
# outcomes are complete; anything else (usage error, crash, interrupted) is not.
_RAN = (0, 1)


def run_tests(results: Path, pytest_args: list[str]) -> int:
    env = {**os.environ, RESULTS_VARIABLE: str(results)}
    command = [sys.executable, "-m", "pytest", "tests/conformance", "-q", *pytest_args]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.conformance", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="compare with docs/conformance.md instead of writing"
    )
    parser.add_argument("pytest_args", nargs="*", help="more arguments for pytest")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.jsonl"
        results.touch()
        status = run_tests(results, args.pytest_args)
        outcomes = read_outcomes(results.read_text(encoding="utf-8").splitlines())
    if status not in _RAN:
        print(f"pytest stopped with exit code {status}; the matrix is not written", file=sys.stderr)
        return status or 2
    missing = missing_cells(outcomes)
    if missing:
        print(f"cells without a test outcome: {', '.join(missing)}", file=sys.stderr)
        return 2
    document = render(outcomes)
    if not args.check:
        DOCUMENT.write_text(document, encoding="utf-8")
        print(f"wrote {DOCUMENT.relative_to(ROOT)}")
        return 0
    committed = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else ""
    if committed == document:
        print(f"{DOCUMENT.relative_to(ROOT)} is current")
        return 0
    diff = difflib.unified_diff(
        committed.splitlines(keepends=True),
        document.splitlines(keepends=True),
        fromfile="docs/conformance.md (committed)",
        tofile="docs/conformance.md (from the tests now)",
    )
    sys.stdout.writelines(diff)
    print("docs/conformance.md is out of date: run `python -m tests.conformance`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
