"""Selection-pool / test splits: a seeded, recorded split for sources that have no train split."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from core.errors import DatasetError
from core.samples import Sample

DEFAULT_POOL_FRACTION = 1 / 3
DEFAULT_MAX_POOL = 300


def ids_hash(samples: Sequence[Sample]) -> str:
    """A short, order-independent fingerprint of a set of sample ids (sha256 of the sorted ids)."""
    joined = "\n".join(sorted(sample.id for sample in samples))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def split_pool_test(
    samples: Sequence[Sample],
    *,
    seed: int,
    pool_fraction: float = DEFAULT_POOL_FRACTION,
    max_pool: int = DEFAULT_MAX_POOL,
) -> tuple[tuple[Sample, ...], tuple[Sample, ...], dict[str, object]]:
    """Split samples into a selection pool and a test set, deterministically for a seed.

    The ids are sorted, permuted with ``random.Random(seed)``, and the first
    ``min(max_pool, round(len * pool_fraction))`` of the permutation form the pool (at least one
    sample, and at least one left for the test set). Both parts keep the source order. The info
    dict records the seed, the fraction, the cap, both sizes and a hash of the pool ids.
    """
    if not 0 < pool_fraction < 1:
        raise DatasetError(f"the pool fraction must be between 0 and 1, not {pool_fraction}")
    if max_pool < 1:
        raise DatasetError(f"the pool size cap must be at least 1, not {max_pool}")
    if len(samples) < 2:
        raise DatasetError(
            f"a pool/test split needs at least 2 samples, but the source has {len(samples)}"
        )
    ids = sorted(sample.id for sample in samples)
    repeated = sorted({a for a, b in zip(ids, ids[1:], strict=False) if a == b})
    if repeated:
        raise DatasetError(
            f"a pool/test split needs unique sample ids, but {repeated[0]!r} repeats"
        )
    random.Random(seed).shuffle(ids)
    pool_size = min(max_pool, round(len(ids) * pool_fraction), len(ids) - 1)
    pool_size = max(pool_size, 1)
    pool_ids = set(ids[:pool_size])
    pool = tuple(sample for sample in samples if sample.id in pool_ids)
    test = tuple(sample for sample in samples if sample.id not in pool_ids)
    info: dict[str, object] = {
        "method": "seeded",
        "seed": seed,
        "pool_fraction": pool_fraction,
        "max_pool": max_pool,
        "pool_size": len(pool),
        "test_size": len(test),
        "pool_ids_sha256": ids_hash(pool),
    }
    return pool, test, info


def given_split_info(
    pool: Sequence[Sample], test: Sequence[Sample], *, pool_split: str, test_split: str
) -> dict[str, object]:
    """The info dict for a source whose own splits are used as pool and test."""
    return {
        "method": "given",
        "pool_split": pool_split,
        "test_split": test_split,
        "pool_size": len(pool),
        "test_size": len(test),
        "pool_ids_sha256": ids_hash(pool),
    }
