"""Benchmark: batched generation against a per-sample loop, same model, same task, same outputs.

A small LLaVA-style model built from a config (:func:`polymodal.adapters.tiny.save_tiny_vlm`:
CLIP vision tower, 4-layer Llama of width 128, 64-pixel images, byte tokenizer; random weights,
so the texts are noise, but the cost of decoding is real) answers easy-vqa questions through
:func:`polymodal.tasks.evaluate_task` twice: ``batch_size=16`` (one padded ``generate`` call per
16 samples) and ``batch_size=1`` (one call per sample, the per-sample loop of most evaluation
scripts). The two predictions tables must hold the same raw outputs (greedy
decoding); the script prints both throughputs (samples per second) and their ratio.

Run::

    .venv/bin/python benchmarks/task_batching.py [--samples 64] [--batch 16] [--tokens 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=8)
    args = parser.parse_args()
    import torch

    from polymodal.adapters import create_adapter
    from polymodal.adapters.tiny import save_tiny_vlm
    from polymodal.tasks import evaluate_task, find_task

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_tiny_vlm(Path(tmp) / "model", hidden=128, layers=4, image_size=64)
        adapter = create_adapter(f"hf:{folder}", device="cpu")
        task = find_task("easy-vqa")
        spec = task.spec.model_copy(deep=True)
        spec.prompt.templates = spec.prompt.templates[:1]
        spec.generation.max_new_tokens = args.tokens
        spec.generation.stop = []
        task = type(task)(spec, task.path, task.sha256)
        timings, outputs = {}, {}
        for size in (args.batch, 1):
            start = time.perf_counter()
            result = evaluate_task(task, adapter, Path(tmp) / f"b{size}", limit=args.samples,
                                   batch_size=size, resamples=0)  # fmt: skip
            timings[size] = time.perf_counter() - start
            outputs[size] = list(result.table["raw_output"])
    same = outputs[args.batch] == outputs[1]
    batched, loop = args.samples / timings[args.batch], args.samples / timings[1]
    print(f"easy-vqa, {args.samples} samples, {args.tokens} new tokens, CPU, 1 thread")
    print(f"  batched ({args.batch}/call): {batched:7.2f} samples/s ({timings[args.batch]:.1f} s)")
    print(f"  per-sample loop:       {loop:7.2f} samples/s ({timings[1]:.1f} s)")
    print(f"  ratio: {batched / loop:.2f}x   same outputs: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
