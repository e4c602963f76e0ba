"""One CPU thread for the export tests: the tiny models gain nothing from more, and on a
busy shared machine several threads per test only wait on each other."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
