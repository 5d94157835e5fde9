import json
import platform
from importlib.metadata import version
from types import SimpleNamespace

import onnxruntime
import pytest
import torch

from base.measure import DeviceSpec, parse_device, probe_device
from tests.support.nvml_standin import StandInNvml, StandInNVMLError


def test_cpu_probe_describes_this_machine() -> None:
    info = probe_device("cpu")
    assert info.kind == "cpu"
    assert info.name.strip()
    assert info.driver is None
    assert info.python == platform.python_version()
    assert info.torch == version("torch") == torch.__version__
    assert info.cuda_runtime == torch.version.cuda
    assert info.diffusers == version("diffusers")
    assert info.transformers == version("transformers")
    assert info.onnxruntime == version("onnxruntime")
    assert info.onnxruntime_providers == tuple(onnxruntime.get_available_providers())
    assert "CPUExecutionProvider" in info.onnxruntime_providers


def test_as_dict_is_json_ready() -> None:
    info = probe_device("cpu")
    data = info.as_dict()
    assert data["name"] == info.name
    assert set(data) == {
        "kind",
        "name",
        "driver",
        "python",
        "torch",
        "cuda_runtime",
        "diffusers",
        "transformers",
        "onnxruntime",
        "onnxruntime_providers",
    }
    assert json.loads(json.dumps(data))["onnxruntime_providers"] == list(info.onnxruntime_providers)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_a_clear_error(device: str) -> None:
    with pytest.raises(RuntimeError, match=r"torch\.cuda\.is_available\(\) is False"):
        probe_device(device)


def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    asked: list[int] = []

    def device_name(index: int) -> str:
        asked.append(index)
        return f"Stand-in GPU {index}"

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", device_name)
    return asked


def test_cuda_probe_names_the_device_and_reads_the_driver_from_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_cuda(monkeypatch)
    nvml = StandInNvml()
    info = probe_device("cuda:1", nvml_module=nvml)
    assert (info.kind, info.name, info.driver) == ("cuda", "Stand-in GPU 1", "550.54.15")
    assert asked == [1]
    assert nvml.initialized == 0


def test_cuda_probe_without_nvml_has_no_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cuda(monkeypatch)
    info = probe_device("cuda", nvml_module=StandInNvml(init_error=StandInNVMLError("no driver library")))
    assert (info.name, info.driver) == ("Stand-in GPU 0", None)


def test_cpu_probe_never_touches_nvml() -> None:
    untouchable = SimpleNamespace(NVMLError=StandInNVMLError)  # any NVML call would raise AttributeError
    assert probe_device("cpu", nvml_module=untouchable).driver is None


@pytest.mark.parametrize(
    ("device", "spec"),
    [("cpu", DeviceSpec("cpu", None)), ("cuda", DeviceSpec("cuda", None)), ("cuda:3", DeviceSpec("cuda", 3))],
)
def test_parse_device(device: str, spec: DeviceSpec) -> None:
    assert parse_device(device) == spec


@pytest.mark.parametrize("device", ["gpu", "CUDA", "cuda:x", "cuda:-1", "cpu:0", " cpu", ""])
def test_unknown_device_is_rejected(device: str) -> None:
    with pytest.raises(ValueError, match="unknown device"):
        probe_device(device)
