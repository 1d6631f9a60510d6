"""Training in several processes (``torchrun``): who this process is, its share of the data,
reductions of figures, and the DistributedDataParallel wrapper.

Everything here is ``torch.distributed`` as it is; a process that ``torchrun`` did not start
(no ``WORLD_SIZE`` in its environment) is rank 0 of a world of 1, and every function then
does what one process needs (nothing, or the identity), so the trainer and the tasks call
them unconditionally.

How N processes reproduce one process's updates: every process sees the same global batches
in the same order and takes a contiguous share of each (:func:`share`); each computes the
loss *sum* of its share divided by the *global* count, times N, because DDP averages the
gradients over the N processes (:func:`global_loss_weight`). The all-reduced gradient is
then the one process's gradient, up to the order of the float additions.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, NamedTuple, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

T = TypeVar("T")

TIMEOUT = timedelta(minutes=30)
"""How long a collective waits for the other processes (torch's default for gloo)."""


def launched() -> bool:
    """Whether a launcher (``torchrun``) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def restarted() -> bool:
    """Whether ``torchrun --max-restarts`` started this process again after a failure."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0


def active() -> bool:
    """Whether this process trains together with others (the process group is up)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when alone); before the group is up, the launcher's ``RANK``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """How many processes train together (1 when alone)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Whether this process is the one that writes (files, progress, summaries)."""
    return rank() == 0


def process_device(device: str | torch.device) -> torch.device:
    """The device this process trains on: under a launcher, ``cuda`` without an index means
    this process's own GPU, ``cuda:LOCAL_RANK`` (one process per device)."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and launched():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


@contextlib.contextmanager
def session(device: str | torch.device = "cpu") -> Iterator[None]:
    """Bring the process group up for the block when a launcher started this process and
    nobody has yet (NCCL for CUDA devices, else gloo), and down again after it."""
    if not launched() or dist.is_initialized():
        yield
        return
    device = process_device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _reduction_device() -> torch.device:
    """Where collectives take their tensors: the current GPU for NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def share(count: int) -> slice:
    """This process's contiguous share of ``count`` items (rows of a stream, examples of a
    global batch): ``count // N`` each, the first ``count % N`` processes one more. A
    process's share is empty when ``count < N``."""
    size, extra = divmod(count, world_size())
    own = rank()
    start = own * size + min(own, extra)
    return slice(start, start + size + (own < extra))


class Standin(NamedTuple):
    """A batch of another process's examples that a process with an empty share runs so that
    it takes part in the step (DDP needs every process's backward); its loss counts 0."""

    batch: Any


def share_batch(indices: Sequence[int], build: Callable[[Sequence[int]], T]) -> T | Standin:
    """The batch of this process's share of a global batch's ``indices`` (built by
    ``build``), or a :class:`Standin` of its first example when the share is empty."""
    own = indices[share(len(indices))]
    return build(own) if len(own) else Standin(build(indices[:1]))


def global_loss_weight(count: int, global_count: int) -> float:
    """What a process's *mean* loss over ``count`` items is multiplied by so that, after DDP
    averages the gradients over N processes, they are those of the loss mean over the
    ``global_count`` items of the global batch: ``loss_sum / global_count * N``."""
    return count * world_size() / global_count


def all_sum(values: Sequence[float]) -> list[float]:
    """``values`` summed over the processes (float64; themselves when alone)."""
    if not active():
        return [float(value) for value in values]
    tensor = torch.tensor(values, dtype=torch.float64, device=_reduction_device())
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_gather(value: T) -> list[T]:
    """Every process's ``value`` (picklable), in rank order; ``[value]`` when alone."""
    if not active():
        return [value]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def gather_shares(values: Sequence[T]) -> list[T]:
    """Every process's ``values`` (picklable) joined in rank order: the whole list, in its
    order, when each process holds its :func:`share` of it; ``list(values)`` when alone."""
    return [value for values_of_one in all_gather(list(values)) for value in values_of_one]


def on_main(function: Callable[[], T]) -> T | None:
    """Run ``function`` on the first process only, while the others wait; all raise if it
    failed (the first with its own error, the others with a RuntimeError saying so). Returns
    its result on the first process, None elsewhere."""
    if not active():
        return function()
    result, failure = None, None
    if is_main():
        try:
            result = function()
        except Exception as error:  # noqa: BLE001 - handed on to the other processes, raised
            failure = error
    message = [None if failure is None else f"{type(failure).__name__}: {failure}"]
    dist.broadcast_object_list(message, src=0)
    if failure is not None:
        raise failure
    if message[0] is not None:
        raise RuntimeError(f"the first process failed: {message[0]}")
    return result


def wrap(model: nn.Module, every_parameter_used: bool = False) -> nn.Module:
    """``model`` under DistributedDataParallel when training together, else itself.

    Unless ``every_parameter_used`` (every step's loss depends on every parameter), DDP
    looks for parameters a step left out (a task model's optional parts) and marks them
    ready instead of waiting for them, at the cost of a walk over the graph per step.
    Parameters are broadcast from the first process when wrapped, so all start alike.
    """
    if not active():
        return model
    device = next(model.parameters()).device
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids,
                                   find_unused_parameters=not every_parameter_used)


def cpu_copy(value: Any) -> Any:
    """``value`` (a tensor, or tuples, lists and dicts of them) with its tensors on the CPU, to
    gather or store."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, tuple | list):
        return type(value)(cpu_copy(part) for part in value)
    if isinstance(value, dict):
        return {key: cpu_copy(part) for key, part in value.items()}
    return value
