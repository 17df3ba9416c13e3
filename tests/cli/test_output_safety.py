# test_output_safety.py: the kvc tool never replaces its input or a special file with its output:
# -o naming an input (the same path, a symbolic or a hard link) is refused; a FIFO or /dev/null
# is written as a stream and stays what it was; a legal 250-byte output name works.
import os
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from safetensors_files import read_safetensors, write_cache

KVC = os.environ.get("KVC_CLI", "")

pytestmark = pytest.mark.skipif(
    not KVC or not Path(KVC).is_file(),
    reason=f"KVC_CLI={KVC!r} is not the kvc binary (run via ctest)")


def kvc(*args, timeout=120):
    """Runs the tool; stdin closed, stdout and stderr captured as text."""
    return subprocess.run([KVC, *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


LOSSLESS = ["--bits", "16", "--no-verify"]


@pytest.fixture
def cache(tmp_path):
    return write_cache(tmp_path / "c.safetensors", layers=2, heads=2, tokens=16, head_dim=32)


@pytest.fixture
def blob(tmp_path, cache):
    out = tmp_path / "c.kvc"
    r = kvc("compress", cache, "-o", out, *LOSSLESS)
    assert r.returncode == 0, r.stderr
    return out


def expect_refused(r, output, input_):
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith("kvc: KVC_ERR_INVALID_ARGUMENT: "), r.stderr
    assert f"output {output} is the same file as the input {input_}" in r.stderr, r.stderr


def leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir() if ".tmp." in p.name)


# ---- Output naming an input ------------------------------------------------------------------

def test_compress_refuses_to_write_over_its_input(tmp_path, cache):
    before = cache.read_bytes()
    r = kvc("compress", cache, "-o", cache, *LOSSLESS)
    expect_refused(r, cache, cache)
    assert cache.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_decompress_refuses_to_write_over_its_input(tmp_path, blob):
    before = blob.read_bytes()
    r = kvc("decompress", blob, "-o", blob)
    expect_refused(r, blob, blob)
    assert blob.read_bytes() == before
    assert not (tmp_path / "c.kvc.metadata.json").exists()


def test_compress_refuses_an_output_spelled_differently_but_naming_the_input(tmp_path, cache):
    before = cache.read_bytes()
    other_spelling = tmp_path / "." / cache.name
    r = kvc("compress", cache, "-o", other_spelling, *LOSSLESS)
    expect_refused(r, other_spelling, cache)
    assert cache.read_bytes() == before


def test_compress_refuses_a_symbolic_link_to_its_input(tmp_path, cache):
    before = cache.read_bytes()
    link = tmp_path / "link.kvc"
    link.symlink_to(cache)
    r = kvc("compress", cache, "-o", link, *LOSSLESS)
    expect_refused(r, link, cache)
    assert link.is_symlink() and cache.read_bytes() == before


def test_compress_refuses_a_hard_link_to_its_input(tmp_path, cache):
    before = cache.read_bytes()
    link = tmp_path / "hard.kvc"
    os.link(cache, link)
    r = kvc("compress", cache, "-o", link, *LOSSLESS)
    expect_refused(r, link, cache)
    assert cache.read_bytes() == before and os.path.samefile(cache, link)


def test_compress_refuses_to_write_over_its_query_file(tmp_path, cache):
    queries = tmp_path / "q.safetensors"
    queries.write_bytes(b"not read: the output check comes first")
    r = kvc("compress", cache, "-o", queries, "--queries", queries, *LOSSLESS)
    expect_refused(r, queries, queries)
    assert queries.read_bytes() == b"not read: the output check comes first"


# ---- Special files ---------------------------------------------------------------------------

def run_reading_fifo(fifo, command):
    """Runs command while a thread reads fifo to the end; returns (result, bytes read).

    The read end is opened (non-blocking) before the command starts, so the tool's open for
    writing does not wait, and a tool that never opens the FIFO cannot hang the test."""
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    chunks, done = [], threading.Event()

    def reader():
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:  # a writer has it open; nothing to read yet
                time.sleep(0.001)
                continue
            if chunk:
                chunks.append(chunk)
            elif done.is_set():  # no writer, and the command has ended: the end of the stream
                break
            else:
                time.sleep(0.001)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        result = command()
    finally:
        done.set()
        thread.join(timeout=60)
        os.close(fd)
    return result, b"".join(chunks)


def test_compress_to_a_fifo_streams_into_it_and_leaves_the_fifo(tmp_path, cache):
    expected = tmp_path / "regular.kvc"
    assert kvc("compress", cache, "-o", expected, *LOSSLESS).returncode == 0
    fifo = tmp_path / "out.kvc"
    os.mkfifo(fifo)
    r, data = run_reading_fifo(fifo, lambda: kvc("compress", cache, "-o", fifo, *LOSSLESS))
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
    assert data == expected.read_bytes()
    assert leftovers(tmp_path) == []


def test_decompress_to_a_fifo_streams_the_cache_and_writes_no_sidecar(tmp_path, blob):
    expected = tmp_path / "regular.safetensors"
    assert kvc("decompress", blob, "-o", expected).returncode == 0
    fifo = tmp_path / "out.safetensors"
    os.mkfifo(fifo)
    r, data = run_reading_fifo(fifo, lambda: kvc("decompress", blob, "-o", fifo))
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
    assert data == expected.read_bytes()
    assert not (tmp_path / "out.metadata.json").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="only root could replace /dev/null; a FIFO covers other users")
@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_writing_to_dev_null_as_root_leaves_it_a_character_device(cache, blob, command):
    source = cache if command == "compress" else blob
    extra = LOSSLESS if command == "compress" else []
    r = kvc(command, source, "-o", "/dev/null", *extra)
    info = os.lstat("/dev/null")
    assert stat.S_ISCHR(info.st_mode), "/dev/null is no longer a character device"
    assert r.returncode == 0, r.stderr
    assert not Path("/dev/null.metadata.json").exists()
    assert not [p for p in Path("/dev").iterdir() if p.name.startswith("null.")]


# ---- Long names ------------------------------------------------------------------------------

def test_outputs_with_250_byte_names_are_written(tmp_path, cache):
    out = tmp_path / ("k" * 246 + ".kvc")
    assert len(out.name) == 250
    r = kvc("compress", cache, "-o", out, *LOSSLESS)
    assert r.returncode == 0, r.stderr
    assert kvc("verify", out).returncode == 0
    back = tmp_path / ("s" * 238 + ".safetensors")
    assert len(back.name) == 250
    r = kvc("decompress", out, "-o", back)
    assert r.returncode == 0, r.stderr
    restored, original = read_safetensors(back), read_safetensors(cache)
    assert {name: t[2] for name, t in restored.items()} == \
        {name: t[2] for name, t in original.items()}  # lossless: the same bytes came back
    assert (tmp_path / ("s" * 238 + ".metadata.json")).is_file()
    assert leftovers(tmp_path) == []
