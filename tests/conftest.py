"""Suite-wide settings: one torch thread, so tiny models do not pay for thread contention on
two-core machines and timings of one test do not depend on the others."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
