# test_device.py: Context("cuda") in Python: torch CUDA tensors in and out, the CPU's bytes, and a
# clear error for host arrays; the emulated plugin (tests/cuda_emulator) where there is no GPU.
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import kvc


def _emulated_plugin():
    library = os.environ.get("KVC_LIBRARY", "")
    path = Path(library).parent / "tests" / "cuda_emulator" / "libkvc_cuda_emulated.so"
    if not library or not path.is_file():
        pytest.skip("KVC_LIBRARY is not a build tree with tests/cuda_emulator "
                    "(ctest sets it to build/libkvc.so)")
    return path


def test_a_cpu_context_takes_only_the_default_stream():
    with kvc.Context() as ctx:
        ctx.set_stream(None)
        with pytest.raises(kvc.KvcError) as e:
            ctx.set_stream(0x1234)
        assert e.value.status_name == "KVC_ERR_INVALID_ARGUMENT"


def test_a_cuda_context_refuses_host_arrays():
    # The plugin is chosen when the library first looks for it: a fresh interpreter.
    script = textwrap.dedent("""
        import numpy as np, kvc
        assert kvc.device_count("cuda") == 1
        keys = np.ones((1, 1, 8, 32), np.float16)
        with kvc.Context("cuda") as ctx:
            ctx.set_stream(None)
            try:
                ctx.compress(keys, keys)
            except TypeError as e:
                assert "torch CUDA tensors" in str(e), e
            else:
                raise AssertionError("a host array reached a CUDA context")
        print("ok")
    """)
    env = dict(os.environ, KVC_CUDA_PLUGIN=str(_emulated_plugin()))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_torch_cuda_tensors_give_the_cpu_bytes(stories):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or kvc.device_count("cuda") == 0:
        pytest.skip("no CUDA device: torch CUDA tensors need a GPU (the emulated plugin cannot "
                    "hold them)")
    keys, values, _name = stories
    params = kvc.CompressParams(key_bits=4, value_bits=4, group_size=64)
    expected = kvc.compress(keys, values, params)
    with kvc.Context("cuda") as ctx:
        blob = ctx.compress(torch.from_numpy(keys).cuda(), torch.from_numpy(values).cuda(),
                            params)
        assert blob == expected
        k, v = ctx.decompress(blob)
        ck, cv = kvc.decompress(blob)
        assert k.is_cuda and np.array_equal(k.cpu().numpy(), ck)
        assert np.array_equal(v.cpu().numpy(), cv)
