"""The torch device that device-sensitive tests train on: ``IQLZOO_TEST_DEVICE``, default ``cpu``.

CI has no GPU and runs them on the CPU. On a machine with one, ``IQLZOO_TEST_DEVICE=cuda python -m pytest
tests/test_training_core.py`` runs the same assertions on CUDA (docs/gpu.md says when this was last done).
"""

import os

TEST_DEVICE = os.environ.get("IQLZOO_TEST_DEVICE", "cpu")

#: Largest parameter difference allowed between two computations of the same updates in another summation order (K
#: seeds batched vs alone, compiled vs eager). On the CPU they agree to 1e-5; CUDA picks other kernels for batched
#: matmuls: on an H200 (2026-12-04) a stacked K=3 quantile-Huber + CVAE model was 4.3e-5 from its seeds alone after
#: 10 steps (tests/test_training_core.py), the same size as one Adam step of lr 3e-4 on a near-zero gradient.
PARITY_ATOL = 1e-5 if TEST_DEVICE == "cpu" else 1e-4
