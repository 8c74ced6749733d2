"""Feature cache for frozen encoders: encode a split once, reuse its features in every epoch.

A frozen encoder (no trainable parameter) gives the same :class:`~polymodal.data.schema.Features`
for a sample in every epoch, so they can be computed once and read back. Features of one split
are stored as memory-mapped numpy arrays under ``cache_dir/<fingerprint>/<split>/``:

==================  ==========================  =============================================
file                array                       meaning
==================  ==========================  =============================================
``tokens.npy``      float ``[N, T_max, D]``     tokens as the encoder gave them, zeros past
                                                each batch's length; ``T_max`` = the split's
                                                longest
``pooled.npy``      float ``[N, D]``            pooled features
``padding_mask.npy`` bool ``[N, T_max]``        True at padding (the encoder's mask, then
                                                True up to ``T_max``)
``present.npy``     bool ``[N]``                sample has the modality
``lengths.npy``     int64 ``[N]``               last non-padding position + 1 of each row
``index.json``                                  ids in row order (row ``i`` = ``ids[i]``),
                                                dtype, width
``complete.json``                               marker written last; checked on load
==================  ==========================  =============================================

Modules, one job each:

- :mod:`~polymodal.features.fingerprint`: the cache key (:func:`fingerprint`,
  :func:`dataset_digest`).
- :mod:`~polymodal.features.layout`: the names above, entry records, key checks.
- :mod:`~polymodal.features.compute`: encoding a split into an entry.
- :mod:`~polymodal.features.store`: :class:`FeatureCache` (atomic writes, listing, clearing) and
  the memory-mapped :class:`CachedFeatures`.
- :mod:`~polymodal.features.adapters`: dataset, collate and encoder stand-ins that feed cached
  features to a model.
- :mod:`~polymodal.features.training`: wiring into a run (``train.feature_cache``).

**Using cached features** in a model, for the frozen encoder of modality ``m``::

    cache = FeatureCache(cache_dir)
    digest = dataset_digest(bundle.splits, m)
    key = fingerprint(encoder, spec, digest, {"state": bundle.state}, config=encoder_config)
    cached = {m: cache.get_or_compute(key, "train", train_set, encoder, 64, Collator(specs))}
    dataset = CachedModalityDataset(train_set, cached)       # samples carry CachedItem for m
    collate = CachedCollator(specs, cached=[m])             # batches carry CachedModalityBatch
    model.encoders[m] = CachedEncoder.from_encoder(encoder)  # returns the cached Features
"""

from polymodal.features.adapters import (
    CachedCollator,
    CachedEncoder,
    CachedModalityBatch,
    CachedModalityDataset,
    collate_cached,
    collate_with_cache,
)
from polymodal.features.fingerprint import (
    dataset_digest,
    describe_module,
    fingerprint,
    weights_digest,
)
from polymodal.features.layout import FORMAT_VERSION, TEMP_PREFIX, CacheMiss
from polymodal.features.store import CachedFeatures, CachedItem, FeatureCache

__all__ = [
    "FORMAT_VERSION",
    "TEMP_PREFIX",
    "CacheMiss",
    "CachedCollator",
    "CachedEncoder",
    "CachedFeatures",
    "CachedItem",
    "CachedModalityBatch",
    "CachedModalityDataset",
    "FeatureCache",
    "collate_cached",
    "collate_with_cache",
    "dataset_digest",
    "describe_module",
    "fingerprint",
    "weights_digest",
]
