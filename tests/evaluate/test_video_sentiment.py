"""Video sentiment end to end from raw clips: ``configs/video-sentiment.yaml`` trains on short
clips written here with PyAV (frames whose brightness, an audio tone whose pitch and a transcript
whose words all follow the clip's sentiment), then evaluates with the sentiment metrics (checked
against a hand computation from the predictions table), robustness and modality contribution;
the model must beat the constant predictor."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

av = pytest.importorskip("av")

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "video-sentiment.yaml"
WORDS = ["awful", "bad", "poor", "okay", "fine", "good", "great"]  # level -3 .. 3
RATE, FPS, FRAMES = 8000, 8, 8  # 1 s clips


def write_clip(path: Path, level: int, rng: np.random.Generator, *, audio: bool = True) -> None:
    """FRAMES lossless 16x16 frames at brightness 30 (level + 3) + 40 (+ noise), and 1 s of a
    tone at 200 + 100 (level + 3) Hz (+ noise), 16-bit mono."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("ffv1", rate=FPS)
        video.width, video.height, video.pix_fmt = 16, 16, "bgr0"
        sound = out.add_stream("pcm_s16le", rate=RATE, layout="mono") if audio else None
        for _ in range(FRAMES):
            level_px = 30 * (level + 3) + 40 + rng.integers(-10, 11, (16, 16, 3))
            rgb = np.clip(level_px, 0, 255).astype(np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            t = np.arange(RATE) / RATE
            wave = 0.4 * np.sin(2 * np.pi * (200 + 100 * (level + 3)) * t)
            wave += 0.02 * rng.standard_normal(RATE)
            pcm = (wave * 32767).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = RATE
            for packet in [*sound.encode(frame), *sound.encode()]:
                out.mux(packet)


def write_clips(folder: Path, per_level: int = 9) -> Path:
    """``per_level`` clips of each level -3 .. 3 (6 train, 1 val, the rest test), plus one
    clip without sound (a bad row); returns the manifest ``clips.csv``."""
    rng = np.random.default_rng(0)
    fillers = ["the", "film", "was", "really", "quite", "so", "honestly"]
    rows = []
    for level in range(-3, 4):
        for k in range(per_level):
            name = f"l{level + 3}_{k}.mkv"
            write_clip(folder / name, level, rng)
            words = [*rng.choice(fillers, 3), WORDS[level + 3], *rng.choice(fillers, 2)]
            split = "train" if k < 6 else "val" if k == 6 else "test"
            rows.append([name, split, name, " ".join(words), level])
    write_clip(folder / "mute.mkv", 1, rng, audio=False)
    rows.append(["mute", "train", "mute.mkv", "good", 1])
    with (folder / "clips.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "split", "clip", "transcript", "sentiment"])
        writer.writerows(rows)
    return folder / "clips.csv"


def hand_metrics(prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MMSA's sentiment metrics written out (see polymodal.evaluate.metrics.sentiment)."""
    nonzero = target != 0
    out = {
        "mae": float(np.abs(prediction - target).mean()),
        "pearson": float(np.corrcoef(prediction, target)[0, 1]),
        "acc2_nonneg": float(((prediction >= 0) == (target >= 0)).mean()),
        "f1_nonneg": f1_score(target >= 0, prediction >= 0, average="weighted"),
        "acc2_nonzero": float(((prediction > 0) == (target > 0))[nonzero].mean()),
        "f1_nonzero": f1_score(target[nonzero] > 0, prediction[nonzero] > 0, average="weighted"),
    }
    for name, bound in (("acc5", 2.0), ("acc7", 3.0)):
        p, t = (np.round(np.clip(x, -bound, bound)) for x in (prediction, target))
        out[name] = float((p == t).mean())
    return out


@pytest.mark.slow
def test_video_sentiment_trains_from_raw_clips_and_beats_a_constant(tmp_path: Path) -> None:
    from polymodal.config import load_config
    from polymodal.evaluate.run import EvaluationOptions, evaluate_run
    from polymodal.train.run import train

    manifest = write_clips(tmp_path)
    overrides = [
        f"data.path={manifest}",
        "data.bad_rows=skip",
        f"data.derived_cache={tmp_path / 'derived'}",
        "data.modalities.frames.num_frames=4",
        "data.modalities.frames.size=[16, 16]",
        f"data.modalities.audio.sample_rate={RATE}",
        "data.modalities.audio.n_mels=20",
        "model.encoders.frames.frame_encoder_params.num_blocks=2",
        "train.max_epochs=25",
    ]
    config = load_config(CONFIG, overrides)
    run = tmp_path / "run"
    train(config, run)
    skipped = [json.loads(line) for line in (run / "skipped.jsonl").read_text().splitlines()]
    assert [(s["id"], s["field"]) for s in skipped] == [("mute", "clip")]  # no audio track
    assert "no audio track" in skipped[0]["reason"]
    options = EvaluationOptions(robustness=True, contribution=True, resamples=0)
    result = evaluate_run(run, options=options)

    table = pd.read_parquet(run / "predictions.parquet")
    clean = table[table["perturbation"] == "none"]
    prediction = np.array([float(np.ravel(v)[0]) for v in clean["prediction"]])
    target = np.array([float(np.ravel(v)[0]) for v in clean["target"]])
    assert len(target) == 14  # 2 test clips per level
    saved = json.loads((run / "metrics.json").read_text())["metrics"]
    expected = hand_metrics(prediction, target)
    for name, value in expected.items():
        assert saved[name] == pytest.approx(value, abs=1e-6), name
    # a constant predictor (the training mean, 0 here) scores MAE = mean |target| = 12 / 7
    constant_mae = float(np.abs(target - 0.0).mean())
    assert constant_mae == pytest.approx(12 / 7)
    assert saved["mae"] < 0.6 * constant_mae
    assert saved["acc2_nonzero"] >= 0.75
    # robustness and contribution per modality, as for any run
    modalities = {"frames", "audio", "text"}
    contribution = result.payload["contribution"]
    assert {v["modality"] for v in contribution["values"]} == modalities
    shapley = sum(v["shapley"] for v in contribution["values"])
    keep_none = clean_mae = None
    for condition, rows in table.groupby("perturbation"):
        p = np.array([float(np.ravel(v)[0]) for v in rows["prediction"]])
        t = np.array([float(np.ravel(v)[0]) for v in rows["target"]])
        if condition == "keep:":
            keep_none = float(np.abs(p - t).mean())
        if condition == "keep:frames+audio+text":
            clean_mae = float(np.abs(p - t).mean())
    assert keep_none is not None
    assert clean_mae is not None
    assert shapley == pytest.approx(clean_mae - keep_none, abs=1e-5)  # Shapley efficiency
    curves = result.payload["robustness"]["curves"]
    assert {c["modality"] for c in curves} == modalities
    assert {c["kind"] for c in curves} == {"drop", "mask", "noise"}
