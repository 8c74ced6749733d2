"""polymodal: build, train and evaluate multimodal models."""

__version__ = "0.1.0"

__all__ = ["__version__"]
