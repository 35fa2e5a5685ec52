"""charlm.ngram.passes: counting in chunked passes gives the same tables, array for array,
whatever the chunk and whether the position streams stay in RAM or spill to disk; the
budget picks the mode or refuses in one line; and under RLIMIT_AS the spilled counting
fits where counting in RAM does not."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from charlm.core.errors import ParamsError
from charlm.ngram import NgramCounts
from charlm.ngram.passes import (CountPlan, MIN_CHUNK, PairStream, bucket_symbols,
                                 count_levels, plan)

from helpers import decode_gram, naive_counts


def tables(c: NgramCounts) -> list[np.ndarray]:
    return [*c.keys, *c.counts, *c.suffix]


def counted(ids, V: int, order: int, cp: CountPlan) -> NgramCounts:
    stream = np.concatenate([np.full(order, V, dtype=np.uint16), ids.astype(np.uint16)])
    keys, counts, suffix = count_levels(stream, V + 1, order + 1, order, np.dtype(np.int32), cp)
    return NgramCounts(V, order, keys, counts, suffix, len(ids))


@pytest.mark.parametrize("V,order,n", [(3, 6, 900), (40, 4, 700), (300, 2, 500)])
@pytest.mark.parametrize("on_disk", [False, True])
@pytest.mark.parametrize("chunk", [1, 7, 64, 10**6])
def test_chunked_passes_give_the_same_tables(V, order, n, on_disk, chunk):
    ids = np.random.default_rng(V + n).integers(0, V, n)
    whole = NgramCounts.fit(ids, V, order)                  # in RAM, one chunk
    got = counted(ids, V, order, CountPlan(on_disk, chunk, 0))
    for a, b in zip(tables(whole), tables(got), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    want = naive_counts(ids.tolist(), V, order)             # and they are the true counts
    assert {decode_gram(got, k, r): int(got.counts[k - 1][r])
            for k in range(1, order + 2) for r in np.flatnonzero(got.counts[k - 1])} == want


def test_bucket_symbols_of_any_window():
    sizes = np.array([0, 3, 0, 2, 4, 0])
    full = np.repeat(np.arange(6), sizes)
    ends = np.cumsum(sizes)
    for a in range(len(full)):
        for b in range(a + 1, len(full) + 1):
            assert bucket_symbols(ends, a, b).tolist() == full[a:b].tolist()


def test_pair_stream_on_disk_round_trip(tmp_path):
    s = PairStream(10, np.dtype(np.int32), str(tmp_path / "p"))
    try:
        s.write(3, np.arange(4), np.arange(4) * 10)
        s.write(0, np.array([7, 8, 9]), np.array([1, 2, 3]))
        pos, rank = s.read(0, 7)
        assert pos.tolist() == [7, 8, 9, 0, 1, 2, 3]
        assert rank.tolist() == [1, 2, 3, 0, 10, 20, 30]
    finally:
        s.close()


def test_the_budget_picks_ram_spill_or_refuses():
    i32, u8 = np.dtype(np.int32), np.dtype(np.uint8)
    assert not plan(10**6, i32, u8, 1024).on_disk          # 25 MB of arrays: RAM
    spill = plan(30 * 10**6, i32, u8, 400)                  # 750 MB in RAM: spill
    assert spill.on_disk and MIN_CHUNK <= spill.chunk
    assert spill.ram_bytes + 48 * spill.chunk <= 400 * 2**20
    with pytest.raises(ParamsError, match=r"ngram.memory_mb >= \d+") as e:
        plan(10**8, i32, u8, 500)                           # the ranks alone are 900 MB
    assert "\n" not in str(e.value)


def test_fit_refuses_a_budget_below_the_floor():
    ids = np.random.default_rng(0).integers(0, 5, 200_000)
    with pytest.raises(ParamsError, match="memory_mb"):
        NgramCounts.fit(ids, 5, 3, memory_mb=1)


CHILD = textwrap.dedent("""
    import hashlib, resource, sys
    import numpy as np
    from charlm.ngram import NgramCounts
    n, budget, extra_mb = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    ids = np.random.default_rng(1).integers(0, 16, n).astype(np.uint8)
    vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1])
    limit = vm * 1024 + extra_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        c = NgramCounts.fit(ids, 16, 3, memory_mb=budget)
    except MemoryError:
        print("MemoryError"); sys.exit(3)
    h = hashlib.sha256()
    for a in [*c.keys, *c.counts, *c.suffix]:
        h.update(a.tobytes())
    print(h.hexdigest())
""")


def child(n: int, budget: float, extra_mb: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, str(n), str(budget), str(extra_mb)],
                          capture_output=True, text=True, timeout=300)


def test_spilled_counting_fits_under_rlimit_as_where_ram_counting_does_not():
    n, extra = 6_000_000, 160           # 160 MB of address space beyond the imports
    ram = child(n, 4096, extra)         # the streams in RAM need ~25 bytes per char + chunk
    assert ram.returncode == 3 and "MemoryError" in ram.stdout, ram.stderr[-2000:]
    spilled = child(n, 90, extra)       # the budget: the text, two ranks and small chunks
    assert spilled.returncode == 0, spilled.stderr[-2000:]
    ids = np.random.default_rng(1).integers(0, 16, n).astype(np.uint8)
    h = hashlib.sha256()
    for a in tables(NgramCounts.fit(ids, 16, 3)):
        h.update(a.tobytes())
    assert spilled.stdout.strip() == h.hexdigest()
