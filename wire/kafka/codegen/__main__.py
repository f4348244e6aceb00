"""``python -m wire.kafka.codegen [--check] [--schemas DIR]``: regenerate or verify ``wire/kafka/messages``.

The schemas default to ``../shared/kafka-protocol`` beside the repository (3.9
files at its top, 4.0 files in ``kafka-4.0/``), or ``$WIRETWIN_KAFKA_SCHEMAS``.
``--check`` writes nothing and exits 1 if the committed output differs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from wire.kafka.codegen.emit import generate
from wire.kafka.codegen.schema import load_schema_set

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "messages"
REPO_ROOT = Path(__file__).resolve().parents[3]


def default_schema_dir() -> Path:
    env = os.environ.get("WIRETWIN_KAFKA_SCHEMAS")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "kafka-protocol"


def expected_files(schema_dir: Path) -> dict[str, str]:
    return generate(load_schema_set(schema_dir, schema_dir / "kafka-4.0"))


def drift(schema_dir: Path, package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Names of generated files that are missing, stale or unexpected."""
    want = expected_files(schema_dir)
    problems = []
    for name, text in sorted(want.items()):
        path = package_dir / name
        if not path.exists():
            problems.append(f"missing: {name}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"differs: {name}")
    for path in sorted(package_dir.glob("*.py")):
        if path.name not in want:
            problems.append(f"unexpected: {path.name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wire.kafka.codegen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the committed output instead of writing it")
    parser.add_argument("--schemas", type=Path, default=None, help="the kafka-protocol schema directory")
    args = parser.parse_args(argv)
    schema_dir = args.schemas or default_schema_dir()
    if not schema_dir.is_dir():
        print(f"schema directory not found: {schema_dir}", file=sys.stderr)
        return 2
    if args.check:
        problems = drift(schema_dir)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            print("wire/kafka/messages is out of date: run `python -m wire.kafka.codegen`", file=sys.stderr)
            return 1
        print("wire/kafka/messages matches the schemas")
        return 0
    files = expected_files(schema_dir)
    PACKAGE_DIR.mkdir(exist_ok=True)
    for path in PACKAGE_DIR.glob("*.py"):
        if path.name not in files:
            path.unlink()
    for name, text in files.items():
        (PACKAGE_DIR / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files to {PACKAGE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
