"""Tests for srcli.registry: registration, creation, listing, checkpoints."""

import pytest
import torch

from srcli import registry
from srcli.registry import RegistryError


@registry.register("test-linear", task="upscale", family="test", description="a test model", default_args={"width": 3})
class _Linear(torch.nn.Module):
    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(width, width)


def test_create_uses_defaults_and_overrides():
    model = registry.create("test-linear")
    assert model.layer.in_features == 3 and model.spec == {"name": "test-linear", "args": {"width": 3}}
    model = registry.create({"name": "test-linear", "args": {"width": 5}})
    assert model.layer.in_features == 5 and model.spec["args"] == {"width": 5}


def test_unknown_model_lists_known_names():
    with pytest.raises(RegistryError, match="unknown model 'nope'.*test-linear"):
        registry.create("nope")


def test_bad_spec():
    with pytest.raises(RegistryError, match="spec is a dict"):
        registry.create({"args": {}})


def test_list_filters_by_pattern_and_task():
    names = [e.name for e in registry.list_models("test-*")]
    assert names == ["test-linear"]
    assert registry.list_models("test-*", task="points") == []


def test_checkpoint_round_trip_fp16(tmp_path):
    model = registry.create("test-linear", width=4)
    path = tmp_path / "m.pt"
    registry.save_checkpoint(path, model, {"steps": 7}, half=True)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == registry.CHECKPOINT_FORMAT and raw["state_dict"]["layer.weight"].dtype == torch.float16
    loaded, card = registry.load_checkpoint(path)
    assert card == {"steps": 7} and loaded.layer.weight.dtype == torch.float32
    assert torch.allclose(loaded.layer.weight, model.layer.weight, atol=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary left


def test_load_model_by_path_and_weights(tmp_path):
    model = registry.create("test-linear")
    path = tmp_path / "m.pt"
    registry.save_checkpoint(path, model)
    assert registry.load_model(str(path))[0].spec["name"] == "test-linear"
    assert registry.load_model("test-linear", weights=str(path))[0].spec["name"] == "test-linear"
    assert registry.load_model("", weights=str(path))[0].spec["name"] == "test-linear"  # the checkpoint's own model
    with pytest.raises(RegistryError, match="--model .*m.pt is a checkpoint and --weights .*m.pt another; give one"):
        registry.load_model(str(path), weights=str(path))


def test_load_matching_parameters_copies_only_matching_tensors(tmp_path):
    source = registry.create("test-linear", width=4)
    path = tmp_path / "m.pt"
    registry.save_checkpoint(path, source, {"steps": 12})
    target = registry.create("test-linear", width=4)
    torch.nn.init.zeros_(target.layer.weight)
    info = registry.load_matching_parameters(target, path)
    assert torch.equal(target.layer.weight, source.layer.weight) and torch.equal(target.layer.bias, source.layer.bias)
    assert info == {"from": str(path), "model": "test-linear", "loaded": 2, "kept": 0, "steps": 12}
    other = registry.create("test-linear", width=5)  # every shape differs
    with pytest.raises(registry.RegistryError, match="no parameter of .* matches the model by name and shape"):
        registry.load_matching_parameters(other, path)


def test_trainable_model_without_weights_is_refused():
    with pytest.raises(RegistryError, match="no shipped weights.*--weights"):
        registry.load_model("test-linear")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", None])
def test_bad_checkpoints(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save({"hello": 1}, path)
        match = "not a srcli checkpoint"
    else:
        path.write_bytes(content)
        match = "cannot read checkpoint" if not content else "is not a srcli checkpoint .PyTorch cannot read it"
    with pytest.raises(RegistryError, match=match):
        registry.load_checkpoint(path)
    with pytest.raises(RegistryError, match="not found"):
        registry.load_checkpoint(tmp_path / "missing.pt")


def test_truncated_checkpoint_is_named_so(tmp_path):
    path = tmp_path / "m.pt"
    registry.save_checkpoint(path, registry.create("test-linear"))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(RegistryError, match=r"cannot read checkpoint .*m.pt: the file is truncated or corrupt$"):
        registry.read_checkpoint(path)


def test_checkpoint_does_not_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": registry.CHECKPOINT_FORMAT, "x": Evil()}, path)
    with pytest.raises(RegistryError, match="is not a srcli checkpoint"):
        registry.read_checkpoint(path)
