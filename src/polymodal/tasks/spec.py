"""The schema of an evaluation task file, and every check made before any model is called.

A task file (YAML) names::

    name: easy-vqa
    data: {source: easy_vqa, split: test, limit: 500, seed: 0, params: {}}
    prompt:
      system: null                       # optional system message
      templates:                         # one or more paraphrases; {field} placeholders
        - "{image}Question: {question} Answer with one word."
    output: {type: generate, target: answer}
    extraction: normalised               # or {rule: regex, pattern: "..."}
    metrics: [vqa_accuracy, accuracy]
    generation: {max_new_tokens: 8, temperature: 0}
    few_shot: [{fields: {question: ..., image: shapes/1.png}, answer: red}]

Placeholders are the source's fields (an image field puts the image there), plus ``{choices}``
(lettered lines ``A. red``) and ``{choice_list}`` (``red, blue``) for multiple choice. Output types:
``generate`` (text, extracted and scored), ``multiple_choice`` (the choice the model scores
highest; ``choice_template`` fills each choice, ``{choice}``), ``yes_no`` (P(yes) from the
scores of ``positive`` and ``negative``, default ``yes`` and ``no``) and ``ranking`` (every
sample's ``candidates_field`` values form the gallery; ``candidate_template`` fills each,
``{candidate}``). A model that only generates answers
``multiple_choice`` and ``yes_no`` by generation and the extraction rule.

:func:`task_problems` finds every problem at once (unknown source, field, placeholder, metric or
extraction rule), each named by its YAML path.
"""

from __future__ import annotations

import string
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

OutputType = Literal["generate", "multiple_choice", "yes_no", "ranking"]
CHOICE_PLACEHOLDERS = ("choices", "choice_list")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSpec(_Strict):
    """The samples: a registered source with its parameters, a split, an optional seeded subset."""

    source: str
    params: dict[str, Any] = Field(default_factory=dict)
    split: str = "test"
    limit: int | None = Field(None, ge=1)
    seed: int = 0


class PromptSpec(_Strict):
    """The prompt: optional system message and one or more paraphrased templates."""

    system: str | None = None
    templates: list[str] = Field(min_length=1)


class OutputSpec(_Strict):
    """What the model produces and what it is scored against (``target``: a field)."""

    type: OutputType
    target: str
    choices: list[str] | None = None
    choices_field: str | None = None
    choice_template: str = "{choice}"
    candidates_field: str | None = None
    candidate_template: str = "{candidate}"
    positive: str = "yes"
    negative: str = "no"


class ExtractionSpec(_Strict):
    """A named extraction rule and its parameters."""

    rule: str = "normalised"
    params: dict[str, Any] = Field(default_factory=dict)


class GenerationSpec(_Strict):
    """Decoding settings (temperature 0: greedy)."""

    max_new_tokens: int = Field(32, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    stop: list[str] = Field(default_factory=list)


class FewShotExample(_Strict):
    """A solved example put before the question: field values (image paths relative to the
    task file) and the expected answer."""

    fields: dict[str, Any]
    answer: str


class TaskSpec(_Strict):
    """An evaluation task (see the module docstring)."""

    name: str = Field(min_length=1)
    description: str = ""
    data: DataSpec
    prompt: PromptSpec
    output: OutputSpec
    extraction: ExtractionSpec = Field(default_factory=ExtractionSpec)
    metrics: list[str] = Field(min_length=1)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    few_shot: list[FewShotExample] = Field(default_factory=list)
    batch_size: int = Field(8, ge=1)

    @pydantic.field_validator("extraction", mode="before")
    @classmethod
    def _rule_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"rule": value}
        if isinstance(value, dict) and "rule" in value and "params" not in value:
            return {
                "rule": value["rule"],
                "params": {k: v for k, v in value.items() if k != "rule"},
            }
        return value


def placeholders(template: str) -> list[str]:
    """The ``{name}`` placeholders of a template, in order (``{{`` escapes a brace).

    Raises:
        ValueError: the template's braces do not pair.
    """
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def _placeholder_problems(path: str, template: str, allowed: set[str]) -> list[str]:
    try:
        names = placeholders(template)
    except ValueError as exc:
        return [f"{path}: {exc} (write {{{{ and }}}} for literal braces)"]
    return [
        f"{path}: unknown placeholder {{{name}}} (allowed: {', '.join(sorted(allowed))})"
        for name in names
        if name not in allowed
    ]


def _output_problems(spec: TaskSpec, fields: dict[str, str]) -> list[str]:
    out = spec.output
    problems = []
    if out.target not in fields:
        problems.append(
            f"output.target: unknown field {out.target!r} (fields: {', '.join(sorted(fields))})"
        )
    if out.type == "multiple_choice":
        if (out.choices is None) == (out.choices_field is None):
            problems.append("output: multiple_choice needs exactly one of choices, choices_field")
        if out.choices_field is not None and out.choices_field not in fields:
            problems.append(f"output.choices_field: unknown field {out.choices_field!r}")
        problems += _placeholder_problems("output.choice_template", out.choice_template, {"choice"})
    if out.type == "ranking":
        if out.candidates_field is None or out.candidates_field not in fields:
            problems.append(
                f"output.candidates_field: ranking needs a field of the source "
                f"(fields: {', '.join(sorted(fields))})"
            )
        problems += _placeholder_problems(
            "output.candidate_template", out.candidate_template, {"candidate"}
        )
    return problems


def task_problems(spec: TaskSpec) -> list[str]:
    """Every problem of a parsed task, as ``yaml.path: message`` (empty when valid)."""
    from polymodal.tasks.extract import check_rule
    from polymodal.tasks.metrics import metric_problem
    from polymodal.tasks.sources import TASK_SOURCES, source_fields

    problems: list[str] = []
    if spec.data.source not in TASK_SOURCES:
        known = ", ".join(TASK_SOURCES.names())
        return [f"data.source: unknown source {spec.data.source!r} (allowed: {known})"]
    try:
        TASK_SOURCES.params_model(spec.data.source).model_validate(spec.data.params)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(map(str, err["loc"]))
            problems.append(f"data.params.{loc}: {err['msg']}")
    fields = source_fields(spec.data.source, spec.data.params.get("fields"))
    allowed = set(fields) | (
        set(CHOICE_PLACEHOLDERS) if spec.output.type == "multiple_choice" else set()
    )
    for i, template in enumerate(spec.prompt.templates):
        problems += _placeholder_problems(f"prompt.templates[{i}]", template, allowed)
    if spec.prompt.system:
        problems += _placeholder_problems("prompt.system", spec.prompt.system, set())
    problems += _output_problems(spec, fields)
    problems += [
        f"extraction: {p}" for p in check_rule(spec.extraction.rule, spec.extraction.params)
    ]
    for i, name in enumerate(spec.metrics):
        problem = metric_problem(name, spec.output.type)
        if problem:
            problems.append(f"metrics[{i}]: {problem}")
    used = {n for t in spec.prompt.templates for n in placeholders_or_empty(t)} & set(fields)
    for i, example in enumerate(spec.few_shot):
        missing = sorted(used - set(example.fields))
        if missing:
            problems.append(f"few_shot[{i}].fields: missing {', '.join(missing)}")
    return problems


def placeholders_or_empty(template: str) -> list[str]:
    """:func:`placeholders`, or ``[]`` for a template whose braces do not pair (reported apart)."""
    try:
        return placeholders(template)
    except ValueError:
        return []
