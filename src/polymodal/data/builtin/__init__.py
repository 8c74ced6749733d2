"""polymodal.data.builtin."""
