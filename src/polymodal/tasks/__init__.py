"""Evaluation tasks for models under test, declared in YAML files.

A task names its data (a registered source and split), one or more prompt templates with a
placeholder per field, the output type (generate, multiple choice, yes/no, ranking), the answer
extraction rule, the metrics and the generation settings (:mod:`polymodal.tasks.spec`). Every
problem of a task file is reported before any model is called. :func:`evaluate_task` asks a model
under test (:mod:`polymodal.adapters`) every sample and writes the predictions table (prompt, raw
output, extracted answer, score per sample), the metrics with intervals and the report; the task
file's sha256 is stored with every result. :func:`compare_results` runs paired tests between two
models; :mod:`polymodal.tasks.sensitivity` measures the spread over templates.
"""

from polymodal.tasks.compare import PairedRow, compare_results, comparison_markdown
from polymodal.tasks.extract import EXTRACTORS, extract, normalise
from polymodal.tasks.loading import (
    BUILTIN_DIR,
    LoadedTask,
    find_task,
    list_tasks,
    load_task_file,
    parse_task,
)
from polymodal.tasks.metrics import TaskMetric, task_metric
from polymodal.tasks.runner import TaskResult, evaluate_task, load_records, read_result
from polymodal.tasks.sensitivity import ranking_sensitivity, template_spread
from polymodal.tasks.sources import TASK_SOURCES, Record
from polymodal.tasks.spec import TaskSpec, task_problems

__all__ = [
    "BUILTIN_DIR",
    "EXTRACTORS",
    "TASK_SOURCES",
    "LoadedTask",
    "PairedRow",
    "Record",
    "TaskMetric",
    "TaskResult",
    "TaskSpec",
    "compare_results",
    "comparison_markdown",
    "evaluate_task",
    "extract",
    "find_task",
    "list_tasks",
    "load_records",
    "load_task_file",
    "normalise",
    "parse_task",
    "ranking_sensitivity",
    "read_result",
    "task_metric",
    "task_problems",
    "template_spread",
]
