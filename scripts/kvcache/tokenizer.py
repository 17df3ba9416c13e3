# Minimal tokenizers (SentencePiece-style "llama" and GPT-2 byte-level BPE "gpt2") built from GGUF metadata.
"""Tokenizers for the GGUF models used by make_example_caches.py.

* ``SPMTokenizer`` (tokenizer.ggml.model == "llama"): llama.cpp's SPM algorithm - optional leading
  space, spaces -> U+2581, start from single characters, repeatedly merge the adjacent pair whose
  concatenation is a vocabulary piece with the highest score (ties: leftmost), characters that are not
  pieces fall back to <0xNN> byte tokens.  BOS prepended when tokenizer.ggml.add_bos_token (default
  true) says so.
* ``BPETokenizer`` (tokenizer.ggml.model == "gpt2"): GPT-2 byte-level BPE with the ranked
  tokenizer.ggml.merges and the GPT-2 pre-tokenizer regex.  For tokenizer.ggml.pre in
  ``_DIGIT_SPLIT_PRE`` (e.g. "smollm") digits are first split off one by one, as llama.cpp and the
  HF tokenizer (Digits(individual_digits=True)) do.

Approximations (fine for English text): Python's ``re`` has no \\p{L}/\\p{N}; we build those two
character classes exactly from ``unicodedata`` (so they follow Python's Unicode version, not ICU /
llama.cpp's tables), and ``\\s`` is Python's whitespace class.  Special/control tokens written inside
the text (e.g. "<|im_start|>") are NOT recognised; they are tokenised as plain text.
"""

from __future__ import annotations

import functools
import heapq
import re
import sys
import unicodedata

__all__ = ["SPMTokenizer", "BPETokenizer", "tokenizer_from_gguf", "load_tokenizer"]

# llama.cpp token types
TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE = 1, 2, 3, 4, 5, 6


class SPMTokenizer:
    kind = "llama"

    def __init__(self, tokens, scores, types, bos_id=1, eos_id=2, unk_id=0, add_bos=True,
                 add_space_prefix=True):
        self.tokens = list(tokens)
        self.scores = list(scores) if scores is not None else [0.0] * len(self.tokens)
        self.types = list(types) if types is not None else [TT_NORMAL] * len(self.tokens)
        self.bos_id, self.eos_id, self.unk_id = bos_id, eos_id, unk_id
        self.add_bos = add_bos
        self.add_space_prefix = add_space_prefix
        # pieces usable by merges / direct lookup (as sentencepiece: normal and user-defined pieces)
        self.piece_to_id = {}
        for i, (t, ty) in enumerate(zip(self.tokens, self.types)):
            if ty in (TT_NORMAL, TT_USER_DEFINED) and t not in self.piece_to_id:
                self.piece_to_id[t] = i
        self.byte_to_id = {}
        for i, (t, ty) in enumerate(zip(self.tokens, self.types)):
            if ty == TT_BYTE and len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                self.byte_to_id[int(t[3:5], 16)] = i

    @property
    def vocab_size(self):
        return len(self.tokens)

    def encode(self, text: str, add_bos: bool | None = None) -> list[int]:
        add_bos = self.add_bos if add_bos is None else add_bos
        out = [self.bos_id] if add_bos else []
        if not text:
            return out
        if self.add_space_prefix:
            text = " " + text
        text = text.replace(" ", "\u2581")
        n = len(text)
        # symbols: start offset and length (in characters) in `text`, doubly linked
        start = list(range(n))
        size = [1] * n
        prev = [i - 1 for i in range(n)]
        nxt = [i + 1 if i + 1 < n else -1 for i in range(n)]
        heap = []

        def add_bigram(left, right):
            if left < 0 or right < 0:
                return
            s = text[start[left]:start[left] + size[left] + size[right]]
            tid = self.piece_to_id.get(s)
            if tid is None:
                return
            heapq.heappush(heap, (-self.scores[tid], left, right, len(s)))

        for i in range(n - 1):
            add_bigram(i, i + 1)
        while heap:
            _, left, right, ln = heapq.heappop(heap)
            if size[left] == 0 or size[right] == 0 or size[left] + size[right] != ln:
                continue  # stale entry
            size[left] += size[right]
            size[right] = 0
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prev[nxt[right]] = left
            add_bigram(prev[left], left)
            add_bigram(left, nxt[left])
        i = 0
        while i != -1:
            s = text[start[i]:start[i] + size[i]]
            tid = self.piece_to_id.get(s)
            if tid is not None:
                out.append(tid)
            else:
                for b in s.encode("utf-8"):
                    out.append(self.byte_to_id.get(b, self.unk_id))
            i = nxt[i]
        return out

    def decode(self, ids, skip_special: bool = True, strip_leading_space: bool = True) -> str:
        buf = bytearray()
        for t in ids:
            t = int(t)
            ty = self.types[t]
            piece = self.tokens[t]
            if ty == TT_CONTROL:
                if not skip_special:
                    buf += piece.encode("utf-8")
                continue
            if ty == TT_BYTE and len(piece) == 6 and piece.startswith("<0x"):
                buf.append(int(piece[3:5], 16))
                continue
            buf += piece.replace("\u2581", " ").encode("utf-8")
        s = buf.decode("utf-8", errors="replace")
        if strip_leading_space and self.add_space_prefix and s.startswith(" "):
            s = s[1:]
        return s

    def id_to_piece(self, t):
        return self.tokens[int(t)]


@functools.lru_cache(maxsize=1)
def _bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(
        range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def _class_ranges(prefix: str) -> str:
    """Regex character-class body for all code points whose Unicode category starts with prefix."""
    parts = []
    lo = None
    for cp in range(sys.maxunicode + 1):
        ok = unicodedata.category(chr(cp)).startswith(prefix)
        if ok and lo is None:
            lo = cp
        elif not ok and lo is not None:
            parts.append((lo, cp - 1))
            lo = None
    if lo is not None:
        parts.append((lo, sys.maxunicode))

    def esc(c):
        return "\\U%08x" % c

    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in parts)


@functools.lru_cache(maxsize=1)
def _gpt2_regexes():
    L = _class_ranges("L")
    N = _class_ranges("N")
    gpt2 = re.compile(
        rf"""'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^\s{L}{N}]+|\s+(?!\S)|\s+""")
    digit = re.compile(rf"([{N}])")
    return gpt2, digit


# tokenizer.ggml.pre values whose llama.cpp pre-tokenizer is ["\p{N}", <gpt2 regex>]
_DIGIT_SPLIT_PRE = {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"}


class BPETokenizer:
    kind = "gpt2"

    def __init__(self, tokens, types, merges, bos_id=None, eos_id=None, add_bos=False, pre="gpt2"):
        self.tokens = list(tokens)
        self.types = list(types) if types is not None else [TT_NORMAL] * len(self.tokens)
        self.token_to_id = {}
        for i, t in enumerate(self.tokens):
            self.token_to_id.setdefault(t, i)
        self.ranks = {}
        for r, m in enumerate(merges):
            a, _, b = m.partition(" ")
            self.ranks.setdefault((a, b), r)
        self.bos_id, self.eos_id = bos_id, eos_id
        self.add_bos = add_bos
        self.pre = pre or "gpt2"
        self.digit_split = self.pre in _DIGIT_SPLIT_PRE
        self.byte_enc = _bytes_to_unicode()
        self.byte_dec = {c: b for b, c in self.byte_enc.items()}
        self._cache = {}

    @property
    def vocab_size(self):
        return len(self.tokens)

    def _pretokenize(self, text):
        gpt2, digit = _gpt2_regexes()
        chunks = digit.split(text) if self.digit_split else [text]
        words = []
        for c in chunks:
            if c:
                words.extend(gpt2.findall(c))
        return words

    def _bpe(self, word: str):
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        parts = list(word)
        ranks = self.ranks
        while len(parts) > 1:
            best, best_rank = None, None
            for i in range(len(parts) - 1):
                r = ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = (parts[i], parts[i + 1]), r
            if best is None:
                break
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == best[0] and parts[i + 1] == best[1]:
                    merged.append(best[0] + best[1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids = []
        for p in parts:
            tid = self.token_to_id.get(p)
            if tid is not None:
                ids.append(tid)
            else:  # should not happen with a consistent vocab/merges; fall back to single symbols
                ids.extend(self.token_to_id[ch] for ch in p)
        self._cache[word] = ids
        return ids

    def encode(self, text: str, add_bos: bool | None = None) -> list[int]:
        add_bos = self.add_bos if add_bos is None else add_bos
        out = [self.bos_id] if add_bos and self.bos_id is not None else []
        for w in self._pretokenize(text):
            mapped = "".join(self.byte_enc[b] for b in w.encode("utf-8"))
            out.extend(self._bpe(mapped))
        return out

    def decode(self, ids, skip_special: bool = True) -> str:
        buf = bytearray()
        for t in ids:
            t = int(t)
            piece = self.tokens[t]
            if self.types[t] == TT_CONTROL:
                if not skip_special:
                    buf += piece.encode("utf-8")
                continue
            for ch in piece:
                b = self.byte_dec.get(ch)
                if b is None:
                    buf += ch.encode("utf-8")
                else:
                    buf.append(b)
        return buf.decode("utf-8", errors="replace")

    def id_to_piece(self, t):
        return self.tokens[int(t)]


def tokenizer_from_gguf(get):
    """Build the tokenizer from a metadata getter ``get(key, default)`` (e.g. LlamaModel.metadata)."""
    model = get("tokenizer.ggml.model")
    tokens = get("tokenizer.ggml.tokens")
    types = get("tokenizer.ggml.token_type")
    bos = get("tokenizer.ggml.bos_token_id")
    eos = get("tokenizer.ggml.eos_token_id")
    if model == "llama":
        return SPMTokenizer(
            tokens, get("tokenizer.ggml.scores"), types,
            bos_id=int(bos if bos is not None else 1), eos_id=int(eos if eos is not None else 2),
            unk_id=int(get("tokenizer.ggml.unknown_token_id", 0)),
            add_bos=bool(get("tokenizer.ggml.add_bos_token", True)),
            add_space_prefix=bool(get("tokenizer.ggml.add_space_prefix", True)))
    if model == "gpt2":
        return BPETokenizer(
            tokens, types, get("tokenizer.ggml.merges"),
            bos_id=None if bos is None else int(bos), eos_id=None if eos is None else int(eos),
            add_bos=bool(get("tokenizer.ggml.add_bos_token", False)),
            pre=get("tokenizer.ggml.pre", "gpt2"))
    raise NotImplementedError(f"tokenizer.ggml.model {model!r} not supported")


def load_tokenizer(path_or_model):
    """Tokenizer for a GGUF path or an already loaded gguf_llama.LlamaModel."""
    if hasattr(path_or_model, "metadata"):
        return tokenizer_from_gguf(path_or_model.metadata)
    import gguf

    reader = gguf.GGUFReader(path_or_model)

    def get(key, default=None):
        f = reader.fields.get(key)
        return default if f is None else f.contents()

    return tokenizer_from_gguf(get)
