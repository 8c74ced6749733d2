"""The ``polymodal`` command. Subcommands import heavy modules (torch, lightning) lazily.

Errors a user can act on exit with code 2 and one message (what, where, fix); ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer

app = typer.Typer(
    name="polymodal",
    help="Build, train and evaluate multimodal models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Built-in and registered datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
cache_app = typer.Typer(help="The feature cache of frozen encoders.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
from polymodal.cli.tasks import serve, tasks_app  # noqa: E402 (after the app it extends)

app.add_typer(tasks_app, name="tasks")
app.command("serve")(serve)

_STATE: dict[str, bool] = {"debug": False}


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _guard(body: Callable[[], Any]) -> Any:
    """Run a command body, turning errors into one message and an exit code."""
    from polymodal.errors import PolymodalError

    try:
        return body()
    except PolymodalError as exc:
        if _STATE["debug"]:
            raise
        _fail(str(exc), 2)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # a bug: say so in one line, the traceback is one flag away
        if _STATE["debug"]:
            raise
        _fail(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "run again with --debug for the traceback",
            1,
        )


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and libraries' messages."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Less console output."),
    plugin: Optional[list[str]] = typer.Option(
        None,
        "--plugin",
        help="Import this module first: its components register (repeatable; may also follow "
        "the subcommand). Installed packages' polymodal.plugins entry points load too.",
    ),
) -> None:
    _STATE["debug"] = debug
    _STATE["quiet"] = quiet
    _guard(lambda: _start(debug, quiet, plugin or []))


def _start(debug: bool, quiet: bool, plugins: list[str]) -> None:
    """What every command does first: console set-up, then installed and named plugins."""
    import logging

    from polymodal.console import log_to_stderr
    from polymodal.plugins import load_entry_points, load_plugins

    log_to_stderr(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    load_entry_points()
    load_plugins(plugins, where="--plugin")


@app.command()
def train(
    config: Path = typer.Argument(..., help="Experiment YAML file."),
    overrides: Optional[list[str]] = typer.Argument(None, help="dotted.key=value overrides."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory to write."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
) -> None:
    """Train an experiment into a run directory."""

    def body() -> None:
        from polymodal.config import load_config
        from polymodal.errors import PolymodalError
        from polymodal.rundir.layout import config_path

        cfg = load_config(config, overrides or [])
        run_dir = out or Path("runs") / (cfg.name or config.stem)
        # Lightning's ddp launcher re-runs this command in each worker: only rank 0 checks.
        is_worker = os.environ.get("LOCAL_RANK", "0") != "0"
        if config_path(run_dir).exists() and not resume and not is_worker:
            raise PolymodalError(
                "the run directory already holds a run",
                where=str(run_dir),
                fix="add --resume to continue it, or choose another --out",
            )
        from polymodal.train.run import train as run_training

        result = run_training(cfg, run_dir, resume=resume)
        typer.echo(
            f"trained {result.epochs_run} epochs in {result.train_seconds:.1f} s -> {run_dir}"
        )
        if result.best_metrics:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(result.best_metrics.items()))
            typer.echo(f"best epoch {result.best_epoch}: {shown}")

    _guard(body)


def _evaluate_target(
    run_dir: Path,
    task: str,
    out: Path | None,
    split: str | None,
    batch_size: int | None,
    names: list[str] | None,
    options: Any,
) -> tuple[dict[str, Any], Path]:
    """Evaluate a run directory, a predictions file or (``task == "retrieval"``) an embeddings
    file; the ``metrics.json`` payload and the folder of the report."""
    from polymodal.errors import PolymodalError

    target = out or run_dir.with_name(f"{run_dir.stem}-evaluation")
    if run_dir.is_file() and task == "retrieval":  # embeddings made elsewhere
        from polymodal.evaluate.embeddings import evaluate_embeddings

        payload = evaluate_embeddings(
            run_dir, target, resamples=options.resamples, seed=options.seed
        )
        return payload, target
    if run_dir.is_file():  # predictions made elsewhere: same numbers, same report
        from polymodal.evaluate.external import evaluate_predictions

        if task not in ("multiclass", "multilabel", "regression", "generation"):
            raise PolymodalError(
                f"unknown task {task!r}",
                fix="use multiclass, multilabel, regression, generation or retrieval",
            )
        payload = evaluate_predictions(run_dir, task, target, metrics=names, options=options)  # type: ignore[arg-type]
        return payload, target
    from polymodal.evaluate.run import evaluate_run

    result = evaluate_run(
        run_dir, split=split, metrics=names, batch_size=batch_size, options=options
    )
    return result.payload, run_dir


def _echo_evaluation(run_dir: Path, payload: dict[str, Any], report_dir: Path) -> None:
    """Print the metrics with their intervals, the notes and exclusions, and the report path."""
    typer.echo(f"{run_dir} [{payload['split']}, {payload['num_samples']} samples]")
    intervals = payload.get("intervals", {})
    for name, value in payload["metrics"].items():
        if isinstance(value, float):
            ci = intervals.get(name)
            band = f"  [{ci['low']:.4f}, {ci['high']:.4f}]" if ci else ""
            typer.echo(f"  {name:<20} {value:.4f}{band}")
    for name, note in payload.get("notes", {}).items():
        typer.echo(f"  note: {name}: {note}")
    checks = payload.get("checks", {})
    if checks.get("argmax_disagreements"):
        typer.echo(
            f"  note: {checks['argmax_disagreements']} predictions are not the arg-max of their "
            f"scores (first: id {checks['first_id']})"
        )
    for name, counts in payload.get("excluded", {}).items():
        dropped = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        if dropped:
            typer.echo(f"  excluded from {name}: {dropped}")
    from polymodal.rundir.layout import REPORT_FILE

    typer.echo(f"report: {report_dir / REPORT_FILE}")


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(
        ..., help="A run directory written by `polymodal train`, or a predictions file."
    ),
    split: Optional[str] = typer.Option(None, "--split", help="Split to evaluate (default: test)."),
    task: str = typer.Option(
        "multiclass",
        "--task",
        help="Task of a predictions file: multiclass|multilabel|regression|generation, or "
        "retrieval for an embeddings .npz (query, gallery, positives).",
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (files only)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    robustness: bool = typer.Option(False, "--robustness", help="Perturbation curves."),
    contribution: bool = typer.Option(False, "--contribution", help="Shapley / leave-one-out."),
    efficiency: bool = typer.Option(False, "--efficiency", help="Params, FLOPs, latency, memory."),
    resamples: int = typer.Option(
        1000, "--bootstrap", min=0, help="Bootstrap resamples (0: no CI)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of perturbations and bootstrap."),
    metric_names: Optional[str] = typer.Option(
        None, "--metrics", help="Comma-separated metrics, e.g. auroc,ece,top_k_accuracy."
    ),
    metric_options: Optional[list[str]] = typer.Option(
        None,
        "--metric-option",
        help="NAME.KEY=VALUE parameter of a chosen metric (k, bins, ties, absent_class, ...).",
    ),
) -> None:
    """Evaluate a trained run (or a predictions file made elsewhere): predictions table,
    metrics.json with intervals, report.md and plots."""

    def body() -> None:
        from polymodal.evaluate.metrics.table import chosen_metrics
        from polymodal.evaluate.run import EvaluationOptions

        if task == "generation":  # its own registry (bleu, chrf, ...), not the classifiers'
            from polymodal.evaluate.generation import chosen_generation_metrics as chosen_metrics
        names = chosen_metrics(metric_names, metric_options or [])
        options = EvaluationOptions(
            robustness=robustness,
            contribution=contribution,
            efficiency=efficiency,
            resamples=resamples,
            seed=seed,
        )
        payload, report_dir = _evaluate_target(
            run_dir, task, out, split, batch_size, names, options
        )
        _echo_evaluation(run_dir, payload, report_dir)

    _guard(body)


@app.command()
def bench(
    spec: Optional[Path] = typer.Argument(None, help="Benchmark YAML (default: built-in)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Benchmark directory."),
    rerun: bool = typer.Option(False, "--rerun", help="Run finished cells again."),
    lease: float = typer.Option(
        120.0, "--lease", min=5.0, help="Seconds without heartbeat before a running cell is re-run."
    ),
    store: Optional[str] = typer.Option(
        None, "--store", help="Results store URL (postgresql://...) shared by several machines."
    ),
    executor: str = typer.Option(
        "local", "--executor", help="What runs the cells: local (this process) or ray."
    ),
    address: Optional[str] = typer.Option(
        None, "--address", help="The Ray cluster (HOST:PORT, ray://..., auto) for --executor ray."
    ),
) -> None:
    """Run a benchmark (default: built-in) resumably, then write its leaderboard and reports.

    Finished cells are kept; an interrupted benchmark continues with the unfinished ones, and
    several processes can share one --out directory (several machines: one --store database
    and an --out folder they all reach).
    """

    def body() -> None:
        from polymodal.bench.cells import default_spec, load_spec
        from polymodal.bench.executors import make_executor
        from polymodal.bench.report import run_and_report

        runner = make_executor(executor, address)
        bench_spec = load_spec(spec) if spec is not None else default_spec()
        bench_dir = out or Path("runs") / (bench_spec.name or "bench")
        options = {"rerun": rerun, "lease_s": lease, "store": store, "executor": runner}
        result = run_and_report(bench_spec, bench_dir, **options)
        typer.echo(result.leaderboard_markdown)
        for kind, path in result.report_paths.items():
            typer.echo(f"report ({kind}): {path}")

    _guard(body)


@app.command()
def leaderboard(
    bench_dir: Path = typer.Argument(
        ..., help="A benchmark directory written by `polymodal bench`."
    ),
    output_format: str = typer.Option("md", "--format", "-f", help="md, csv or json."),
    reference: Optional[str] = typer.Option(
        None, "--reference", "-r", help="Compare every model with this one, not with the best."
    ),
) -> None:
    """Print a benchmark's leaderboard: models ranked per dataset, with seeds and significance."""

    def body() -> None:
        from polymodal.errors import PolymodalError

        if output_format not in ("md", "csv", "json"):
            raise PolymodalError(
                f"unknown format {output_format!r}", where="--format", fix="use md, csv or json"
            )
        from polymodal.bench.leaderboard import build_leaderboard

        board = build_leaderboard(bench_dir, **({"reference": reference} if reference else {}))
        render = {"md": board.to_markdown, "csv": board.to_csv, "json": board.to_json}
        text = render[output_format]()
        typer.echo(text, nl=False)

    _guard(body)


@app.command()
def report(
    path: Path = typer.Argument(..., help="A benchmark directory or a run directory."),
) -> None:
    """Write report.md and a self-contained report.html of a benchmark or an evaluated run."""

    def body() -> None:
        from polymodal.bench.report import write_report

        written = write_report(path)
        typer.echo(f"report (markdown): {written.markdown}")
        typer.echo(f"report (html): {written.html}")

    _guard(body)


@app.command()
def compare(
    run_a: Path = typer.Argument(..., help="An evaluated run directory (A)."),
    run_b: Path = typer.Argument(..., help="Another run evaluated on the same samples (B)."),
    resamples: int = typer.Option(2000, "--bootstrap", min=1, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Compare two evaluated runs sample by sample: differences, intervals, p-values."""

    def body() -> None:
        from polymodal.evaluate.compare import compare_runs

        typer.echo(compare_runs(run_a, run_b, resamples=resamples, seed=seed).to_markdown())

    _guard(body)


@datasets_app.command("list")
def datasets_list() -> None:
    """List registered datasets."""

    def body() -> None:
        from polymodal.registry import DATASETS

        for name in DATASETS.names():
            typer.echo(f"{name:<14} {DATASETS.entry(name).summary}")

    _guard(body)


@datasets_app.command("show")
def datasets_show(name: str = typer.Argument(..., help="Dataset name.")) -> None:
    """Describe a dataset and its parameters."""

    def body() -> None:
        from polymodal.cli.describe import describe_component

        typer.echo(describe_component("dataset", name))

    _guard(body)


@app.command()
def components(
    kind: Optional[str] = typer.Argument(
        None, help="encoder, interaction, fusion, head, dataset, metric, objective, preset"
    ),
    name: Optional[str] = typer.Argument(
        None, help="One component to describe; for a preset, its YAML."
    ),
) -> None:
    """List registered components and presets, all kinds or one; or describe one by name."""

    def body() -> None:
        from polymodal.cli.describe import list_components, show_component

        if kind is not None and name is not None:
            typer.echo(show_component(kind, name))
        else:
            typer.echo(list_components(kind))

    _guard(body)


@cache_app.command("info")
def cache_info(cache_dir: Path = typer.Argument(..., help="A feature cache folder.")) -> None:
    """List cached feature sets with their splits and sizes."""

    def body() -> None:
        from polymodal.cli.cache import cache_info as info

        typer.echo(info(cache_dir))

    _guard(body)


@cache_app.command("clear")
def cache_clear(
    cache_dir: Path = typer.Argument(..., help="A feature cache folder."),
    older_than: Optional[str] = typer.Option(None, "--older-than", help="e.g. 7d, 12h, 30m."),
) -> None:
    """Remove cached feature sets (all, or those older than a duration)."""

    def body() -> None:
        from polymodal.cli.cache import cache_clear as clear

        removed = clear(cache_dir, older_than=older_than)
        typer.echo(f"removed {removed} cache entries from {cache_dir}")

    _guard(body)


def hoist_global_options(argv: list[str]) -> list[str]:
    """``argv`` with every ``--plugin NAME`` / ``--plugin=NAME`` moved before the subcommand,
    so the option works after it too (``polymodal train exp.yaml --plugin my_plugins``).
    Arguments after ``--`` are left alone."""
    end = argv.index("--") if "--" in argv else len(argv)
    hoisted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < end:
        arg = argv[i]
        if arg == "--plugin" and i + 1 < end:
            hoisted += argv[i : i + 2]
            i += 2
            continue
        (hoisted if arg.startswith("--plugin=") else rest).append(arg)
        i += 1
    return hoisted + rest + argv[end:]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = hoist_global_options(list(argv if argv is not None else sys.argv[1:]))
    app(args=args, prog_name="polymodal")


if __name__ == "__main__":  # pragma: no cover
    main()
