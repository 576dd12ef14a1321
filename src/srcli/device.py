"""The device manager: device, threads and precision, chosen once per command.

Only tasks use this module; models follow the device and dtype of their inputs.
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

if TYPE_CHECKING:
    import torch

T = TypeVar("T")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
COMPILE_MODES = ("auto", "on", "off")
#: pixel evaluations (steps x pixels per step) from which ``resolve_compile("auto", ...)``
#: compiles: compiling costs about 5 s once per process and saves about 16 % of a bf16 CPU
#: step of a SIREN (README)
AUTO_COMPILE_WORK = 2**23


class DeviceError(ValueError):
    """A device or precision that cannot be used here."""


@dataclass(frozen=True)
class Runtime:
    """Where and how a command computes.

    Attributes:
        device: the torch device.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (autocast dtype; fp32 means none).
        threads: CPU threads torch uses.
    """

    device: "torch.device"
    precision: str
    threads: int

    @property
    def autocast_dtype(self) -> "torch.dtype | None":
        """The autocast dtype, or None for fp32."""
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for reports."""
        import torch

        name = str(self.device)
        if self.device.type == "cuda":
            name = f"{name} ({torch.cuda.get_device_name(self.device)})"
        return {"device": name, "precision": self.precision, "threads": self.threads}

    @contextlib.contextmanager
    def autocast(self, enabled: bool = True) -> Iterator[None]:
        """Autocast context for this runtime's precision (no-op for fp32)."""
        import torch

        dtype = self.autocast_dtype
        if dtype is None or not enabled:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=dtype):
            yield


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def resolve_device(spec: str = "auto") -> "torch.device":
    """Turn ``auto|cpu|cuda[:N]|mps`` into a device that exists here.

    Raises:
        DeviceError: when the device is unknown or absent.
    """
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", spec):
        raise DeviceError(f"unknown device {spec!r}; use auto, cpu or cuda[:N]")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was asked for but no CUDA device is available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{spec} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("MPS was asked for but is not available; use --device cpu")
    return device


def resolve_precision(precision: str, device: "torch.device") -> str:
    """Choose the compute precision.

    ``auto`` is bf16 on CUDA devices that support it (else fp16), bf16 on CPUs with native
    bf16 instructions, fp32 otherwise.

    Raises:
        DeviceError: unknown precision, or fp16 asked for on the CPU.
    """
    import torch

    precision = (precision or "auto").lower()
    if precision not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise DeviceError("fp16 is not supported on the CPU; use --precision bf16 or fp32")
    return precision


def make_runtime(device: str = "auto", precision: str = "auto", threads: int | None = None) -> Runtime:
    """Build the :class:`Runtime` of a command from its options.

    Args:
        device: ``auto|cpu|cuda[:N]``.
        precision: ``auto|fp32|bf16|fp16``.
        threads: CPU threads (None keeps torch's default).
    """
    import torch

    if threads is not None:
        if threads < 1:
            raise DeviceError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    return Runtime(dev, resolve_precision(precision, dev), torch.get_num_threads())


def has_non_finite(tensor: "torch.Tensor") -> bool:
    """True when ``tensor`` holds NaN or Inf."""
    import torch

    return not bool(torch.isfinite(tensor).all())


def run_with_fallback(runtime: Runtime, compute: Callable[[Runtime], "torch.Tensor"]) -> tuple["torch.Tensor", Runtime]:
    """Run ``compute`` in the runtime's precision; redo it in fp32 if the result is not finite.

    Returns:
        ``(result, runtime actually used)``.
    """
    result = compute(runtime)
    if runtime.precision != "fp32" and has_non_finite(result):
        fp32 = Runtime(runtime.device, "fp32", runtime.threads)
        return compute(fp32), fp32
    return result, runtime


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a CUDA (or CPU allocator) out-of-memory error."""
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


#: (limit, usage) files of a cgroup v2 and a cgroup v1 memory controller
CGROUP_MEMORY_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                       ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def cgroup_memory_left() -> int | None:
    """Bytes left under this process's cgroup memory limit (a container's), or None without one."""
    for limit_file, usage_file in CGROUP_MEMORY_FILES:
        try:
            with open(limit_file, encoding="ascii") as f:
                limit = f.read().strip()
            with open(usage_file, encoding="ascii") as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= 2**60:  # v1 writes "no limit" as a huge number
            return None
        return max(int(limit) - usage, 0)
    return None


def free_memory_bytes(device: "torch.device") -> int:
    """Free memory on ``device``: for the CPU, available RAM, or less under a container's limit."""
    import torch

    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    available = 4 * 1024**3
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    left = cgroup_memory_left()
    return available if left is None else min(available, left)


#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's allocator to reuse freed blocks instead of returning them to the OS.

    Large tensors (above 32 MB, glibc's ceiling for its mmap threshold) are otherwise
    mapped and unmapped at every allocation, and every training step pays the page
    faults of touching fresh memory again: about 30 % of a CPU LIIF step. Heap memory
    is then kept at its high-water mark, which is what a training loop reaches on its
    first steps anyway. Call it before the first large allocation; later calls (one per
    fit or training run) return the first call's answer without touching the allocator.

    Returns:
        True where the setting took effect (Linux with glibc), False elsewhere.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def compile_supported(device: "torch.device") -> bool:
    """True where ``torch.compile`` is worth trying: CPU and CUDA (the CPU backend also needs a C++ compiler,
    which :class:`CompiledOrEager` finds out on its first call)."""
    return device.type in ("cpu", "cuda")


def resolve_compile(mode: str, device: "torch.device", work: int, autocast: bool) -> bool:
    """Whether to compile a per-image fit: ``on``, ``off``, or ``auto``.

    ``auto`` compiles CUDA fits, and CPU fits in bf16/fp16 autocast (an fp32 CPU step
    gains nothing), of at least :data:`AUTO_COMPILE_WORK` pixel evaluations.

    Raises:
        DeviceError: an unknown mode, or ``on`` where compiling is not supported.
    """
    mode = str(mode).lower()
    if mode not in COMPILE_MODES:
        raise DeviceError(f"unknown compile mode {mode!r}; use one of {', '.join(COMPILE_MODES)}")
    if mode == "on" and not compile_supported(device):
        raise DeviceError(f"compiling is not supported on {device.type}; use compile off")
    worth_it = device.type == "cuda" or (device.type == "cpu" and autocast)
    return mode == "on" or (mode == "auto" and worth_it and work >= AUTO_COMPILE_WORK)


class CompiledOrEager:
    """``torch.compile(module)``, falling back to ``module`` itself if compiling fails.

    Compiling fuses the elementwise work around matrix products into one pass (for a
    SIREN: bias, frequency scale, sine and the casts of autocast). It needs a C++
    compiler on the CPU; where the backend cannot build (no compiler, unsupported
    platform) the first call warns once and every call runs eagerly. Errors of the
    computation itself propagate unchanged. Parameters are shared with ``module``.

    Attributes:
        fallback: None while compiled code runs; the reason once it fell back to eager.
    """

    def __init__(self, module: Callable[..., Any], *, label: str = "model", backend: str | Callable[..., Any] = "inductor") -> None:
        import torch

        self.module, self.label = module, label
        self.fallback: str | None = None
        try:
            self.compiled = torch.compile(module, backend=backend)
        except RuntimeError as exc:  # e.g. a Python version dynamo does not support
            self._fall_back(str(exc) or type(exc).__name__)

    def _fall_back(self, reason: str) -> None:
        self.fallback = reason
        warnings.warn(f"torch.compile failed for the {self.label} ({reason}); running it uncompiled", RuntimeWarning,
                      stacklevel=3)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch._functorch.config as functorch_config
        from torch._dynamo.exc import BackendCompilerFailed

        if self.fallback is None:
            try:  # the backward graph is built with the forward one, so a failure of either shows here
                with functorch_config.patch(force_non_lazy_backward_lowering=True):
                    return self.compiled(*args, **kwargs)
            except BackendCompilerFailed as exc:
                self._fall_back(_failure_reason(exc))
        return self.module(*args, **kwargs)


def _failure_reason(exc: BaseException) -> str:
    """The line of a backend failure that names the cause (dynamo's first line only names the backend)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    cause = next((line for line in lines if not line.startswith("backend=")), None)
    return cause or (lines[0] if lines else type(exc).__name__)
