# models.py: loads Llama-family GGUF models into transformers offline (model + tokenizer).
"""Offline loading of GGUF models through transformers' ``gguf_file=`` (torch, transformers and
gguf must be installed). Nothing is downloaded: the directory and file name are local.
"""
import os
import struct
import tempfile
from pathlib import Path

_PAD_KEY = b"tokenizer.ggml.padding_token_id"
_GGUF_UINT32 = 4


def _without_invalid_pad_id(path):
    """Path of a GGUF equal to ``path`` but with a padding_token_id of 0xFFFFFFFF (llama2.c exports
    such as stories260K write -1) set to 0, which transformers' GGUF tokenizer reader would index
    out of range. Returns ``path`` itself when there is nothing to fix; the copy is cached in the
    temp folder by size and modification time."""
    data = Path(path).read_bytes()
    at = data.find(struct.pack("<Q", len(_PAD_KEY)) + _PAD_KEY)
    if at < 0:
        return Path(path)
    value_at = at + 8 + len(_PAD_KEY)
    kind, value = struct.unpack_from("<II", data, value_at)
    if kind != _GGUF_UINT32 or value != 0xFFFFFFFF:
        return Path(path)
    stat = os.stat(path)
    name = f"kvc-{stat.st_size}-{int(stat.st_mtime)}-{Path(path).name}"
    fixed = Path(tempfile.gettempdir()) / name
    if not fixed.is_file():
        patched = bytearray(data)
        struct.pack_into("<I", patched, value_at + 4, 0)
        tmp = fixed.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(bytes(patched))
        os.replace(tmp, fixed)
    return fixed


def load_gguf_model(path, dtype=None):
    """(model, tokenizer) of a local GGUF file, dequantized to ``dtype`` (torch.float32 by
    default), in eval mode. Works offline: no hub access is attempted."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = _without_invalid_pad_id(Path(path))
    folder, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, local_files_only=True,
                                                 dtype=dtype or torch.float32)
    model.eval()
    return model, tokenizer


def default_model_paths():
    """{"stories260K": path, "smollm2": path} of the files this repository uses: the shared data
    folder (``$KVC_SHARED_DATA``, ``$KVC_SHARED_DIR``/data, or ../shared/data next to the
    checkout) and the model cache of scripts/setup.sh (``$KVC_MODEL_DIR`` or
    ~/.cache/kvc/models)."""
    repo = Path(__file__).resolve().parents[3]
    shared_dir = Path(os.environ.get("KVC_SHARED_DIR", repo.parent / "shared"))
    shared = Path(os.environ.get("KVC_SHARED_DATA", shared_dir / "data"))
    cache = Path(os.environ.get("KVC_MODEL_DIR",
                                Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                / "kvc" / "models"))
    return {"stories260K": shared / "stories260K.gguf",
            "smollm2": cache / "SmolLM2-135M-Instruct.Q4_1.gguf"}
