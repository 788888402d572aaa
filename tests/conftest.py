import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
# the test networks are small: one thread avoids oversubscribing a 2-core CI machine
torch.set_num_threads(1)

DTYPES = [torch.float32, torch.float64]
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=(pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))
    ),
]


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)
