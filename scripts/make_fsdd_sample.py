"""Regenerate the FSDD sample packaged with polymodal from a full Free Spoken Digit Dataset folder.

    python scripts/make_fsdd_sample.py /path/to/fsdd/recordings

writes ``src/polymodal/data/builtin/fsdd_sample/``: for every (digit, speaker) pair of the folder,
``TEST_TAKES`` takes drawn from FSDD's test takes 0-4 and ``TRAIN_TAKES`` from its training
takes 5-49 (so digits-av's split by takes keeps the same meaning), drawn without replacement by
``numpy.random.default_rng((SEED, digit, speaker's index in sorted order))``. Each chosen file is
copied sample for sample (16-bit PCM WAV, its own rate), cut to its first ``MAX_SECONDS``: digits-av
reads only the first ``max_seconds`` (default 1.0) of a recording, so with its defaults the sample
gives the very samples the full folder gives for these recordings. Deterministic: the same folder
gives the same files, byte for byte. Files of the output folder that were not chosen are removed.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import soundfile as sf

SEED = 0
TEST_TAKES = 2
TRAIN_TAKES = 6
MAX_SECONDS = 1.0
NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")
OUT = Path(__file__).resolve().parents[1] / "src" / "polymodal" / "data" / "builtin" / "fsdd_sample"


def choose(names: list[str]) -> list[str]:
    """The chosen file names among ``names`` (FSDD ``{digit}_{speaker}_{take}.wav``), sorted.

    Raises:
        ValueError: a (digit, speaker) pair has fewer test or training takes than asked for.
    """
    groups: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for name in names:
        match = NAME.match(name)
        if match:
            digit, speaker, take = match.groups()
            groups.setdefault((int(digit), speaker), []).append((int(take), name))
    speakers = sorted({speaker for _, speaker in groups})
    chosen: list[str] = []
    for (digit, speaker), takes in sorted(groups.items()):
        rng = np.random.default_rng((SEED, digit, speakers.index(speaker)))
        test = sorted(name for take, name in takes if take < 5)
        train = sorted(name for take, name in takes if take >= 5)
        if len(test) < TEST_TAKES or len(train) < TRAIN_TAKES:
            raise ValueError(f"digit {digit}, speaker {speaker}: too few takes in the folder")
        chosen += [test[i] for i in rng.permutation(len(test))[:TEST_TAKES]]
        chosen += [train[i] for i in rng.permutation(len(train))[:TRAIN_TAKES]]
    return sorted(chosen)


def write_sample(source: Path, out: Path = OUT) -> list[str]:
    """Copy the chosen recordings of ``source`` into ``out``, each cut to ``MAX_SECONDS``."""
    names = choose(sorted(p.name for p in source.glob("*.wav")))
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.wav"):
        if stale.name not in names:
            stale.unlink()
    for name in names:
        data, rate = sf.read(source / name, dtype="int16")  # [L] mono, exact 16-bit samples
        keep = round(MAX_SECONDS * rate)
        sf.write(out / name, data[:keep], rate, subtype="PCM_16", format="WAV")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a folder of FSDD {digit}_{speaker}_{take}.wav")
    parser.add_argument("--out", type=Path, default=OUT, help="where the sample goes")
    args = parser.parse_args()
    names = write_sample(args.source, args.out)
    size = sum((args.out / n).stat().st_size for n in names)
    print(f"{len(names)} recordings, {size / 1e6:.2f} MB in {args.out}")


if __name__ == "__main__":
    main()
