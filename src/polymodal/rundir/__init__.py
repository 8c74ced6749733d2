"""The run directory: its layout and loading a run back (layer 11 of docs/architecture.md).

- :mod:`polymodal.rundir.layout`: every file and folder name of a run directory (a leaf);
- :mod:`polymodal.rundir.codec`: the checkpoint files (safetensors weights + JSON state);
- :mod:`polymodal.rundir.load`: a run's config, data, best weights and evaluation split.

Nothing here imports Lightning or :mod:`polymodal.train`; this ``__init__`` imports nothing, so
reading a file name does not load torch.
"""
