# conftest.py: fixtures of the kvc Python binding tests: real example caches and the kvc CLI.
import os
from pathlib import Path

import pytest

DATA_DIR = Path(os.environ.get("KVC_TEST_DATA_DIR", ""))
_HERE = Path(__file__).resolve()
# The source tree (for include/kvc/kvc.h) when these tests run from it.
REPO_ROOT = _HERE.parents[3] if len(_HERE.parents) > 3 else _HERE.parent


def cache_path(stem):
    path = DATA_DIR / f"{stem}.safetensors"
    if not os.environ.get("KVC_TEST_DATA_DIR") or not path.is_file():
        pytest.skip(f"{path} not found: set KVC_TEST_DATA_DIR to build/data "
                    "(scripts/build.sh writes the example caches)")
    return path


@pytest.fixture(scope="session")
def stories_path():
    return cache_path("stories260K")


@pytest.fixture(scope="session")
def smol_path():
    return cache_path("smollm2-135m")


@pytest.fixture(scope="session")
def stories(stories_path):
    import kvc
    return kvc.load_cache(stories_path)


@pytest.fixture(scope="session")
def smol(smol_path):
    import kvc
    return kvc.load_cache(smol_path)


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("KVC_CLI", "")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("KVC_CLI does not name the kvc executable (ctest sets it to build/kvc)")
    return path


def require_torch_stack():
    """(torch, transformers); a skip where they are missing, unless KVC_REQUIRE_TORCH=1 (ctest
    sets it: scripts/setup.sh installs both), where their absence fails the test."""
    if os.environ.get("KVC_REQUIRE_TORCH") == "1":
        import torch
        import transformers
        return torch, transformers
    torch = pytest.importorskip("torch", reason="torch is not installed (scripts/setup.sh)")
    transformers = pytest.importorskip("transformers",
                                       reason="transformers is not installed (scripts/setup.sh)")
    return torch, transformers


def gguf_model(key):
    """(model, tokenizer) of "stories260K" or "smollm2" loaded offline; a skip where the file
    is missing (the KVC_REQUIRE_TORCH=1 run requires stories260K)."""
    require_torch_stack()
    from kvc.models import default_model_paths, load_gguf_model
    path = default_model_paths()[key]
    if not path.is_file():
        if key == "stories260K" and os.environ.get("KVC_REQUIRE_TORCH") == "1":
            pytest.fail(f"{path} not found (set KVC_SHARED_DIR to the folder holding data/)")
        pytest.skip(f"{path} not found (../shared/data or scripts/setup.sh)")
    return load_gguf_model(path)


@pytest.fixture(scope="session")
def stories_model():
    torch, _ = require_torch_stack()
    torch.set_num_threads(2)
    return gguf_model("stories260K")
