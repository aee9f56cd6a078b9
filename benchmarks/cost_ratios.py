"""Three prices of one compound-scaling point: the formula alpha * beta^2 * gamma^2, the counted
MACs of the phi = 1 model over the base's, and its measured training step time over the base's on
this device (what `tuner search --constraint formula|measured|step-time` compares with --target).
Step times are timed the way the search times them: base and candidate interleaved, median of the
pair ratios.

    python benchmarks/cost_ratios.py                               # the seed's six points, B0 at 32 px
    python benchmarks/cost_ratios.py --base b0 --resolution 64 --batch-size 64 --repeats 9
"""

from __future__ import annotations

import argparse
import time

from effnet_keras.models.scaling import compound_scale, cost_ratio
from effnet_keras.training import runtime
from effnet_keras.tuner.search import base_config, model_macs
from effnet_keras.tuner.space import parse_candidates
from effnet_keras.tuner.steptime import step_time_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="b0", help="variant or config JSON to scale")
    parser.add_argument("--resolution", type=int, default=32, help="base resolution (pixels)")
    parser.add_argument("--candidates", default="seed", help="'a,b,g;a,b,g;...' or 'seed' (the seed's six points)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="timed base/candidate pairs per point (median)")
    parser.add_argument("--jit-compile", default="auto", choices=runtime.JIT)
    args = parser.parse_args()

    base = base_config(args.base, args.resolution)
    jit = runtime.resolve_jit(args.jit_compile, runtime.accelerator())
    base_macs = model_macs(base, args.num_classes)
    print(f"base {args.base} at {args.resolution} px: {base_macs / 1e6:.1f} M MACs; batch {args.batch_size}, "
          f"{runtime.accelerator()}, XLA {'on' if jit else 'off'}, {args.repeats} pairs per point")
    rows = []
    for point in parse_candidates(args.candidates):
        config = compound_scale(*point, phi=1, base=base)
        start = time.perf_counter()
        steps = step_time_ratio(config, base, args.num_classes, args.batch_size, jit, repeats=args.repeats)
        rows.append((point, config["resolution"], cost_ratio(*point), model_macs(config, args.num_classes) / base_macs,
                     steps, time.perf_counter() - start))
    print("| alpha | beta | gamma | resolution | alpha*beta^2*gamma^2 | MAC ratio | step-time ratio | timing s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (a, b, g), resolution, formula, macs, steps, seconds in rows:
        print(f"| {a:g} | {b:g} | {g:g} | {resolution} | {formula:.3f} | {macs:.3f} | {steps:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
