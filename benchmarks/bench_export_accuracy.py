"""How far the ONNX export of a recurrent layer, run in onnxruntime (CPU, float32), lands from
the PyTorch eval forward, and how far each of the two lands from a float64 run of the layer.

For each variant and seed: the layer's initial weights are seeded and perturbed by N(0, 0.3²)
(so peephole weights and layer-norm gains matter), exported with
``rnnkit.export.layer_to_onnx``, and run on a batch of lengths ``5, 2, 4, 1, 3`` with random
``h_0``/``c_0``. Errors are the largest absolute difference over ``output``, ``h_n`` and
``c_n``, divided by ``max(1, largest |value|)`` of the float64 run (the tests' tolerance
rule). Prints a markdown table of the worst and median over the seeds.

    python benchmarks/bench_export_accuracy.py --seeds 30
"""

from __future__ import annotations

import argparse
import copy
import datetime
import platform

import numpy as np
import onnxruntime as ort
import torch

import rnnkit.nn as rn
from rnnkit.export import layer_to_onnx

I, H = 3, 4
LENGTHS = [5, 2, 4, 1, 3]
VARIANTS = {
    "lstm (operator)": lambda: rn.LSTM(I, H, num_layers=2, bidirectional=True),
    "gru (operator)": lambda: rn.GRU(I, H, num_layers=2, bidirectional=True),
    "lstm peephole hard_sigmoid (operator)": lambda: rn.LSTM(
        I, H, peephole=True, recurrent_activation="hard_sigmoid"),
    "lstm layer_norm (scan)": lambda: rn.LSTM(I, H, num_layers=2, bidirectional=True,
                                              layer_norm=True),
    "lstm layer_norm relu (scan)": lambda: rn.LSTM(I, H, layer_norm=True, activation="relu",
                                                   recurrent_activation="relu"),
    "lstm layer_norm linear (scan)": lambda: rn.LSTM(I, H, layer_norm=True,
                                                     activation="linear",
                                                     recurrent_activation="linear"),
    "lstm projection (scan)": lambda: rn.LSTM(I, H, num_layers=2, proj_size=2),
    "gru zoneout (scan)": lambda: rn.GRU(I, H, zoneout=0.25, bidirectional=True),
}


def errors(make, seed: int) -> tuple[float, float, float]:
    """(onnxruntime vs torch float32, onnxruntime vs float64, torch float32 vs float64)."""
    torch.manual_seed(seed)
    layer = make()
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape))
    layer.eval()
    wide = copy.deepcopy(layer).double()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(layer_to_onnx(layer).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    config, cell = layer.config, layer.config.cell
    states = config.num_layers * config.num_directions
    x = torch.randn(max(LENGTHS), len(LENGTHS), I)
    h_0 = torch.randn(states, len(LENGTHS), cell.output_size)
    c_0 = torch.randn(states, len(LENGTHS), cell.hidden_size)
    feeds = {"x": x.numpy(), "lengths": np.array(LENGTHS, dtype=np.int64), "h_0": h_0.numpy()}
    is_lstm = cell.kind == "lstm"
    if is_lstm:
        feeds["c_0"] = c_0.numpy()
    with torch.no_grad():
        single = layer(x, (h_0, c_0) if is_lstm else h_0, lengths=LENGTHS)
        double = wide(x.double(), (h_0.double(), c_0.double()) if is_lstm else h_0.double(),
                      lengths=LENGTHS)
    single = [single[0], *single[1]] if is_lstm else list(single)
    double = [double[0], *double[1]] if is_lstm else list(double)
    onnx_values = session.run(None, feeds)
    scale = max(1.0, max(float(v.abs().max()) for v in double))

    def worst(a, b):
        return max(float(np.abs(np.asarray(p, np.float64) - np.asarray(q, np.float64)).max())
                   for p, q in zip(a, b)) / scale

    single = [v.numpy() for v in single]
    double = [v.numpy() for v in double]
    return worst(onnx_values, single), worst(onnx_values, double), worst(single, double)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, torch "
          f"{torch.__version__}, onnxruntime {ort.__version__}, {args.seeds} seeds\n")
    print("| variant | ORT vs torch f32 (worst / median) | ORT vs f64 (worst) "
          "| torch f32 vs f64 (worst) |")
    print("|---|---:|---:|---:|")
    for name, make in VARIANTS.items():
        found = np.array([errors(make, seed) for seed in range(args.seeds)])
        print(f"| {name} | {found[:, 0].max():.1e} / {np.median(found[:, 0]):.1e} "
              f"| {found[:, 1].max():.1e} | {found[:, 2].max():.1e} |")


if __name__ == "__main__":
    main()
