"""Helpers of the export parity tests: onnxruntime sessions of exported graphs, and padded
batches of the shapes the tests run (none of them a shape the graphs were built for: the graphs
are written from the weights, never traced from a dummy input)."""

import numpy as np
import onnxruntime
import torch

TOLERANCE = 1e-5  # max abs difference, float32, issue 19
SHAPES = {
    "batch 1, length 1": [1],
    "batch 1, length 6": [6],
    "lengths all different, unsorted": [3, 6, 1, 4],
}
"""The lengths of each batch the parity tests run; the padded length is their maximum."""


def session(graph) -> onnxruntime.InferenceSession:
    """An onnxruntime session of one exported graph (a ``TaskGraph``), on one thread."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(graph.model.SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])


def run(graph, **inputs) -> dict[str, np.ndarray]:
    """The graph's outputs by name, for torch or numpy inputs."""
    feed = {name: value.numpy() if isinstance(value, torch.Tensor) else value
            for name, value in inputs.items()}
    names = graph.spec.output_names()
    return dict(zip(names, session(graph).run(names, feed)))


def padded_ids(lengths: list[int], vocab_size: int, generator: torch.Generator,
               low: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids ``(B, T)`` in ``[low, vocab_size)`` padded with 0 past each length, and the
    lengths ``(B,)`` int64."""
    ids = torch.randint(low, vocab_size, (len(lengths), max(lengths)), generator=generator)
    lengths_tensor = torch.tensor(lengths, dtype=torch.int64)
    ids[torch.arange(max(lengths)).unsqueeze(0) >= lengths_tensor.unsqueeze(1)] = 0
    return ids, lengths_tensor


def max_difference(exported: np.ndarray, reference: torch.Tensor) -> float:
    assert exported.shape == tuple(reference.shape), (exported.shape, tuple(reference.shape))
    return float(np.abs(exported - reference.detach().numpy()).max(initial=0.0))
