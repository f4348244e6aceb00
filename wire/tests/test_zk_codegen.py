"""wire.zk.codegen: the committed records.py is what zookeeper.jute generates, and --check catches drift."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wire.zk import codegen
from wire.zk import records as R

JUTE = codegen.default_jute_path()
REPO = Path(__file__).resolve().parents[2]
PINNED_SHA256 = "1b39859417e3ebad1fe3c67bb6d1cae5a5916a0754c3f7859de2a5b343b1e05a"  # release-3.9.5, SOURCE.md


def _jute_or_skip() -> Path:
    if not JUTE.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"zookeeper.jute is missing in CI: {JUTE}")
        pytest.skip(f"zookeeper.jute not present at {JUTE} (outside the source checkout)")
    return JUTE


def test_committed_output_matches_the_jute_file() -> None:
    jute = _jute_or_skip()
    text = jute.read_text(encoding="utf-8")
    assert codegen.generate(text) == codegen.OUTPUT.read_text(encoding="utf-8")


def test_generated_from_the_pinned_jute_file() -> None:
    assert R.JUTE_SHA256 == PINNED_SHA256
    first = codegen.OUTPUT.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# GENERATED") and "DO NOT EDIT" in first and PINNED_SHA256 in first
    if JUTE.is_file():
        assert hashlib.sha256(JUTE.read_bytes()).hexdigest() == PINNED_SHA256


def test_check_command_exits_zero_and_detects_drift(tmp_path: Path) -> None:
    jute = _jute_or_skip()
    ok = subprocess.run([sys.executable, "-m", "wire.zk.codegen", "--check", "--jute", str(jute)],
                        cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    altered = tmp_path / "zookeeper.jute"
    altered.write_text(jute.read_text(encoding="utf-8").replace("int numChildren;", "int numKids;"), encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "wire.zk.codegen", "--check", "--jute", str(altered)],
                         cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "out of date" in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "wire.zk.codegen", "--check", "--jute", str(tmp_path / "none")],
                             cwd=REPO, capture_output=True, text=True)
    assert missing.returncode == 2


def test_every_jute_class_is_generated_with_its_fields() -> None:
    jute = _jute_or_skip()
    classes = codegen.parse(jute.read_text(encoding="utf-8"))
    assert [c.name for c in classes] == list(R.RECORDS)
    assert len(classes) == 72  # every `class` in the 3.9.5 file
    for c in classes:
        assert R.MODULES[c.name] == c.module
        assert R.FIELDS[c.name] == tuple((f.attr, f.type) for f in c.fields)


def test_parse_handles_the_grammar() -> None:
    text = """
    /* block comment with class Fake { int x; } inside */
    module a.b {
        class Inner { ustring s; }  // trailing comment
        class Outer {
            long   big;
            vector< a.b.Inner > items;
            vector<ustring>names;
            a.b.Inner one;
            boolean flag;
            buffer raw;
        }
    }
    """
    classes = codegen.parse(text)
    assert [(c.module, c.name) for c in classes] == [("a.b", "Inner"), ("a.b", "Outer")]
    assert [(f.attr, f.type) for f in classes[1].fields] == [
        ("big", "long"), ("items", "vector<Inner>"), ("names", "vector<ustring>"), ("one", "Inner"),
        ("flag", "boolean"), ("raw", "buffer")]
    with pytest.raises(ValueError):
        codegen.parse("module m {\n class C { float f; }\n}")
    assert codegen.JuteField("int", "parentCVersion").attr == "parent_c_version"
    assert codegen.JuteField("int", "paths2Delete").attr == "paths2_delete"
    assert codegen.JuteField("long", "ephemeralOwner").attr == "ephemeral_owner"
