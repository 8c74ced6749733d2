"""polymodal.models."""
