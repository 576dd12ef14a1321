"""Model registry, model cards and self-describing checkpoints.

A model is registered under a short name with a factory (usually the ``nn.Module``
class) and metadata. ``create({"name": ..., "args": {...}})`` builds it. A checkpoint is
a plain dict ``{"format", "spec": {"name", "args"}, "state_dict", "card"}`` loaded with
``torch.load(weights_only=True)``, so it never runs code.

Model modules register themselves on import; ``_ensure_builtin_models`` imports the
built-in ones lazily so ``srcli --help`` does not pay for torch.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from srcli.io.atomic import atomic_torch_save

if TYPE_CHECKING:
    import torch

CHECKPOINT_FORMAT = "srcli-checkpoint/1"
WEIGHTS_DIR = Path(__file__).parent / "weights"

#: modules imported on first registry use; each registers its models
BUILTIN_MODEL_MODULES = (
    "srcli.models.classical",
    "srcli.models.liif",
    "srcli.models.aliif",
    "srcli.models.diinn",
    "srcli.models.siren",
    "srcli.models.points",
)


class RegistryError(LookupError):
    """Unknown model name, bad spec or unreadable checkpoint."""


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model name.

    Attributes:
        name: registry key, e.g. ``"liif"``.
        factory: callable building the module from keyword args.
        task: what it does: ``"upscale"``, ``"points"``, ``"fit"``.
        family: ``"classical"``, ``"liif"``, ...
        description: one line for ``srcli models``.
        default_args: the arguments ``create(name)`` uses.
        trainable: whether ``srcli train`` can train it.
    """

    name: str
    factory: Callable[..., Any]
    task: str
    family: str
    description: str
    default_args: dict[str, Any] = field(default_factory=dict)
    trainable: bool = True

    @property
    def weights_path(self) -> Path:
        """Where the shipped weights of this model live (may not exist)."""
        return WEIGHTS_DIR / f"{self.name}.pt"

    @property
    def has_weights(self) -> bool:
        """True when weights ship with the package (always true for parameter-free models)."""
        return not self.trainable or self.weights_path.is_file()


_REGISTRY: dict[str, ModelEntry] = {}
_loaded_builtins = False


def register(
    name: str,
    *,
    task: str,
    family: str,
    description: str,
    default_args: dict[str, Any] | None = None,
    trainable: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class/function decorator adding a model to the registry under ``name``."""

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise RegistryError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, factory, task, family, description, dict(default_args or {}), trainable)
        return factory

    return decorate


def _ensure_builtin_models() -> None:
    global _loaded_builtins
    if _loaded_builtins:
        return
    _loaded_builtins = True
    for module in BUILTIN_MODEL_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a model family not built yet
            if exc.name != module:
                raise


def get_entry(name: str) -> ModelEntry:
    """Return the registry entry for ``name``.

    Raises:
        RegistryError: naming the known models when ``name`` is unknown.
    """
    _ensure_builtin_models()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise RegistryError(f"unknown model {name!r}; known models: {known}") from None


def list_models(pattern: str | None = None, *, task: str | None = None) -> list[ModelEntry]:
    """Registered models, sorted by name, filtered by a glob ``pattern`` and ``task``."""
    _ensure_builtin_models()
    entries = sorted(_REGISTRY.values(), key=lambda e: e.name)
    if pattern:
        entries = [e for e in entries if fnmatch.fnmatch(e.name, pattern)]
    if task:
        entries = [e for e in entries if e.task == task]
    return entries


def create(spec: str | dict[str, Any], **overrides: Any) -> torch.nn.Module:
    """Build a model from a name or a ``{"name", "args"}`` spec (random weights).

    Args:
        spec: registry name or spec dict.
        **overrides: arguments replacing the spec's.
    """
    if isinstance(spec, str):
        spec = {"name": spec, "args": {}}
    if not isinstance(spec, dict) or "name" not in spec:
        raise RegistryError(f"a model spec is a dict with 'name' and 'args', got {spec!r}")
    entry = get_entry(spec["name"])
    args = {**entry.default_args, **dict(spec.get("args") or {}), **overrides}
    model = entry.factory(**args)
    model.spec = {"name": entry.name, "args": args}  # type: ignore[attr-defined]
    return model


def save_checkpoint(path: str | os.PathLike[str], model: torch.nn.Module, card: dict[str, Any] | None = None,
                    *, half: bool = False, extra: dict[str, Any] | None = None) -> None:
    """Write a self-describing checkpoint atomically.

    Args:
        path: destination file.
        model: a module built by :func:`create` (it carries ``.spec``).
        card: model card (data, steps, validation figures, ...); JSON-like values only.
        half: store floating tensors as fp16 (shipped weights).
        extra: further top-level entries (optimiser state, step, ...).
    """
    spec = getattr(model, "spec", None)
    if spec is None:
        raise RegistryError("model has no .spec; build it with srcli.registry.create")
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "spec": spec, "state_dict": state, "card": dict(card or {}), **(extra or {})}
    atomic_torch_save(payload, path)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint dict safely (``weights_only=True``), converting known foreign formats.

    Raises:
        RegistryError: when the file is missing, not a checkpoint, or of an unknown format.
    """
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RegistryError(f"checkpoint not found: {path}") from None
    except pickle.UnpicklingError:  # not a PyTorch file, or one that needs unsafe loading
        raise RegistryError(f"{path} is not a srcli checkpoint (PyTorch cannot read it as plain weights)") from None
    except Exception as exc:  # truncated zip, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "PytorchStreamReader" in reason or isinstance(exc, EOFError):
            reason = "the file is truncated or corrupt"
        raise RegistryError(f"cannot read checkpoint {path}: {reason}") from None
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        return payload
    if isinstance(payload, dict) and isinstance(payload.get("model"), dict) and "sd" in payload["model"]:
        from srcli.models.liif_official import convert_official_liif

        return convert_official_liif(payload)
    if isinstance(payload, dict) and isinstance(payload.get("format"), str):
        raise RegistryError(f"{path} is a {payload['format']} file, not a srcli checkpoint (a model or a --save-fit file)")
    raise RegistryError(f"{path} is not a srcli checkpoint nor an official LIIF checkpoint")


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build the model a checkpoint describes and load its weights (as fp32).

    Returns:
        ``(model in eval mode, card)``.
    """
    payload = read_checkpoint(path)
    model = create(payload["spec"])
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in payload["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise RegistryError(f"checkpoint {path} does not match model {payload['spec']['name']}: {str(exc).splitlines()[0]}") from None
    return model.eval(), dict(payload.get("card") or {})


def copy_matching_parameters(model: torch.nn.Module, payload: dict[str, Any], source: str) -> dict[str, Any]:
    """Copy into ``model`` every tensor of a read checkpoint whose name and shape match (fine-tuning starts).

    The encoders of LIIF, A-LIIF and DIINN share names and shapes, so a trained LIIF
    checkpoint starts the other two with a trained encoder and fresh decoders.

    Args:
        model: the model to initialise (tensors it has that the checkpoint lacks are kept).
        payload: a checkpoint dict from :func:`read_checkpoint`.
        source: where it came from (for the result and messages).

    Returns:
        ``{"from", "model", "loaded", "kept", "steps"}``: the source, its model name, the
        count of tensors copied and kept, and the training steps its card gives (or None).

    Raises:
        RegistryError: no tensor of the checkpoint fits ``model``.
    """
    import torch

    own = model.state_dict()
    matching = {k: v for k, v in payload["state_dict"].items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not matching:
        raise RegistryError(f"no parameter of {source} ({payload['spec']['name']}) matches the model by name and shape")
    with torch.no_grad():
        for name, value in matching.items():
            own[name].copy_(value.to(own[name].dtype))
    return {"from": source, "model": payload["spec"]["name"], "loaded": len(matching), "kept": len(own) - len(matching),
            "steps": (payload.get("card") or {}).get("steps")}


def load_matching_parameters(model: torch.nn.Module, path: str | os.PathLike[str]) -> dict[str, Any]:
    """:func:`copy_matching_parameters` from the checkpoint file at ``path``.

    Raises:
        RegistryError: unreadable checkpoint, or no tensor of it fits ``model``.
    """
    return copy_matching_parameters(model, read_checkpoint(path), str(path))


def _is_checkpoint_path(name_or_path: str) -> bool:
    return Path(name_or_path).suffix in {".pt", ".pth", ".ckpt"} or os.sep in name_or_path


def load_model(name_or_path: str, weights: str | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Resolve ``--model`` / ``--weights`` into a ready model.

    Args:
        name_or_path: a registry name or a checkpoint path; ``""`` with ``weights``: the
            checkpoint's own model.
        weights: optional checkpoint path overriding the shipped weights of a named model.

    Returns:
        ``(model in eval mode, card)``.

    Raises:
        RegistryError: unknown name, missing weights, or unreadable checkpoint.
    """
    if weights is not None:
        if _is_checkpoint_path(name_or_path):
            raise RegistryError(f"--model {name_or_path} is a checkpoint and --weights {weights} another; give one of them")
        model, card = load_checkpoint(weights)
        if name_or_path and not Path(name_or_path).suffix and model.spec["name"] != name_or_path:  # type: ignore[attr-defined]
            raise RegistryError(f"--weights {weights} holds a {model.spec['name']!r} model, not {name_or_path!r}")  # type: ignore[attr-defined]
        return model, card
    if _is_checkpoint_path(name_or_path):
        return load_checkpoint(name_or_path)
    entry = get_entry(name_or_path)
    if not entry.trainable:
        return create(entry.name).eval(), {"description": entry.description}
    if not entry.weights_path.is_file():
        raise RegistryError(
            f"model {entry.name!r} has no shipped weights yet; train it with `srcli train` and pass "
            f"--weights RUN_DIR/best.pt, or choose a classical model (--model bicubic)"
        )
    return load_checkpoint(entry.weights_path)
