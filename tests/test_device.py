"""Tests for srcli.device: device/precision resolution and the fp32 fallback."""

import sys
import warnings

import pytest
import torch

from srcli import device as dm


def test_cpu_and_auto_resolve_here():
    assert dm.resolve_device("cpu").type == "cpu"
    assert dm.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("spec,match", [("gpu", "unknown device"), ("cuda:x", "unknown device")])
def test_bad_devices(spec, match):
    with pytest.raises(dm.DeviceError, match=match):
        dm.resolve_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_absent_is_clear():
    with pytest.raises(dm.DeviceError, match="no CUDA device"):
        dm.resolve_device("cuda")


def test_precision_rules_on_cpu():
    cpu = torch.device("cpu")
    assert dm.resolve_precision("fp32", cpu) == "fp32"
    assert dm.resolve_precision("bf16", cpu) == "bf16"
    assert dm.resolve_precision("auto", cpu) == ("bf16" if dm.cpu_has_fast_bf16() else "fp32")
    with pytest.raises(dm.DeviceError, match="fp16 is not supported on the CPU"):
        dm.resolve_precision("fp16", cpu)
    with pytest.raises(dm.DeviceError, match="unknown precision"):
        dm.resolve_precision("fp8", cpu)


def test_runtime_describe_and_threads():
    before = torch.get_num_threads()
    try:
        runtime = dm.make_runtime("cpu", "fp32", threads=1)
        assert runtime.describe() == {"device": "cpu", "precision": "fp32", "threads": 1}
    finally:
        torch.set_num_threads(before)
    with pytest.raises(dm.DeviceError, match="--threads"):
        dm.make_runtime("cpu", "fp32", threads=0)


def test_bf16_autocast_applies_to_matmul():
    runtime = dm.Runtime(torch.device("cpu"), "bf16", 1)
    with runtime.autocast():
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.bfloat16


def test_non_finite_low_precision_result_is_recomputed_in_fp32():
    calls = []

    def compute(rt):
        calls.append(rt.precision)
        return torch.tensor([float("nan")]) if rt.precision == "bf16" else torch.tensor([1.0])

    out, used = dm.run_with_fallback(dm.Runtime(torch.device("cpu"), "bf16", 1), compute)
    assert calls == ["bf16", "fp32"] and used.precision == "fp32" and out.item() == 1.0


def test_out_of_memory_detection_and_free_memory():
    assert dm.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate"))
    assert not dm.is_out_of_memory(RuntimeError("shape mismatch"))
    assert dm.free_memory_bytes(torch.device("cpu")) > 0


@pytest.mark.parametrize("v2,v1,expected", [
    (("max", "100"), None, None),  # v2 without a limit
    (("1000", "300"), None, 700),  # v2 limit
    (("1000", "1300"), None, 0),  # over the limit: nothing left
    (None, ("9223372036854771712", "5"), None),  # v1 "no limit"
    (None, ("2048", "48"), 2000),  # v1 limit
    (None, None, None),  # no controller
])
def test_cgroup_memory_left(tmp_path, monkeypatch, v2, v1, expected) -> None:
    files = []
    for name, values in (("v2", v2), ("v1", v1)):
        limit, usage = tmp_path / f"{name}.limit", tmp_path / f"{name}.usage"
        if values is not None:
            limit.write_text(values[0] + "\n")
            usage.write_text(values[1] + "\n")
        files.append((str(limit), str(usage)))
    monkeypatch.setattr(dm, "CGROUP_MEMORY_FILES", tuple(files))
    assert dm.cgroup_memory_left() == expected


def test_free_memory_is_capped_by_the_container_limit(monkeypatch) -> None:
    monkeypatch.setattr(dm, "cgroup_memory_left", lambda: 12345)
    assert dm.free_memory_bytes(torch.device("cpu")) == 12345
    monkeypatch.setattr(dm, "cgroup_memory_left", lambda: None)
    assert dm.free_memory_bytes(torch.device("cpu")) > 12345


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_takes_effect_on_linux_and_is_idempotent() -> None:
    import ctypes.util

    glibc = "libc.so" in (ctypes.util.find_library("c") or "libc.so.6")
    assert dm.keep_freed_memory() is glibc
    assert dm.keep_freed_memory() is glibc
    big = torch.ones(64 * 1024 * 1024 // 4)  # above glibc's mmap threshold ceiling
    assert float(big.sum()) == big.numel()


def _sine_layer(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(30.0 * x + 0.5) * torch.cos(x)


def test_compiled_or_eager_matches_eager_and_shares_parameters() -> None:
    layer = torch.nn.Linear(4, 3)
    run = dm.CompiledOrEager(layer, label="layer")
    x = torch.rand(5, 4)
    assert torch.allclose(run(x), layer(x), atol=1e-6) and run.fallback is None
    with torch.no_grad():
        layer.bias += 1.0  # the compiled call sees the module's own parameters
    assert torch.allclose(run(x), layer(x), atol=1e-6)


def test_compiled_or_eager_falls_back_once_when_the_backend_fails() -> None:
    def missing_compiler(graph, example_inputs):
        raise RuntimeError("No working C++ compiler found")

    run = dm.CompiledOrEager(_sine_layer, label="sine layer", backend=missing_compiler)
    x = torch.linspace(-1, 1, 7)
    with pytest.warns(RuntimeWarning, match=r"torch.compile failed for the sine layer \(.*No working C\+\+ compiler"):
        first = run(x)
    assert run.fallback and "No working C++ compiler" in run.fallback
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        assert torch.equal(first, _sine_layer(x)) and torch.equal(run(x), _sine_layer(x))


def test_compiled_or_eager_falls_back_when_the_backward_cannot_build() -> None:
    from torch._dynamo.backends.common import aot_autograd

    def broken_backward(graph, example_inputs):
        raise RuntimeError("no compiler for the backward")

    backend = aot_autograd(fw_compiler=lambda graph, example_inputs: graph, bw_compiler=broken_backward)
    layer = torch.nn.Linear(3, 2)
    run = dm.CompiledOrEager(layer, label="layer", backend=backend)
    x = torch.rand(4, 3)
    with pytest.warns(RuntimeWarning, match="no compiler for the backward"):
        out = run(x)
    out.sum().backward()  # the eager result, with an eager backward
    assert run.fallback and layer.weight.grad is not None


def test_compiled_or_eager_lets_errors_of_the_computation_through() -> None:
    run = dm.CompiledOrEager(torch.nn.Linear(4, 3))
    with pytest.raises(RuntimeError, match="shape|size|mat1"):
        run(torch.rand(5, 2))
    assert run.fallback is None


@pytest.mark.parametrize("mode,steps,side,autocast,expected", [
    ("auto", 3, 8, True, False), ("off", 3, 8, True, False), ("auto", 512, 128, True, True), ("auto", 512, 128, False, False),
    ("off", 512, 128, True, False), ("on", 3, 8, False, True),
])
def test_compile_mode_resolution(mode: str, steps: int, side: int, autocast: bool, expected: bool) -> None:
    """auto compiles bf16 CPU fits from dm.AUTO_COMPILE_WORK pixel evaluations (128 x 128 x 512 steps)."""
    assert dm.AUTO_COMPILE_WORK == 128 * 128 * 512
    assert dm.resolve_compile(mode, torch.device("cpu"), steps * side * side, autocast) is expected
    assert dm.resolve_compile(mode.upper(), torch.device("cpu"), steps * side * side, autocast) is expected
    assert dm.resolve_compile("auto", torch.device("mps"), 10**9, True) is False
    assert dm.resolve_compile("auto", torch.device("cuda"), 10**9, False) is True
    with pytest.raises(dm.DeviceError, match="unknown compile mode 'yes'"):
        dm.resolve_compile("yes", torch.device("cpu"), 1, True)
    with pytest.raises(dm.DeviceError, match="not supported on meta"):
        dm.resolve_compile("on", torch.device("meta"), 1, True)
