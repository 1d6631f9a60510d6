"""Where a layer's training step spends its time: torch's profiler over a few train steps
(forward + backward of ``output.sum()``), ops grouped by name and input shapes, sorted by their
own CPU time. The source of the "share of the step" figures in ``benchmarks/RESULTS.md``.
Profiled times include the profiler's own overhead (roughly +20–30 % on small ops).

    python benchmarks/profile_layer.py --cell lstm --flex --batch 32 --steps 200 --hidden 128
    python benchmarks/profile_layer.py --cell gru --batch 1 --steps 200 --hidden 512
"""

from __future__ import annotations

import argparse

import torch
from bench_layers import FLEX, OUR_LAYERS
from torch.profiler import ProfilerActivity, profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=sorted(OUR_LAYERS), default="lstm")
    parser.add_argument("--impl", default="bptt", choices=["auto", "native", "bptt", "reference"])
    parser.add_argument("--flex", action="store_true",
                        help="the flexible configuration: " + ", ".join(
                            f"{name}={value}" for name, value in FLEX.items()))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--calls", type=int, default=3, help="profiled train steps")
    parser.add_argument("--rows", type=int, default=25, help="rows of the table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    layer = OUR_LAYERS[args.cell](args.hidden, args.hidden, impl=args.impl,
                                  **(FLEX if args.flex else {}))
    x = torch.randn(args.steps, args.batch, args.hidden, requires_grad=True)

    def step():
        layer(x)[0].sum().backward()

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as profiler:
        for _ in range(args.calls):
            step()
    averages = profiler.key_averages(group_by_input_shape=True)
    print(averages.table(sort_by="self_cpu_time_total", row_limit=args.rows,
                         max_name_column_width=36, max_shapes_column_width=60))
    total = sum(event.self_cpu_time_total for event in averages) / args.calls / 1000
    print(f"self CPU time per train step under the profiler: {total:.1f} ms")


if __name__ == "__main__":
    main()
