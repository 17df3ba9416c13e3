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
