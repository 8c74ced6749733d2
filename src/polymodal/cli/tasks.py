"""``polymodal tasks list|show|run|compare|sensitivity`` and ``polymodal serve``.

Registered in :mod:`polymodal.cli.main` in one line each; heavy modules are imported inside the
commands.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer

tasks_app = typer.Typer(help="Evaluation tasks for models under test.", no_args_is_help=True)

_DIRS = typer.Option(None, "--tasks-dir", help="A folder of your own task files (repeatable).")


def _guard(body: Callable[[], Any]) -> Any:
    """Run a command body: an error a user can act on exits 2 with one message (the root
    command's ``--debug`` shows the traceback instead), an interruption 130."""
    import sys

    from polymodal.errors import PolymodalError

    # the root command's --debug, read from the running main module (importing it would loop)
    root = sys.modules.get("polymodal.cli.main")
    debug = bool(root is not None and getattr(root, "_STATE", {}).get("debug"))

    try:
        return body()
    except PolymodalError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(130) from None


@tasks_app.command("list")
def tasks_list(dirs: Optional[list[Path]] = _DIRS) -> None:
    """List the tasks found (built-in, $POLYMODAL_TASKS and --tasks-dir folders)."""

    def body() -> None:
        import yaml

        from polymodal.tasks.loading import list_tasks

        for name, path in list_tasks(dirs or []):
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            summary = str(raw.get("description", "")).strip().split(". ")[0]
            typer.echo(f"{name:<22} {summary}")

    _guard(body)


@tasks_app.command("show")
def tasks_show(
    name: str = typer.Argument(..., help="Task name or task file."),
    dirs: Optional[list[Path]] = _DIRS,
) -> None:
    """Validate a task and print its file, sha256 and text."""

    def body() -> None:
        from polymodal.tasks.loading import find_task

        task = find_task(name, dirs or [])
        typer.echo(f"# {task.path}\n# sha256 {task.sha256}")
        typer.echo(task.path.read_text(encoding="utf-8"), nl=False)

    _guard(body)


@tasks_app.command("run")
def tasks_run(
    name: str = typer.Argument(..., help="Task name or task file."),
    model: str = typer.Argument(..., help="Model spec: hf:FOLDER, clip:FOLDER, openai:URL, ..."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder of the results."),
    option: Optional[list[str]] = typer.Option(
        None, "--option", help="Adapter option KEY=VALUE (model=..., concurrency=4, cache=DIR)."
    ),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Seeded subset of samples."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    resamples: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed"),
    perturb: Optional[str] = typer.Option(
        None, "--perturb", help="drop_image (blind baseline), noise_image or mask_image."
    ),
    severity: float = typer.Option(1.0, "--severity", min=0.0, max=1.0),
    dirs: Optional[list[Path]] = _DIRS,
) -> None:
    """Evaluate a model on a task: predictions table, metrics with intervals, report."""

    def body() -> None:
        from polymodal.adapters import create_adapter, parse_options
        from polymodal.tasks import evaluate_task, find_task

        task = find_task(name, dirs or [])  # validated before the model is even loaded
        adapter = create_adapter(model, **parse_options(option or []))
        result = evaluate_task(task, adapter, out, limit=limit, batch_size=batch_size,
                               resamples=resamples, seed=seed, perturbation=perturb,
                               severity=severity)  # fmt: skip
        payload = result.payload
        typer.echo(f"{task.spec.name} [{payload['num_samples']} samples, sha256 "
                   f"{task.sha256[:12]}] {payload['method']}")  # fmt: skip
        for entry in payload["per_template"]:
            for metric, value in entry["metrics"].items():
                ci = entry["intervals"].get(metric)
                band = f"  [{ci['low']:.4f}, {ci['high']:.4f}]" if ci else ""
                typer.echo(f"  template {entry['template']}  {metric:<14} {value:.4f}{band}")
        typer.echo(f"  failed calls: {payload['failed']['count']}")
        typer.echo(f"results: {out}")

    _guard(body)


@tasks_app.command("compare")
def tasks_compare(
    a: Path = typer.Argument(..., help="Results folder of model A."),
    b: Path = typer.Argument(..., help="Results folder of model B (same task, same samples)."),
    template: int = typer.Option(0, "--template", min=0),
    resamples: int = typer.Option(2000, "--bootstrap", min=1),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Paired bootstrap test of every metric between two models on the same task."""

    def body() -> None:
        from polymodal.tasks import compare_results, comparison_markdown

        rows = compare_results(a, b, template=template, resamples=resamples, seed=seed)
        typer.echo(comparison_markdown(rows, a.name, b.name), nl=False)

    _guard(body)


@tasks_app.command("sensitivity")
def tasks_sensitivity(
    folders: list[Path] = typer.Argument(..., help="Results folders of models on one task."),
) -> None:
    """Spread of every metric over the task's templates, and whether the model ranking changes."""

    def body() -> None:
        from polymodal.tasks import ranking_sensitivity, read_result

        results = {f.name: read_result(f)[1] for f in folders}
        for metric, entry in ranking_sensitivity(results).items():
            typer.echo(f"{metric}: ranking {'changes' if entry['changes'] else 'stable'} "
                       "over templates")  # fmt: skip
            for model, s in entry["spread"].items():
                typer.echo(f"  {model:<20} mean {s['mean']:.4f}  std {s['std']:.4f}  "
                           f"range [{s['min']:.4f}, {s['max']:.4f}]")  # fmt: skip

    _guard(body)


def serve(
    model: str = typer.Argument(..., help="A generating model: a model folder, hf:..., a run."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=0, help="0: any free port (printed)."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name reported."),
    option: Optional[list[str]] = typer.Option(None, "--option", help="Adapter KEY=VALUE."),
) -> None:
    """Serve a generating model as an OpenAI-compatible chat-completions endpoint."""

    def body() -> None:
        from polymodal.adapters import create_adapter, parse_options
        from polymodal.serve import serve_forever

        adapter = create_adapter(model, **parse_options(option or []))

        def ready(url: str) -> None:
            typer.echo(f"serving {model} at {url}")
            import sys

            sys.stdout.flush()

        serve_forever(adapter, host, port, name or Path(model).name or "polymodal", ready)

    _guard(body)


@tasks_app.command("export")
def tasks_export(
    names: list[str] = typer.Argument(..., help="generate tasks (names or files)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder of the manifest and its images."),
    split: str = typer.Option("train", help="The split of every task's source."),
    limit: Optional[list[int]] = typer.Option(None, help="Seeded subset per task, in order."),
    blind_fraction: float = typer.Option(0.0, help="Share of image rows copied without it."),
    seed: int = typer.Option(0),
    dirs: Optional[list[Path]] = _DIRS,
) -> None:
    """Write a training manifest of tasks' records, rendered as the tasks prompt a model."""

    def body() -> None:
        from polymodal.tasks.export import export_manifest
        from polymodal.tasks.loading import find_task

        tasks = [find_task(n, dirs or []) for n in names]
        path = export_manifest(
            tasks, out, split=split, limits=limit or [], blind_fraction=blind_fraction, seed=seed
        )
        typer.echo(f"wrote {path}")

    _guard(body)
