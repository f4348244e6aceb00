"""Generates ``wire/zk/records.py`` from ``zookeeper.jute``: ``python -m wire.zk.codegen [--check] [--jute PATH]``.

This module owns the jute-to-Python translation. The jute grammar ZooKeeper uses
is small: modules of classes whose fields are ``int``, ``long``, ``boolean``,
``ustring``, ``buffer``, ``vector<T>`` or another class. Each class becomes a
slotted dataclass (``wire.zk.jute.JuteRecord``) plus a read and a write function
on precompiled ``struct.Struct`` objects; a run of fixed-width fields is read and
written with one struct.

Types: ``int``/``long`` -> ``int``, ``boolean`` -> ``bool``, ``ustring`` ->
``str | None``, ``buffer`` -> ``bytes | None``, ``vector<T>`` -> ``list[T] | None``
(null, length -1, stays distinct from empty). Strings inside a vector are ``str``:
a null element is refused both ways. The one irregular field is the trailing
``readOnly`` boolean of ConnectRequest/ConnectResponse, which is optional on the
wire: ``bool | None``, ``None`` when the frame ended before it, and not written
when ``None``.

The jute file defaults to ``$WIRETWIN_ZK_JUTE`` or else
``shared/zookeeper-protocol/zookeeper.jute`` beside the repository (ZooKeeper
3.9.5's, see its SOURCE.md). ``--check`` exits 1 when the committed output differs
from what the file generates.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent / "records.py"
REPO_ROOT = Path(__file__).resolve().parents[2]

#: (class, field) pairs that may be missing at the end of a frame.
OPTIONAL_LAST = frozenset({("ConnectRequest", "readOnly"), ("ConnectResponse", "readOnly")})

# jute type -> (struct code, size, Python type, default)
FIXED = {"int": ("i", 4, "int", "0"), "long": ("q", 8, "int", "0"), "boolean": ("?", 1, "bool", "False")}
_CONST_LETTER = {"i": "I", "q": "Q", "?": "B"}


@dataclass(frozen=True)
class JuteField:
    type: str  # "int", "ustring", "vector<ustring>", "Stat", ... (record types by short name)
    name: str  # the jute name

    @property
    def attr(self) -> str:
        s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", self.name)
        return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


@dataclass(frozen=True)
class JuteClass:
    module: str
    name: str
    fields: tuple[JuteField, ...]


def default_jute_path() -> Path:
    env = os.environ.get("WIRETWIN_ZK_JUTE")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "zookeeper-protocol" / "zookeeper.jute"


def _short(t: str) -> str:
    return t.rsplit(".", 1)[-1]


_TOKEN = re.compile(r"\s*(?:([\w.]+)|([{}<>;]))")


def _tokens(text: str) -> list[str]:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unexpected character {text[pos:].strip()[:1]!r} in the jute file")
        out.append(m.group(1) or m.group(2))
        pos = m.end()
    return out


def parse(text: str) -> list[JuteClass]:
    """The classes of a .jute file, in file order. Record-typed fields are named by their short class name."""
    toks = _tokens(text)
    i = 0

    def expect(value: str | None = None) -> str:
        nonlocal i
        if i >= len(toks):
            raise ValueError("the jute file ends early")
        tok = toks[i]
        if value is not None and tok != value:
            raise ValueError(f"expected {value!r}, found {tok!r}")
        if value is None and not re.fullmatch(r"[\w.]+", tok):
            raise ValueError(f"expected a name, found {tok!r}")
        i += 1
        return tok

    classes: list[JuteClass] = []
    while i < len(toks):
        expect("module")
        module = expect()
        expect("{")
        while toks[i:i + 1] != ["}"]:
            expect("class")
            name = expect()
            expect("{")
            fields = []
            while toks[i:i + 1] != ["}"]:
                ftype = _short(expect())
                if ftype == "vector":
                    expect("<")
                    ftype = f"vector<{_short(expect())}>"
                    expect(">")
                fields.append(JuteField(ftype, expect()))
                expect(";")
            expect("}")
            classes.append(JuteClass(module, name, tuple(fields)))
        expect("}")
    known = {c.name for c in classes} | set(FIXED) | {"ustring", "buffer"}
    for cls in classes:
        for f in cls.fields:
            inner = f.type[7:-1] if f.type.startswith("vector<") else f.type
            if inner not in known:
                raise ValueError(f"{cls.name}.{f.name}: unsupported type {f.type}")
    return classes


def _py_type(t: str, in_vector: bool = False) -> str:
    if t.startswith("vector<"):
        return f"list[{_py_type(t[7:-1], True)}] | None"
    if t in FIXED:
        return FIXED[t][2]
    if t == "ustring":
        return "str" if in_vector else "str | None"
    if t == "buffer":
        return "bytes" if in_vector else "bytes | None"
    return t


def _default(t: str) -> str:
    if t.startswith("vector<"):
        return "field(default_factory=list)"
    if t in FIXED:
        return FIXED[t][3]
    if t == "ustring":
        return '""'
    if t == "buffer":
        return 'b""'
    return f"field(default_factory={t})"


class _Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.structs: dict[str, str] = {}

    def const(self, fmt: str) -> str:
        name = "_" + "".join(_CONST_LETTER[c] for c in fmt)
        self.structs[fmt] = name
        return name

    # -- reading ------------------------------------------------------------------------
    def read_value(self, t: str, target: str, indent: str, depth: int = 0) -> list[str]:
        if t in FIXED:
            fmt, size, _, _ = FIXED[t]
            return [f"{indent}({target},) = {self.const(fmt)}.unpack_from(buf, pos)", f"{indent}pos += {size}"]
        if t == "ustring":
            return [f"{indent}{target}, pos = {'read_str32' if depth else 'read_string32'}(buf, pos)"]
        if t == "buffer":
            return [f"{indent}{target}, pos = {'read_blob32(buf, pos)' if depth else 'read_bytes32(buf, pos, True)'}"]
        if t.startswith("vector<"):
            inner = t[7:-1]
            n, item = f"n{depth}", f"item{depth}"
            out = [f"{indent}{n}, pos = read_array_count(buf, pos, True)",
                   f"{indent}{target}: {_py_type(t, depth > 0)} = None",
                   f"{indent}if {n} is not None:",
                   f"{indent}    {target} = []",
                   f"{indent}    for _ in range({n}):"]
            out += self.read_value(inner, item, indent + "        ", depth + 1)
            out.append(f"{indent}        {target}.append({item})")
            return out
        return [f"{indent}{target}, pos = _read_{t}(buf, pos)"]

    # -- writing ------------------------------------------------------------------------
    def check(self, t: str, value: str, where: str, indent: str) -> list[str]:
        """Type checks struct and the primitive writers would not make (they check the rest)."""
        if t == "boolean":
            cond, expected = f"{value} is not True and {value} is not False", "bool"
        elif t.startswith("vector<"):
            cond, expected = f"{value} is not None and not isinstance({value}, (list, tuple))", "list or None"
        elif t in FIXED or t in ("ustring", "buffer"):
            return []
        else:
            cond, expected = f"not isinstance({value}, {t})", t
        return [f"{indent}if {cond}:", f'{indent}    raise wrong_type("{where}", "{expected}", {value})']

    def write_value(self, t: str, value: str, where: str, indent: str, depth: int = 0) -> list[str]:
        out = self.check(t, value, where, indent)
        if t in FIXED:
            return out + [f"{indent}out += {self.const(FIXED[t][0])}.pack({value})"]
        if t == "ustring":
            return out + [f"{indent}write_string32(out, {value}{', False' if depth else ''})"]
        if t == "buffer":
            return out + [f"{indent}write_bytes32(out, {value}, {'False' if depth else 'True'})"]
        if t.startswith("vector<"):
            item = f"item{depth}"
            out += [f"{indent}write_array_count(out, {value}, True)",
                    f"{indent}if {value} is not None:",
                    f"{indent}    for {item} in {value}:"]
            return out + self.write_value(t[7:-1], item, f"{where}[]", indent + "        ", depth + 1)
        return out + [f"{indent}_write_{t}(out, {value})"]

    @staticmethod
    def groups(cls: JuteClass) -> list[list[JuteField]]:
        """Fields in order, runs of fixed-width ones (not the optional one) grouped together."""
        out: list[list[JuteField]] = []
        prev_fixed = False
        for f in cls.fields:
            fixed = f.type in FIXED and (cls.name, f.name) not in OPTIONAL_LAST
            if fixed and prev_fixed:
                out[-1].append(f)
            else:
                out.append([f])
            prev_fixed = fixed
        return out

    def emit(self, cls: JuteClass) -> None:
        L = self.lines
        L += ["", "", "@dataclass(slots=True)", f"class {cls.name}(JuteRecord):",
              f"    # jute: {cls.module}.{cls.name}"]
        for f in cls.fields:
            if (cls.name, f.name) in OPTIONAL_LAST:
                L.append(f"    {f.attr}: bool | None = None  # optional on the wire: None when absent")
            else:
                L.append(f"    {f.attr}: {_py_type(f.type)} = {_default(f.type)}")

        L += ["", "", f"def _read_{cls.name}(buf: Buffer, pos: int) -> tuple[{cls.name}, int]:"]
        for group in self.groups(cls):
            f = group[0]
            if len(group) > 1:
                fmt = "".join(FIXED[g.type][0] for g in group)
                size = sum(FIXED[g.type][1] for g in group)
                L.append(f"    {', '.join('v_' + g.attr for g in group)} = {self.const(fmt)}.unpack_from(buf, pos)")
                L.append(f"    pos += {size}")
            elif (cls.name, f.name) in OPTIONAL_LAST:
                L += [f"    v_{f.attr}: bool | None = None", "    if pos < len(buf):"]
                L += self.read_value(f.type, f"v_{f.attr}", "        ")
            else:
                L += self.read_value(f.type, f"v_{f.attr}", "    ")
        L.append(f"    return {cls.name}({', '.join('v_' + f.attr for f in cls.fields)}), pos")

        L += ["", "", f"def _write_{cls.name}(out: bytearray, obj: {cls.name}) -> None:"]
        for group in self.groups(cls):
            f = group[0]
            if len(group) > 1:
                for g in group:
                    L += self.check(g.type, f"obj.{g.attr}", f"{cls.name}.{g.attr}", "    ")
                fmt = "".join(FIXED[g.type][0] for g in group)
                L.append(f"    out += {self.const(fmt)}.pack({', '.join('obj.' + g.attr for g in group)})")
            elif (cls.name, f.name) in OPTIONAL_LAST:
                L.append(f"    if obj.{f.attr} is not None:")
                L += self.write_value(f.type, f"obj.{f.attr}", f"{cls.name}.{f.attr}", "        ")
            else:
                L += self.write_value(f.type, f"obj.{f.attr}", f"{cls.name}.{f.attr}", "    ")

        L += ["", "", f"{cls.name}._read = staticmethod(_read_{cls.name})",
              f"{cls.name}._write = staticmethod(_write_{cls.name})"]


def generate(jute_text: str) -> str:
    classes = parse(jute_text)
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise ValueError("duplicate jute class names")
    em = _Emitter()
    for cls in classes:
        em.emit(cls)
    digest = hashlib.sha256(jute_text.encode("utf-8")).hexdigest()
    out = [
        f"# GENERATED by `python -m wire.zk.codegen` from zookeeper.jute (sha256 {digest}). DO NOT EDIT.",
        '"""Every class of zookeeper.jute as a dataclass with its jute binary read and write functions."""',
        "",
        "from __future__ import annotations",
        "",
        "from dataclasses import dataclass, field",
        "from struct import Struct",
        "",
        "from wire.primitives import (",
        "    Buffer, read_array_count, read_bytes32, read_str32, read_string32, write_array_count,",
        "    write_bytes32, write_string32,",
        ")",
        "from wire.zk.jute import JuteRecord, wrong_type",
        "",
        f"JUTE_SHA256 = {digest!r}",
        "",
    ]
    if any("read_blob32(" in line for line in em.lines):  # a buffer inside a vector (none in 3.9.5's jute)
        out[out.index("from wire.zk.jute import JuteRecord, wrong_type")] = (
            "from wire.primitives import read_blob32\nfrom wire.zk.jute import JuteRecord, wrong_type")
    out += [f"{name} = Struct({'>' + fmt!r})" for fmt, name in sorted(em.structs.items(), key=lambda x: x[1])]
    out += em.lines
    out += ["", "", "# class name -> class", "RECORDS: dict[str, type[JuteRecord]] = {"]
    out += [f"    {c.name!r}: {c.name}," for c in classes]
    out += ["}", "", "# class name -> jute module", "MODULES: dict[str, str] = {"]
    out += [f"    {c.name!r}: {c.module!r}," for c in classes]
    out += ["}", "",
            "# class name -> (attribute, jute type) per field; record types by class name",
            "FIELDS: dict[str, tuple[tuple[str, str], ...]] = {"]
    for c in classes:
        items = "".join(f"({f.attr!r}, {f.type!r}), " for f in c.fields).rstrip(" ")
        out.append(f"    {c.name!r}: ({items}),")
    out += ["}", "",
            "# (class name, attribute) of fields that may be absent at the end of a frame",
            "OPTIONAL_TRAILING: frozenset[tuple[str, str]] = frozenset({"]
    for cname, fname in sorted(OPTIONAL_LAST):
        out.append(f"    ({cname!r}, {JuteField('boolean', fname).attr!r}),")
    out += ["})", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wire.zk.codegen",
                                     description="Generate wire/zk/records.py from zookeeper.jute.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed output is out of date")
    parser.add_argument("--jute", type=Path, default=None, help="the zookeeper.jute file")
    args = parser.parse_args(argv)
    path = args.jute or default_jute_path()
    if not path.is_file():
        print(f"jute file not found: {path}", file=sys.stderr)
        return 2
    text = generate(path.read_text(encoding="utf-8"))
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.name} is out of date with {path}: run `python -m wire.zk.codegen`", file=sys.stderr)
            return 1
        print(f"{OUTPUT.name} matches {path}")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
