# test_layout.py: _ffi mirrors kvc.h and kvc_tools.h: struct layouts, constants and prototypes as
# the C compiler sees them.
import ctypes
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from kvc import _ffi

from conftest import REPO_ROOT

# The public headers, core first (kvc_tools.h includes kvc.h); layout.json lists the same.
HEADER_NAMES = ["kvc/kvc.h", "kvc/kvc_tools.h"]
HEADERS = [REPO_ROOT / "include" / name for name in HEADER_NAMES]
needs_header = pytest.mark.skipif(not all(h.is_file() for h in HEADERS),
                                  reason=f"{HEADERS[0].parent} not found (no source tree)")


LAYOUT_JSON = pathlib.Path(os.environ.get("KVC_LAYOUT_JSON") or
                           REPO_ROOT / "build" / "layout.json")


def header_text():
    text = "\n".join(h.read_text() for h in HEADERS)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def header_structs():
    """{name: [field, ...]} of every struct with a body in the headers."""
    structs = {}
    for name, body in re.findall(r"typedef struct (kvc_\w+) \{(.*?)\} \1;", header_text(), re.S):
        fields = []
        for decl in filter(None, (d.strip() for d in body.split(";"))):
            for part in decl.split(None, 1)[1].split(","):  # "double a, b" declares two
                fields.append(re.sub(r"\[.*\]", "", part).split()[-1])
        structs[name] = fields
    return structs


def header_constants():
    names = re.findall(r"^#define (KVC_[A-Z0-9_]+)\s+\S", header_text(), re.M)
    return [n for n in names if n != "KVC_API"]


def header_functions():
    """{name: number of parameters} of every KVC_API function."""
    found = {}
    for name, params in re.findall(r"KVC_API[^;(]*?\b(kvc_\w+)\(([^)]*)\)", header_text(), re.S):
        found[name] = 0 if params.strip() == "void" else params.count(",") + 1
    return found


@needs_header
def test_every_struct_has_the_fields_of_the_header_in_order():
    structs = header_structs()
    assert len(structs) >= 7
    for name, fields in structs.items():
        mirror = getattr(_ffi, name)
        assert [f for f, _ in mirror._fields_] == fields, name


@needs_header
def test_every_function_has_its_prototype_set():
    functions = header_functions()
    assert len(functions) >= 60
    for name, count in functions.items():
        fn = getattr(_ffi, name)
        assert fn.argtypes is not None and len(fn.argtypes) == count, name


@needs_header
def test_layouts_and_constants_match_the_c_compiler(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc) on PATH to compare layouts against")
    lines = ['#include <stdio.h>', '#include <stddef.h>']
    lines += [f'#include "{name}"' for name in HEADER_NAMES]
    lines.append("int main(void) {")
    for name, fields in header_structs().items():
        lines.append(f'  printf("{name} sizeof %zu\\n", sizeof({name}));')
        for f in fields:
            lines.append(f'  printf("{name} {f} %zu\\n", offsetof({name}, {f}));')
    for c in header_constants():
        if c.startswith("KVC_KVC_"):  # include guards
            continue
        lines.append(f'  printf("const {c} %lld\\n", (long long)({c}));')
    lines += ["  return 0;", "}"]
    source = tmp_path / "layout.c"
    source.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c99", "-I", str(REPO_ROOT / "include"), str(source), "-o", str(exe)],
                   check=True, capture_output=True)
    checked = 0
    for line in subprocess.run([str(exe)], check=True, capture_output=True,
                               text=True).stdout.splitlines():
        owner, what, value = line.split()
        if owner == "const":
            assert getattr(_ffi, what) == int(value), what
        elif what == "sizeof":
            assert ctypes.sizeof(getattr(_ffi, owner)) == int(value), owner
        else:
            assert getattr(getattr(_ffi, owner), what).offset == int(value), (owner, what)
        checked += 1
    assert checked > 100


@pytest.mark.skipif(not LAYOUT_JSON.is_file() and "KVC_LAYOUT_JSON" not in os.environ,
                    reason=f"{LAYOUT_JSON} not found: build kvc (tests/abi writes it)")
def test_every_struct_and_constant_matches_layout_json():
    """build/layout.json (tests/abi/layout_dump.c): the layouts every binding checks against."""
    layout = json.loads(LAYOUT_JSON.read_text())
    assert layout["headers"] == HEADER_NAMES
    assert len(layout["structs"]) >= 10 and len(layout["constants"]) >= 40
    for name, c in layout["structs"].items():
        mirror = getattr(_ffi, name)
        assert (ctypes.sizeof(mirror), ctypes.alignment(mirror)) == (c["size"], c["align"]), name
        assert [f for f, _ in mirror._fields_] == [f["name"] for f in c["fields"]], name
        for f in c["fields"]:
            field = getattr(mirror, f["name"])
            assert (field.offset, field.size) == (f["offset"], f["size"]), (name, f["name"])
    for name, value in layout["constants"].items():
        assert getattr(_ffi, name) == value, name
