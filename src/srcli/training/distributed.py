"""Data-parallel training: process group from torchrun's environment, DDP, batch shards.

``torchrun --nproc-per-node N -m srcli train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. Each process:

* joins the group (``nccl`` when training on CUDA, ``gloo`` on the CPU), on CUDA uses
  ``cuda:LOCAL_RANK``;
* takes items ``[rank * B / N, (rank + 1) * B / N)`` of every global batch of ``B`` items
  (the global batch is the same plan list on every rank, so this is DistributedSampler's
  partition without its state);
* wraps the model in DistributedDataParallel, which averages gradients: with equal shards the
  update is the one of a single process on the global batch.

Rank 0 alone writes checkpoints, logs and the progress bar, and runs validation.
Without ``WORLD_SIZE`` (or with 1) everything here is a no-op.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch

from srcli.errors import UsageError


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group.

    Attributes:
        rank, world_size, local_rank: from torchrun's environment (0, 1, 0 when alone).
        backend: ``"gloo"``, ``"nccl"`` or None when not distributed.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        """True when there is more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the one that writes files)."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"environment variable {name} must be an integer, got {value!r}") from None


def init_from_env(device: torch.device, timeout_s: float = 1800.0) -> tuple[DistContext, torch.device]:
    """Join the process group torchrun describes (if any) and pick this rank's device.

    Args:
        device: the device the run asked for; ``cuda`` becomes ``cuda:LOCAL_RANK``.
        timeout_s: collective timeout.

    Returns:
        ``(context, device)``.
    """
    import torch.distributed as dist

    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistContext(), device
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if not dist.is_available():
        raise UsageError("this PyTorch build has no torch.distributed; run a single process")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=timeout_s))
    return DistContext(rank, world, local_rank, backend), device


def shard(global_batch: int, ctx: DistContext) -> tuple[int, int]:
    """``(first, count)`` of this rank's items in a global batch.

    Raises:
        UsageError: when the batch does not split evenly over the processes.
    """
    if global_batch % ctx.world_size:
        raise UsageError(f"--batch-size {global_batch} does not split over {ctx.world_size} processes; use a multiple")
    count = global_batch // ctx.world_size
    return ctx.rank * count, count


def wrap(module: torch.nn.Module, ctx: DistContext, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around ``module`` when distributed (rank 0's weights broadcast)."""
    if not ctx.active:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, output_device=device.index if ids else None)


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True when ``flag`` is true on any rank (every rank must call this)."""
    if not ctx.active:
        return flag
    import torch.distributed as dist

    value = torch.tensor([1.0 if flag else 0.0], device=_collective_device(ctx))
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def sum_tensor(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Element-wise sum of ``values`` over the ranks (a copy; the input is kept)."""
    if not ctx.active:
        return values.clone()
    import torch.distributed as dist

    out = values.detach().to(_collective_device(ctx)).clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(values.device)


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not ctx.active:
        return obj
    import torch.distributed as dist

    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier(ctx: DistContext) -> None:
    """Wait for every rank."""
    if ctx.active:
        import torch.distributed as dist

        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    """Leave the process group."""
    if ctx.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _collective_device(ctx: DistContext) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if ctx.backend == "nccl" else torch.device("cpu")
