"""CML's machine vocabulary on Kubernetes: a size is what the pod asks of a node; no network.

The table is terraform-provider-iterative's for Kubernetes (``task/k8s/resources/
resource_job.go``, and its older machine resource for the accelerator names): ``m`` is 8 cores
and 32 GB, ``+t4``/``+k80``/``+v100`` add ``nvidia.com/gpu`` counts (``l+v100``: 4). A size can
also be written out as TPI does, ``CORES-MEMORY_MB[+ACCELERATOR*COUNT]`` (``16-64000+nvidia-
tesla-a100*2``). CPU and memory become the pod's requests and limits (a Guaranteed pod: it gets
what it asked for and cannot starve its neighbours); GPUs go in the limits only, as the device
plugin wants. Prices are the cluster owner's business: there are none here.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from cmlinfra.errors import UsageError

GPU_RESOURCE = "nvidia.com/gpu"
# name -> (cores, memory MB, GPU, GPU count)
SIZES: dict[str, tuple[int, int, str | None, int]] = {
    "s": (1, 1000, None, 0),
    "m": (8, 32000, None, 0),
    "l": (32, 128000, None, 0),
    "xl": (64, 256000, None, 0),
    "m+t4": (4, 16000, "t4", 1),
    "m+k80": (4, 64000, "k80", 1),
    "l+k80": (32, 512000, "k80", 8),
    "xl+k80": (64, 768000, "k80", 16),
    "m+v100": (8, 64000, "v100", 1),
    "l+v100": (32, 256000, "v100", 4),
    "xl+v100": (64, 512000, "v100", 8),
}
GPU_ALIASES = {"tesla": "v100", "nogpu": None, "none": None, "": None}
# another GPU model with a plain size: TPI's custom accelerator, the v100 row's counts
CUSTOM_GPU_COUNTS = {"s": 1, "m": 1, "l": 4, "xl": 8}
RAW = re.compile(r"^(\d+)-(\d+)(?:\+([a-z0-9][a-z0-9._-]*)\*([1-9]\d*))?\Z")
MODEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,60}\Z")
MAX_HDD_GB = 65536


@dataclass(frozen=True)
class PodSize:
    """What the pod asks of a node."""

    name: str  # the size as written (m+v100, 8-32000)
    cpu: int
    memory_mb: int
    gpu: str | None  # the model (t4, v100, nvidia-tesla-a100); None: no GPU
    gpu_count: int

    @property
    def memory(self) -> str:
        return f"{self.memory_mb}M"  # decimal megabytes, as TPI writes them

    @property
    def memory_gib(self) -> float:
        return round(self.memory_mb * 1e6 / 2**30, 2)

    @property
    def accelerator(self) -> str | None:
        """The ``accelerator`` node label CML's ``accelerator=infer`` selects: TPI's
        ``nvidia-tesla-<model>`` for the models of its table, the model itself otherwise."""
        if self.gpu is None:
            return None
        return f"nvidia-tesla-{self.gpu}" if self.gpu in ("t4", "k80", "v100") else self.gpu


def _gpu(gpu: str | None) -> str | None:
    value = (gpu or "").strip().lower()
    if value in GPU_ALIASES:
        return GPU_ALIASES[value]
    if not MODEL.match(value):
        raise UsageError(
            f"--cloud-gpu {gpu!r} is not a GPU model", "use t4, k80, v100, or the node's model"
        )
    return value


def pod_size(cloud_type: str, gpu: str | None = None) -> PodSize:
    """``--cloud-type`` and ``--cloud-gpu`` → what the pod asks for; a one-line error else."""
    text = (cloud_type or "m").strip().lower()
    model = _gpu(gpu)
    if "+" in text and not RAW.match(text):
        base, _, text_gpu = text.partition("+")
        if model is not None and model != _gpu(text_gpu):
            raise UsageError(
                f"--cloud-type {cloud_type} and --cloud-gpu {gpu} name different GPUs",
                "give the GPU once",
            )
        text, model = base, _gpu(text_gpu)
    raw = RAW.match(text)
    if raw:
        cores, memory, accel, count = raw.groups()
        if int(cores) < 1 or int(memory) < 64:
            raise UsageError(
                f"--cloud-type {cloud_type} asks for too little", "give at least 1 core, 64 MB"
            )
        if accel is None and model is not None:
            accel, count = model, "1"
        return PodSize(text, int(cores), int(memory), accel, int(count or 0))
    key = f"{text}+{model}" if model else text
    if key in SIZES:
        cores, memory, card, count = SIZES[key]
        return PodSize(key, cores, memory, card, count)
    if text in SIZES and "+" not in text and model is not None:
        cores, memory, _, _ = SIZES[text]
        return PodSize(key, cores, memory, model, CUSTOM_GPU_COUNTS[text])
    close = difflib.get_close_matches(key, list(SIZES), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(
        f"--cloud-type {cloud_type!r} is not a Kubernetes size{hint}",
        f"use one of {', '.join(SIZES)}, or CORES-MEMORY_MB[+GPU*COUNT] such as 8-32000",
    )


def hdd_size(size_gb: int | None) -> int | None:
    """``--cloud-hdd-size``: the pod's ephemeral-storage (TPI's mapping); None leaves it out."""
    if size_gb is None:
        return None
    if not 1 <= size_gb <= MAX_HDD_GB:
        raise UsageError(
            f"--cloud-hdd-size {size_gb} is out of range", f"give 1 to {MAX_HDD_GB} (GB)"
        )
    return size_gb
