"""One gloo all-reduce of PTB small's gradient (4.6 M float32) between torchrun processes:
what a step of ``bench_ddp.py``'s 2 × 1 setup pays for averaging gradients (issue 21).

    OMP_NUM_THREADS=1 torchrun --standalone --nproc-per-node 2 benchmarks/bench_allreduce.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.distributed as dist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=4_600_000)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    gradient = torch.randn(args.elements)
    for _ in range(3):
        dist.all_reduce(gradient)
    times = []
    for _ in range(args.calls):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(gradient)
        times.append(time.perf_counter() - start)
    if dist.get_rank() == 0:
        print(f"all_reduce of {args.elements:,} float32 ({args.elements * 4 / 1e6:.1f} MB), "
              f"{dist.get_world_size()} gloo processes: median "
              f"{statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
