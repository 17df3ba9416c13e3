# test_torn_files.py: the kvc tool never leaves a torn file under the final name: killed with
# SIGKILL mid-compress, stopped with SIGTERM, or failing writes (RLIMIT_FSIZE: a short write,
# then EFBIG) and a full stdout (/dev/full) exit non-zero with a message.
import os
import re
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from safetensors_files import write_cache

KVC = os.environ.get("KVC_CLI", "")

pytestmark = pytest.mark.skipif(
    not KVC or not Path(KVC).is_file(),
    reason=f"KVC_CLI={KVC!r} is not the kvc binary (run via ctest)")


@pytest.fixture(scope="module")
def big_cache(tmp_path_factory):
    """64 MiB of cache: compressing and writing it takes long enough to be interrupted."""
    return write_cache(tmp_path_factory.mktemp("big") / "big.safetensors", 4, 8, 2048, 128)


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    return write_cache(tmp_path_factory.mktemp("small") / "small.safetensors", 2, 2, 64, 64)


def temp_files(directory, name):
    pattern = re.compile(re.escape(name) + r"\.tmp\.\d+\.\d+$")  # <name>.tmp.<pid>.<unique>
    return sorted(p.name for p in Path(directory).iterdir() if pattern.match(p.name))


def unexpected_files(directory, allowed):
    return sorted(p.name for p in Path(directory).iterdir() if p.name not in allowed)


def compress_args(src, out):
    return [KVC, "compress", str(src), "-o", str(out), "--bits", "16", "--zstd-level", "3",
            "--no-verify"]


def test_sigkill_mid_compress_leaves_nothing_under_the_final_name(tmp_path, big_cache):
    out = tmp_path / "out.kvc"
    killed_with_temp = 0
    for delay in (0.0, 0.05, 0.2, 0.5, 1.0, "temp"):
        p = subprocess.Popen(compress_args(big_cache, out), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if delay == "temp":  # kill as soon as the temporary file shows up
            deadline = time.monotonic() + 60
            while p.poll() is None and not temp_files(tmp_path, out.name) and \
                    time.monotonic() < deadline:
                time.sleep(0.001)
        else:
            time.sleep(delay)
        killed_with_temp += bool(temp_files(tmp_path, out.name))
        p.send_signal(signal.SIGKILL)
        rc = p.wait()
        if rc != 0:
            assert rc == -signal.SIGKILL
        # Killed before its rename, the output is absent; after it (while the tool reported),
        # or when it finished first, it is whole: never torn under the final name.
        if out.exists():
            verified = subprocess.run([KVC, "verify", str(out)], capture_output=True)
            assert verified.returncode == 0, f"a torn {out.name} after SIGKILL at {delay}"
            out.unlink()
        # A SIGKILLed process cannot clean up: only its clearly named temporary file may remain.
        for name in temp_files(tmp_path, out.name):
            (tmp_path / name).unlink()
        assert unexpected_files(tmp_path, set()) == []
    print(f"{killed_with_temp} of 6 kills hit while the temporary file existed")


def test_sigterm_mid_write_removes_the_temporary_file(tmp_path, big_cache):
    out = tmp_path / "out.kvc"
    p = subprocess.Popen(compress_args(big_cache, out), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while p.poll() is None and not temp_files(tmp_path, out.name) and time.monotonic() < deadline:
        time.sleep(0.001)
    p.send_signal(signal.SIGTERM)
    rc = p.wait()
    if rc != 0:
        assert rc == -signal.SIGTERM
        assert not out.exists()
    assert temp_files(tmp_path, out.name) == []


def limit_file_size(limit):
    """preexec_fn: files may grow to `limit` bytes; SIGXFSZ ignored, so write() fails (EFBIG)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return apply


@pytest.mark.parametrize("limit", [0, 1, 4097, -1])  # -1: one byte short of the whole blob
def test_a_failing_write_exits_1_and_leaves_no_output(tmp_path, small_cache, limit):
    whole = tmp_path / "whole.kvc"
    assert subprocess.run(compress_args(small_cache, whole), capture_output=True).returncode == 0
    if limit < 0:
        limit = whole.stat().st_size - 1
    whole.unlink()
    out = tmp_path / "out.kvc"
    out.write_bytes(b"previous contents")
    r = subprocess.run(compress_args(small_cache, out), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, preexec_fn=limit_file_size(limit))
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("kvc: KVC_ERR_IO: ") and "File too large" in r.stderr, r.stderr
    assert out.read_bytes() == b"previous contents"
    assert temp_files(tmp_path, out.name) == []


def test_a_failing_decompress_write_leaves_no_output(tmp_path, small_cache):
    blob = tmp_path / "small.kvc"
    assert subprocess.run(compress_args(small_cache, blob), capture_output=True).returncode == 0
    out = tmp_path / "back.safetensors"
    r = subprocess.run([KVC, "decompress", str(blob), "-o", str(out)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True,
                       preexec_fn=limit_file_size(blob.stat().st_size // 2))
    assert r.returncode == 1, r.stderr
    assert "KVC_ERR_IO" in r.stderr and "File too large" in r.stderr, r.stderr
    assert unexpected_files(tmp_path, {"small.kvc"}) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_full_stdout_is_an_error(tmp_path, small_cache, json_flag):
    blob = tmp_path / "small.kvc"
    assert subprocess.run(compress_args(small_cache, blob), capture_output=True).returncode == 0
    with open("/dev/full", "w") as full:
        r = subprocess.run([KVC, "inspect", str(blob), *json_flag], stdin=subprocess.DEVNULL,
                           stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 1, r.stderr
    assert "No space left on device" in r.stderr, r.stderr
