"""benchmarks.gpu_check on the CPU (CI has no GPU): its drift measure tells a reordered computation from a wrong one,
its checks pass where nothing differs, and it refuses --device cuda without a GPU. docs/gpu.md has its GPU results."""

import json

import pytest
import torch

from benchmarks import gpu_check
from iqlzoo import IQL


@pytest.fixture(scope="module")
def small():
    return gpu_check.antmaze_shaped(3000, seed=3)


def test_drift_is_zero_for_equal_updates_and_large_for_a_missed_one(small):
    a = IQL("MlpPolicy", small, seed=0, device="cpu", compile=False, domain="antmaze", batch_size=64)
    start = gpu_check.parameters_of(a)
    b = gpu_check.twin(a, "cpu", batch_size=64)
    batches = gpu_check.shared_batches(small, 6, 64, seed=0)
    gpu_check.run_updates(a, batches)
    gpu_check.run_updates(b, batches)
    assert gpu_check.drift(b, a, start) == 0.0
    gpu_check.run_updates(b, batches[:1])  # one update too many: what a stale or repeated CUDA-graph input would do
    assert gpu_check.drift(b, a, start) > 10 * gpu_check.BOUNDS["cpu_parity"]


def test_checks_pass_on_the_cpu_and_the_report_is_written(small, tmp_path):
    checks = {
        "cpu_parity": gpu_check.check_cpu_parity(small, "cpu", 4, 64),
        "bf16_value_path": gpu_check.check_bf16_value_path(small, "cpu", 64),
        "checkpoint": gpu_check.check_checkpoint(small, "cpu", 4, 64),
    }
    assert checks["cpu_parity"]["value"] == 0.0 and checks["checkpoint"]["value"] == 0.0
    assert checks["bf16_value_path"]["value"] < gpu_check.BOUNDS["bf16_value_path"]
    assert checks["bf16_value_path"]["v_mean"] < -55.0  # the values really sit near −60
    result = {"machine": gpu_check.machine("cpu"), "checks": {}, "speed": {}}
    for name, value in checks.items():
        result["checks"][name] = {**value, "bound": gpu_check.BOUNDS[name], "passed": True}
    gpu_check.write(result, tmp_path)
    assert json.loads((tmp_path / "gpu_check.json").read_text())["checks"]["cpu_parity"]["value"] == 0.0
    assert "| cpu_parity | 0.00e+00 | 1e-02 | yes |" in (tmp_path / "gpu_check.md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_cuda_without_a_gpu_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["--device", "cuda"])
    assert exit_info.value.code == 2
    assert "--device cpu for a dry run" in capsys.readouterr().err
