"""Mixed precision must not corrupt IQL's values: with ``bf16=True`` the value path stays float32-accurate.

AntMaze values (r − 1, γ = 0.99) lie in [−100, 0]; bfloat16 rounds −60 to steps of 0.25, while the advantages that
AWR amplifies by exp(10·A) are of order 0.1. These tests put every value near −60 and compare one training step's
quantities under the quick budget's settings (AntMaze preset, ``bf16=True``) with the same weights in float32.
"""

import torch

from benchmarks.precision_check import compare, shift_values
from iqlzoo import IQL


def _step_quantities(model: IQL) -> dict[str, torch.Tensor]:
    model._setup_training(0)
    n = len(model.buffer.data)
    index = torch.arange(min(n, 256)).unsqueeze(0)
    return model._losses(*model.buffer.gather(index), None, None)


def test_bf16_step_keeps_values_advantages_and_weights_float32_accurate(antmaze_data):
    mixed = IQL("MlpPolicy", antmaze_data, seed=0, device="cpu", bf16=True, compile=False)
    exact = IQL("MlpPolicy", antmaze_data, seed=0, device="cpu", bf16=False, compile=False)
    assert mixed.config.domain == "antmaze" and mixed.config.temperature == 10.0
    shift_values(mixed, -60.0)
    exact.nets.load_state_dict(mixed.nets.state_dict())
    got, want = _step_quantities(mixed), _step_quantities(exact)
    assert want["v"].mean().item() < -55.0
    assert want["advantage"].abs().max().item() < 2.0  # small advantages, as near convergence
    for name in ("target_q", "v", "q", "td_target", "advantage"):
        error = (got[name] - want[name]).abs().max().item()
        assert error < 1e-3, f"{name} differs from float32 by {error:.4f} under bf16"
    relative = ((got["weights"] - want["weights"]) / want["weights"]).abs().max().item()
    assert relative < 1e-2, f"AWR weights differ from float32 by {relative:.3%} under bf16"


def test_bf16_still_runs_the_policy_in_bfloat16(antmaze_data):
    """The policy's training pass is the part bf16 accelerates: its loss differs (slightly) from float32."""
    mixed = IQL("MlpPolicy", antmaze_data, seed=0, device="cpu", bf16=True, compile=False)
    exact = IQL("MlpPolicy", antmaze_data, seed=0, device="cpu", bf16=False, compile=False)
    exact.nets.load_state_dict(mixed.nets.state_dict())
    got, want = _step_quantities(mixed), _step_quantities(exact)
    assert torch.equal(got["advantage"], want["advantage"])
    assert got["actor_loss"].item() != want["actor_loss"].item()
    assert abs(got["actor_loss"].item() - want["actor_loss"].item()) < 1e-2 * abs(want["actor_loss"].item()) + 1e-2


def test_precision_check_measures_the_bf16_value_path_error(antmaze_data):
    model = IQL("MlpPolicy", antmaze_data, seed=0, device="cpu", compile=False)
    shift_values(model, -60.0)
    found = compare(model, n=128)
    assert -61.0 < found["q_mean"] < -59.0
    assert found["q_err_mean"] > 0 and found["weight_relerr_max"] > 0  # bf16 really rounds the value networks
    assert all(value == value for value in found.values())  # no NaN
