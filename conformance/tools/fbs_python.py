# fbs_python.py: compiles schema/kvc.fbs with `flatc --python` into a temporary folder (flatc
# output is never committed) and imports it as the package `kvc_fbs` (not `kvc`, the binding).
import importlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

SCHEMA = pathlib.Path(__file__).resolve().parents[2] / "schema" / "kvc.fbs"
_cache = {}


def load():
    """The generated module kvc_fbs.format (Message, Header, Chunk, Footer, ... classes)."""
    if "format" in _cache:
        return _cache["format"]
    flatc = os.environ.get("FLATC") or shutil.which("flatc")
    if flatc is None:
        raise RuntimeError("flatc not found (apt flatbuffers-compiler, or set FLATC)")
    out = pathlib.Path(tempfile.mkdtemp(prefix="kvc_fbs_"))
    subprocess.run([flatc, "--python", "-o", str(out / "gen"), str(SCHEMA)], check=True)
    # The schema's namespace kvc.format would shadow the binding's package kvc: rename it.
    shutil.move(str(out / "gen" / "kvc"), str(out / "kvc_fbs"))
    for path in (out / "kvc_fbs").rglob("*.py"):
        path.write_text(path.read_text().replace("kvc.format", "kvc_fbs.format"))
    sys.path.insert(0, str(out))
    fmt = types_of(importlib.import_module("kvc_fbs.format"), out / "kvc_fbs" / "format")
    _cache["format"] = fmt
    return fmt


class _Namespace:
    pass


def types_of(package, folder):
    """A namespace with one attribute per generated class (Message, Header, DType, ...)."""
    ns = _Namespace()
    for path in sorted(folder.glob("*.py")):
        if path.stem == "__init__":
            continue
        module = importlib.import_module(f"{package.__name__}.{path.stem}")
        setattr(ns, path.stem, getattr(module, path.stem))
    return ns
