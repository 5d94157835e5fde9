"""What a result was measured on: the device and the versions of everything that shapes its speed.

Timings from different GPUs, drivers or library versions are not comparable, so every result carries this.
"""

from __future__ import annotations

import platform
import re
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from base.measure.nvml import load_nvml, shutdown_nvml

_DEVICE = re.compile(r"(?P<kind>cpu|cuda)(?::(?P<index>\d+))?")


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device string; ``index`` is the ``N`` of ``cuda:N`` and None when the string has none."""

    kind: str
    index: int | None


def parse_device(device: str) -> DeviceSpec:
    """Accepts ``cpu``, ``cuda`` and ``cuda:N``; anything else is a ValueError."""
    match = _DEVICE.fullmatch(device)
    if match is None or (match["kind"] == "cpu" and match["index"] is not None):
        raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")
    index = match["index"]
    return DeviceSpec(kind=match["kind"], index=None if index is None else int(index))


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "cpu" or "cuda"
    name: str
    driver: str | None  # NVIDIA driver, None on cpu or without NVML
    python: str
    torch: str
    cuda_runtime: str | None  # the CUDA version torch was built for, None for a CPU build
    diffusers: str
    transformers: str
    onnxruntime: str
    onnxruntime_providers: tuple[str, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def _cpu_name() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine()


def _onnxruntime_version() -> str:
    # The CUDA build of onnxruntime is distributed under another name.
    for distribution in ("onnxruntime", "onnxruntime-gpu"):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    raise PackageNotFoundError("onnxruntime")


def _driver_version(nvml_module: object | None) -> str | None:
    nvml, _ = load_nvml(nvml_module)
    if nvml is None:
        return None
    try:
        return str(nvml.nvmlSystemGetDriverVersion())
    except nvml.NVMLError:
        return None
    finally:
        shutdown_nvml(nvml)


def probe_device(device: str, nvml_module: object | None = None) -> DeviceInfo:
    """Describe ``device`` (``cpu``, ``cuda`` or ``cuda:N``) and the software stack running on it."""
    # Imported here: processes that only receive a DeviceInfo (the validator's parent) need not load them.
    import onnxruntime
    import torch

    spec = parse_device(device)
    if spec.kind == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {device!r} requested but torch.cuda.is_available() is False "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
                "check the NVIDIA driver and that a CUDA build of torch is installed"
            )
        name = torch.cuda.get_device_name(spec.index or 0)
        driver = _driver_version(nvml_module)
    else:
        name = _cpu_name()
        driver = None
    return DeviceInfo(
        kind=spec.kind,
        name=name,
        driver=driver,
        python=platform.python_version(),
        torch=version("torch"),
        cuda_runtime=torch.version.cuda,
        diffusers=version("diffusers"),
        transformers=version("transformers"),
        onnxruntime=_onnxruntime_version(),
        onnxruntime_providers=tuple(onnxruntime.get_available_providers()),
    )
