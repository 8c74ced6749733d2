"""Benchmark: decoding with the KV cache against recomputing the whole prefix each step.

A ``transformer_decoder`` with random weights (seeded) decodes a batch of random memories of
different lengths (padded) for exactly ``--new-tokens`` tokens (no stop token, so both runs do
the same number of steps), once with its KV cache and once without (``use_cache=False``: every
step runs the decoder on the whole prefix, as :class:`polymodal.decoders.PrefixState` does; the
logits of every prefix position are computed, as a decoder without cache does). Prints, in one
run, whether both produced the same tokens, each one's generated tokens per second (best of
``--repeats``) and the ratio.

Run::

    .venv/bin/python benchmarks/decode_kv_cache.py [--batch 8] [--new-tokens 64] [--strategy greedy]
        [--device cpu] [--threads 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import torch

from polymodal.decoders.generate import generate
from polymodal.decoders.options import DecodingOptions, Generated
from polymodal.registry import DECODERS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--memory-len", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=1000)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--strategy", choices=["greedy", "beam", "sample"], default="greedy")
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    return parser.parse_args()


def timed(
    run: Callable[[], Generated], repeats: int, device: torch.device
) -> tuple[Generated, float]:
    """The output of ``run()`` and its best wall time over ``repeats``."""
    best, out = float("inf"), None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    assert out is not None
    return out, best


def main() -> int:
    args = parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    decoder = DECODERS.create(
        "transformer_decoder", memory_dim=args.d_model, vocab_size=args.vocab,
        d_model=args.d_model, heads=args.heads, layers=args.layers, dropout=0.0,
    ).to(device).eval()  # fmt: skip
    memory = torch.randn(args.batch, args.memory_len, args.d_model, device=device)
    lengths = torch.linspace(args.memory_len // 4, args.memory_len, args.batch).long()
    mask = torch.arange(args.memory_len)[None, :] >= lengths[:, None]
    mask = mask.to(device)
    options = DecodingOptions(
        strategy=args.strategy, max_new_tokens=args.new_tokens, beam_width=args.beam_width,
        length_penalty="none", seed=0,
    )  # fmt: skip
    runs = {}
    for use_cache in (True, False):
        opts = options.model_copy(update={"use_cache": use_cache})
        runs[use_cache] = timed(
            lambda o=opts: generate(decoder, memory, mask, o), args.repeats, device
        )
    (cached, t_cached), (plain, t_plain) = runs[True], runs[False]
    tokens = sum(len(t) for t in cached.tokens)
    same = cached.tokens == plain.tokens
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device: {device} ({name}, {torch.get_num_threads()} threads); strategy "
        f"{args.strategy}; batch {args.batch}, memory {args.memory_len}, "
        f"{args.new_tokens} new tokens, d_model {args.d_model}, {args.layers} layers, "
        f"vocab {args.vocab}"
    )
    print(f"same tokens: {same}")
    print(f"with KV cache:    {tokens / t_cached:10.1f} tokens/s ({t_cached:.3f} s)")
    print(f"without (prefix): {tokens / t_plain:10.1f} tokens/s ({t_plain:.3f} s)")
    print(f"ratio (cache / no cache): {t_plain / t_cached:.2f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
