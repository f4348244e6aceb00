"""Generate ``wire/zk/records.py`` from ZooKeeper's ``zookeeper.jute`` (``python -m wire.zk.codegen [--check]``).

The jute grammar used by ZooKeeper is small: modules of classes whose fields
are ``int``, ``long``, ``boolean``, ``ustring``, ``buffer``, ``vector<T>`` or
another record. Each class becomes a slotted dataclass with ``read``/``write``
functions on precompiled structs. Strings, buffers and vectors keep null (-1)
distinct from empty (0). The one irregularity of the wire format is handled
here too: the trailing ``readOnly`` boolean of ConnectRequest/ConnectResponse
is optional in both directions (``None`` when absent).

The .jute file defaults to ``../shared/zookeeper-protocol/zookeeper.jute``
beside the repository, or ``$WIRETWIN_ZK_JUTE``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent / "records.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
OPTIONAL_LAST = {("ConnectRequest", "readOnly"), ("ConnectResponse", "readOnly")}

FIXED = {"int": ("i", 4, "int", "0"), "long": ("q", 8, "int", "0"), "boolean": ("?", 1, "bool", "False")}
CODES = {"i": "I", "q": "Q", "?": "B"}


@dataclass
class JuteField:
    type: str
    name: str

    @property
    def attr(self) -> str:
        s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", self.name)
        return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


@dataclass
class JuteClass:
    module: str
    name: str
    fields: list[JuteField]


def default_jute_path() -> Path:
    env = os.environ.get("WIRETWIN_ZK_JUTE")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "zookeeper-protocol" / "zookeeper.jute"


def parse(text: str) -> list[JuteClass]:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    classes: list[JuteClass] = []
    for module, body in re.findall(r"module\s+([\w.]+)\s*\{(.*?)\n\}", text, flags=re.S):
        for name, fields in re.findall(r"class\s+(\w+)\s*\{(.*?)\}", body, flags=re.S):
            parsed = []
            for decl in fields.split(";"):
                decl = decl.strip()
                if not decl:
                    continue
                m = re.fullmatch(r"(vector\s*<\s*[\w.]+\s*>|[\w.]+)\s*(\w+)", decl, flags=re.S)
                if m is None:
                    raise ValueError(f"cannot parse field {decl!r} in {name}")
                ftype = re.sub(r"\s+", "", m.group(1))
                parsed.append(JuteField(ftype, m.group(2)))
            classes.append(JuteClass(module, name, parsed))
    return classes


def _short(t: str) -> str:
    return t.rsplit(".", 1)[-1]


def _py_type(t: str, top: bool = True) -> str:
    """Top-level strings, buffers and vectors may be null; strings inside vectors may not."""
    if t.startswith("vector<"):
        return f"list[{_py_type(t[7:-1], False)}] | None"
    if t in FIXED:
        return FIXED[t][2]
    if t == "ustring":
        return "str | None" if top else "str"
    if t == "buffer":
        return "bytes | None"
    return _short(t)


def _default(t: str) -> str:
    if t.startswith("vector<"):
        return "field(default_factory=list)"
    if t in FIXED:
        return FIXED[t][3]
    if t == "ustring":
        return '""'
    if t == "buffer":
        return 'b""'
    return f"field(default_factory=lambda: {_short(t)}())"


class _Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.structs: dict[str, str] = {}

    def const(self, fmt: str) -> str:
        name = "_" + "".join(CODES[c] for c in fmt)
        self.structs[fmt] = name
        return name

    def read_value(self, t: str, target: str, indent: str, depth: int = 0) -> list[str]:
        if t in FIXED:
            fmt, size, _, _ = FIXED[t]
            return [f"{indent}({target},) = {self.const(fmt)}.unpack_from(buf, pos)", f"{indent}pos += {size}"]
        if t == "ustring":
            reader = "read_string32" if depth == 0 else "read_str32"
            return [f"{indent}{target}, pos = {reader}(buf, pos)"]
        if t == "buffer":
            return [f"{indent}{target}, pos = read_bytes32(buf, pos, True)"]
        if t.startswith("vector<"):
            inner = t[7:-1]
            n, item = f"n{depth}", f"item{depth}"
            out = [f"{indent}{n}, pos = read_array_count(buf, pos, True)",
                   f"{indent}if {n} is None:", f"{indent}    {target} = None", f"{indent}else:",
                   f"{indent}    {target} = []", f"{indent}    for _ in range({n}):"]
            out += self.read_value(inner, item, indent + "        ", depth + 1)
            out.append(f"{indent}        {target}.append({item})")
            return out
        return [f"{indent}{target}, pos = _read_{_short(t)}(buf, pos)"]

    def write_value(self, t: str, value: str, indent: str, depth: int = 0) -> list[str]:
        if t in FIXED:
            return [f"{indent}out += {self.const(FIXED[t][0])}.pack({value})"]
        if t == "ustring":
            return [f"{indent}write_string32(out, {value}{'' if depth == 0 else ', False'})"]
        if t == "buffer":
            return [f"{indent}write_bytes32(out, {value}, True)"]
        if t.startswith("vector<"):
            item = f"item{depth}"
            out = [f"{indent}write_array_count(out, {value}, True)", f"{indent}if {value} is not None:",
                   f"{indent}    for {item} in {value}:"]
            out += self.write_value(t[7:-1], item, indent + "        ", depth + 1)
            return out
        return [f"{indent}_write_{_short(t)}(out, {value})"]

    @staticmethod
    def groups(cls: JuteClass) -> list[list[JuteField]]:
        """Runs of fixed-width fields, read and written through one struct."""
        out: list[list[JuteField]] = []
        for f in cls.fields:
            fixed = f.type in FIXED and (cls.name, f.name) not in OPTIONAL_LAST
            if fixed and out and out[-1][-1].type in FIXED and (cls.name, out[-1][-1].name) not in OPTIONAL_LAST:
                out[-1].append(f)
            else:
                out.append([f])
        return out

    def emit(self, cls: JuteClass) -> None:
        L = self.lines
        L += ["", "", "@dataclass(slots=True)", f"class {cls.name}(JuteRecord):"]
        if not cls.fields:
            L.append("    pass")
        for f in cls.fields:
            if (cls.name, f.name) in OPTIONAL_LAST:
                L.append(f"    {f.attr}: bool | None = None  # optional on the wire")
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
        args = ", ".join(f"v_{f.attr}" for f in cls.fields)
        L.append(f"    return {cls.name}({args}), pos")
        L += ["", "", f"def _write_{cls.name}(out: bytearray, obj: {cls.name}) -> None:"]
        if not cls.fields:
            L.append("    pass")
        for group in self.groups(cls):
            f = group[0]
            if len(group) > 1:
                fmt = "".join(FIXED[g.type][0] for g in group)
                L.append(f"    out += {self.const(fmt)}.pack({', '.join('obj.' + g.attr for g in group)})")
            elif (cls.name, f.name) in OPTIONAL_LAST:
                L.append(f"    if obj.{f.attr} is not None:")
                L += self.write_value(f.type, f"obj.{f.attr}", "        ")
            else:
                L += self.write_value(f.type, f"obj.{f.attr}", "    ")
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
    consts = "".join(f"{name} = Struct('>{fmt}')\n" for fmt, name in sorted(em.structs.items(), key=lambda x: x[1]))
    index = ["", "", "RECORDS: dict[str, type[JuteRecord]] = {"]
    index += [f"    {c.name!r}: {c.name}," for c in classes]
    index.append("}")
    header = (
        "# GENERATED by `python -m wire.zk.codegen` from ZooKeeper 3.9.5's zookeeper.jute. DO NOT EDIT.\n"
        '"""Every record of zookeeper.jute as a dataclass with jute binary read/write functions."""\n\n'
        "from __future__ import annotations\n\n"
        "from dataclasses import dataclass, field\n"
        "from struct import Struct\n\n"
        "from wire.primitives import (\n"
        "    Buffer, read_array_count, read_bytes32, read_str32, read_string32, write_array_count, write_bytes32,\n"
        "    write_string32,\n"
        ")\n"
        "from wire.zk.jute import JuteRecord\n\n"
    )
    return header + consts + "\n".join(em.lines) + "\n".join(index) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wire.zk.codegen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the committed output instead of writing it")
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
            print("wire/zk/records.py is out of date: run `python -m wire.zk.codegen`", file=sys.stderr)
            return 1
        print("wire/zk/records.py matches zookeeper.jute")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
