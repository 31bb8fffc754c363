"""Near-duplicates: MinHash signatures of word shingles, banded for an index lookup."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from datasketch import MinHash

PERMUTATIONS = 128
BANDS = 32
"""32 bands of 4 rows: pairs above about 0.42 Jaccard share a band; the estimate
from the whole signature then decides against the threshold."""
ROWS = PERMUTATIONS // BANDS
SHINGLE = 5
_WORD = re.compile(r"\w+")


def signature(pages: list[str]) -> list[int]:
    """The MinHash signature of the text's 5-word shingles."""
    words = _WORD.findall(unicodedata.normalize("NFKC", " ".join(pages)).casefold())
    shingles = {" ".join(words[i : i + SHINGLE]) for i in range(max(len(words) - SHINGLE + 1, 1))}
    minhash = MinHash(num_perm=PERMUTATIONS, seed=1)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return [int(v) for v in minhash.hashvalues]


def bands(sig: list[int]) -> list[tuple[int, int]]:
    """(band number, band hash) pairs; documents sharing one are candidates."""
    out = []
    for band in range(BANDS):
        rows = sig[band * ROWS : (band + 1) * ROWS]
        digest = hashlib.blake2b(repr(rows).encode(), digest_size=8).digest()
        out.append((band, int.from_bytes(digest, "big", signed=True)))
    return out


def similarity(a: list[int], b: list[int]) -> float:
    """The Jaccard similarity the two signatures estimate."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
