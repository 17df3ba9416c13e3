# test_threads.py: one Context used by two calls at once (two threads, or its own progress
# callback) raises KvcError KVC_ERR_BUSY and never crashes; close() during a call frees the
# context when that call returns.
import threading
import time

import numpy as np
import pytest

import kvc
from kvc import _ffi


def cache(layers=2, heads=2, tokens=512, dim=64, seed=9):
    rng = np.random.default_rng(seed)
    keys = rng.standard_normal((layers, heads, tokens, dim)).astype(np.float32)
    values = rng.standard_normal((layers, heads, tokens, dim)).astype(np.float32)
    return keys, values


PARAMS = kvc.CompressParams(key_bits=4, value_bits=4, group_size=64)


def test_two_threads_hammering_one_context_get_busy_errors_never_a_crash():
    keys, values = cache()
    expected = kvc.compress(keys, values, PARAMS)
    counts = {"ok": 0, "busy": 0}
    unexpected = []
    with kvc.Context() as ctx:
        def hammer(seconds=10.0):
            deadline = time.monotonic() + seconds
            calls = 0
            while time.monotonic() < deadline and (calls < 30 or counts["busy"] == 0):
                calls += 1
                try:
                    if calls % 3:
                        assert ctx.compress(keys, values, PARAMS) == expected
                    else:
                        k, _ = ctx.decompress(expected)
                        assert k.shape == keys.shape
                    counts["ok"] += 1
                except kvc.KvcError as e:
                    if e.status != _ffi.KVC_ERR_BUSY or "in use" not in e.message:
                        unexpected.append(e)
                    counts["busy"] += 1
                except Exception as e:  # noqa: BLE001 -- reported below
                    unexpected.append(e)

        threads = [threading.Thread(target=hammer) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not unexpected, unexpected
        assert counts["busy"] > 0 and counts["ok"] > 0, counts
        assert ctx.compress(keys, values, PARAMS) == expected  # still usable afterwards


def blocked_call(ctx, keys, values):
    """Starts ctx.compress in a thread whose progress callback waits: (thread, entered event,
    release event, result list)."""
    entered, release, result = threading.Event(), threading.Event(), []

    def progress(done, total):
        entered.set()
        release.wait(10)

    ctx.set_progress(progress)

    def run():
        try:
            result.append(ctx.compress(keys, values, PARAMS))
        except Exception as e:  # noqa: BLE001 -- the test looks at it
            result.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(10)
    return thread, release, result


def test_a_call_while_another_thread_is_inside_a_call_is_busy():
    keys, values = cache(tokens=128)
    blob = kvc.compress(keys, values, PARAMS)
    with kvc.Context() as ctx:
        thread, release, result = blocked_call(ctx, keys, values)
        try:
            for call in (lambda: ctx.inspect(blob), lambda: ctx.compress(keys, values),
                         lambda: ctx.set_progress(None), lambda: ctx.decompress(blob)):
                with pytest.raises(kvc.KvcError) as e:
                    call()
                assert e.value.status == _ffi.KVC_ERR_BUSY
                assert e.value.status_name == "KVC_ERR_BUSY"
            # The library guards the context too: a raw call returns KVC_ERR_BUSY at once.
            assert _ffi.kvc_verify(ctx._ptr, blob, len(blob)) == _ffi.KVC_ERR_BUSY
        finally:
            release.set()
            thread.join()
        assert result == [blob]
        ctx.set_progress(None)
        assert ctx.inspect(blob).num_layers == keys.shape[0]


def test_a_call_inside_its_own_progress_callback_is_busy():
    keys, values = cache(tokens=128)
    blob = kvc.compress(keys, values, PARAMS)
    errors = []
    with kvc.Context() as ctx:
        def progress(done, total):
            try:
                ctx.inspect(blob)
            except kvc.KvcError as e:
                errors.append(e.status)
        ctx.set_progress(progress)
        assert ctx.compress(keys, values, PARAMS) == blob
    assert errors and set(errors) == {_ffi.KVC_ERR_BUSY}


@pytest.mark.parametrize("call", ["compress", "decompress"])
def test_close_inside_the_progress_callback_frees_the_context_after_the_call(call):
    keys, values = cache(tokens=128)
    blob = kvc.compress(keys, values, PARAMS)
    ctx = kvc.Context()
    seen = []

    def progress(done, total):
        seen.append(done)
        ctx.close()  # the context is inside this call: freed when it returns

    ctx.set_progress(progress)
    if call == "compress":
        assert ctx.compress(keys, values, PARAMS) == blob
    else:
        k, v = ctx.decompress(blob)
        assert k.shape == keys.shape
    assert seen and ctx.closed and ctx._ptr is None
    with pytest.raises(kvc.KvcError) as e:
        ctx.compress(keys, values, PARAMS)
    assert isinstance(e.value, ValueError) and "closed" in e.value.message
    ctx.close()  # closing again does nothing


def test_close_from_another_thread_during_a_call_waits_for_the_call():
    keys, values = cache(tokens=128)
    blob = kvc.compress(keys, values, PARAMS)
    ctx = kvc.Context()
    thread, release, result = blocked_call(ctx, keys, values)
    try:
        ctx.close()  # returns at once; the running call keeps its context
        assert ctx.closed and ctx._ptr is not None
        with pytest.raises(kvc.KvcError, match="closed"):
            ctx.inspect(blob)
    finally:
        release.set()
        thread.join()
    assert result == [blob] and ctx._ptr is None
