"""Models under test behind one interface: registered adapters that answer chat requests.

``hf`` (Hugging Face vision-language models), ``clip`` (CLIP-style dual encoders), ``openai``
(an OpenAI-compatible chat-completions endpoint, cached and retried), ``run`` (a generating
polymodal run directory, :mod:`polymodal.adapters.run`). See :mod:`polymodal.adapters.base`
for the contract.
"""

from polymodal.adapters.base import (
    ADAPTERS,
    CAPABILITIES,
    Adapter,
    AdapterError,
    Generation,
    GenerationSettings,
    ImageInput,
    Message,
    Request,
    create_adapter,
    parse_options,
    resolve_spec,
)

__all__ = [
    "ADAPTERS",
    "CAPABILITIES",
    "Adapter",
    "AdapterError",
    "Generation",
    "GenerationSettings",
    "ImageInput",
    "Message",
    "Request",
    "create_adapter",
    "parse_options",
    "resolve_spec",
]
