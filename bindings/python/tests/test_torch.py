# test_torch.py: PyTorch CPU tensors (float32, float16, bfloat16, strided) go in without copies.
import numpy as np
import pytest

import kvc

torch = pytest.importorskip("torch",
                            reason="torch is not installed; the numpy tests cover the rest")


def test_torch_tensors_give_the_blob_of_numpy_arrays(stories):
    keys, values, _ = stories
    expected = kvc.compress(keys, values)
    assert kvc.compress(torch.from_numpy(keys), torch.from_numpy(values)) == expected
    # A [L, T, H, D] tensor seen as [L, H, T, D]: strided, passed without a copy.
    tk = torch.from_numpy(keys).transpose(1, 2).contiguous().transpose(1, 2)
    tv = torch.from_numpy(values).transpose(1, 2).contiguous().transpose(1, 2)
    assert not tk.is_contiguous()
    assert kvc.compress(tk, tv) == expected
    assert kvc.compress(list(torch.from_numpy(keys)), list(torch.from_numpy(values))) == expected


def test_bfloat16_tensors_round_trip_bit_exact(stories):
    keys, values, _ = stories
    tk = torch.from_numpy(keys).to(torch.bfloat16)
    tv = torch.from_numpy(values).to(torch.bfloat16)
    blob = kvc.compress(tk, tv, kvc.CompressParams(key_bits=16, value_bits=16))
    rk, rv = kvc.decompress(blob)
    assert rk.dtype == np.uint16
    assert torch.equal(torch.from_numpy(rk).view(torch.bfloat16), tk)
    assert torch.equal(torch.from_numpy(rv).view(torch.bfloat16), tv)
    q = kvc.quality(tk, tv, torch.from_numpy(rk).view(torch.bfloat16),
                    torch.from_numpy(rv).view(torch.bfloat16))
    assert q.cosine == pytest.approx(1.0)
