"""polymodal.cli."""
