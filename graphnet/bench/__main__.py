"""graphnet-bench: microbenchmarks of graphnet's kernels, layers and models.

    graphnet-bench gemm 512 512 512 [--ta] [--tb]
    graphnet-bench gemm --sizes 512,512,512 128,10,512 1024   (M,N,K per product; S: square)
    graphnet-bench conv 8 28 28 32 64 3 3 [--stride 1] [--padding same] [--sizes 1,8]
    graphnet-bench eltwise relu 1000000              (or --sizes 1000,1000000)
    graphnet-bench layer Dense --kwargs '{"units": 128}' --input-shape 32,784 [--sizes 1,32]
    graphnet-bench model mnist_mlp|mnist_cnn|PATH.graphnet|PATH.gnx [--sizes 1,128]
    graphnet-bench peak [--size 2048]

Timing is the bench/ scripts' method: warm-up calls, calls per repeat calibrated to last
at least --min-repeat-time, then the median (with min and max) over --repeat repeats,
every framework on --threads threads. Ratios are a baseline's median over graphnet's
(> 1: graphnet is faster). GFLOP/s count 2 per multiply-add of GEMMs and convolutions;
"% peak" is against --peak: GFLOP/s, or "auto" (the default): the FMA probe's reading on
--threads threads (csrc/peak.c), measured once per process. The peak command prints the
probe and times a large gn_sgemm against it.
"""
import argparse
import json
import os
import platform
import sys

import numpy as np


def _ints(text):
    try:
        return [int(v) for v in str(text).replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def _product(text):
    """One GEMM of --sizes: "M,N,K" (or "MxNxK"), or "S" for S x S x S."""
    dims = _ints(text)
    if len(dims) == 1:
        dims = dims * 3
    if len(dims) != 3 or min(dims) < 1:
        raise argparse.ArgumentTypeError(
            f"each product is M,N,K (three sizes >= 1) or one size S, got {text!r}")
    return tuple(dims)


def _peak(text):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--peak takes GFLOP/s or 'auto', got {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError("--peak must be positive")
    return value


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", type=int, default=2, help="threads for every framework "
                        "(default 2, as the bench/ scripts)")
    common.add_argument("--repeat", type=int, default=25, help="timed repeats (median)")
    common.add_argument("--warmup", type=int, default=5, help="untimed calls first")
    common.add_argument("--min-repeat-time", type=float, default=0.02,
                        help="seconds one repeat lasts at least (calls are batched)")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument("--peak", type=_peak, default="auto",
                        help="peak GFLOP/s for '%% peak', or 'auto' (default): the FMA probe's")
    common.add_argument("--no-compare", action="store_true",
                        help="time graphnet only (skip numpy, PyTorch, ONNX Runtime)")
    common.add_argument("--seed", type=int, default=0)

    parser = argparse.ArgumentParser(prog="graphnet-bench", description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("gemm", parents=[common], help="C = A @ B through gn_sgemm")
    p.add_argument("mnk", nargs="*", type=int, metavar="M N K")
    p.add_argument("--ta", action="store_true", help="A transposed")
    p.add_argument("--tb", action="store_true", help="B transposed")
    p.add_argument("--sizes", nargs="+", type=_product, default=None, metavar="M,N,K",
                   help="products to time, separated by spaces: each M,N,K (or MxNxK), or S "
                   "for S x S x S; e.g. --sizes 512,512,512 128,10,512 (default: 256 512 1024)")
    p = sub.add_parser("conv", parents=[common], help="2-D convolution (CONV op)")
    p.add_argument("dims", nargs="*", type=int, metavar="N H W C O KH KW")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--padding", default="same", choices=["same", "valid"])
    _add_batch_sizes(p)
    p = sub.add_parser("eltwise", parents=[common], help="an elementwise op")
    p.add_argument("op", help="op name, e.g. relu, add, tanh")
    p.add_argument("size", nargs="?", type=int, default=None)
    p.add_argument("--sizes", type=_ints, default=None,
                   help="comma-separated element counts to sweep, e.g. 1000,1000000")
    p = sub.add_parser("layer", parents=[common], help="one layer on a batch")
    p.add_argument("layer", help="layer class name, e.g. Dense, Conv2D")
    p.add_argument("--kwargs", default="{}", help="JSON object of constructor arguments")
    p.add_argument("--input-shape", type=_ints, required=True,
                   help="input shape with the batch first, e.g. 32,784")
    _add_batch_sizes(p)
    p = sub.add_parser("model", parents=[common], help="a whole model's predict")
    p.add_argument("model", help="mnist_mlp, mnist_cnn, or a .graphnet/.keras/.gnx file")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: 1 and 128)")
    _add_batch_sizes(p)
    p = sub.add_parser("peak", parents=[common],
                       help="peak FLOP/s probe (FMA chains), and a large gn_sgemm against it")
    p.add_argument("--size", type=int, default=2048, help="square GEMM size")
    p.add_argument("--sizes", type=_ints, default=None,
                   help="comma-separated square GEMM sizes to sweep instead of --size")
    return parser


def _add_batch_sizes(parser):
    parser.add_argument("--sizes", type=_ints, default=None,
                        help="comma-separated batch sizes to sweep, e.g. 1,128")


def _machine(threads, fw):
    import graphnet as gn
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {"graphnet": gn.__version__, "numpy": np.__version__}
    if fw.torch is not None:
        versions["torch"] = fw.torch.__version__
    if fw.ort is not None:
        versions["onnxruntime"] = fw.ort.__version__
    return {"cpu": cpu, "cores": os.cpu_count(), "isa": gn.isa(), "threads": threads,
            "numpy_threads": getattr(fw, "numpy_threads", "n/a"), "versions": versions}


def _cases(args, fw, rng):
    from . import cases as C
    cmd = args.command
    if cmd == "gemm":
        if args.mnk and len(args.mnk) != 3:
            raise SystemExit("gemm: give M N K (three sizes) or --sizes")
        if args.mnk and args.sizes:
            raise SystemExit("gemm: give M N K or --sizes, not both")
        sizes = [tuple(args.mnk)] if args.mnk else (args.sizes or
                                                    [(s, s, s) for s in (256, 512, 1024)])
        return [lambda m=m, n=n, k=k: C.gemm_case(m, n, k, args.ta, args.tb, fw, rng)
                for m, n, k in sizes]
    if cmd == "peak":
        return [lambda s=s: C.peak_case(s, fw, rng) for s in (args.sizes or [args.size])]
    if cmd == "eltwise":
        sizes = [args.size] if args.size else (args.sizes or [1 << 20])
        return [lambda s=s: C.eltwise_case(args.op, s, fw, rng) for s in sizes]
    if cmd == "conv":
        from ..ops import all_ops
        if "CONV" not in all_ops():
            raise SystemExit("conv: this graphnet has no convolution op yet")
        dims = args.dims or [8, 28, 28, 32, 64, 3, 3]
        if len(dims) != 7:
            raise SystemExit("conv: give N H W C O KH KW")
        n, h, w, c, o, kh, kw = dims
        batches = args.sizes or [n]
        return [lambda b=b: C.layer_case("Conv2D", {"filters": o, "kernel_size": [kh, kw],
                                                    "strides": args.stride,
                                                    "padding": args.padding},
                                         [b, h, w, c], fw, rng) for b in batches]
    if cmd == "layer":
        try:
            kwargs = json.loads(args.kwargs)
        except ValueError as exc:
            raise SystemExit(f"layer: --kwargs is not valid JSON: {exc}") from None
        if not isinstance(kwargs, dict):
            raise SystemExit("layer: --kwargs must be a JSON object")
        shapes = [args.input_shape]
        if args.sizes:
            shapes = [[b] + list(args.input_shape[1:]) for b in args.sizes]
        return [lambda s=s: C.layer_case(args.layer, kwargs, s, fw, rng) for s in shapes]
    if cmd == "model":
        spec = args.model
        batches = [args.batch] if args.batch else (args.sizes or [1, 128])
        if spec.endswith(".gnx"):
            explicit = batches if args.batch or args.sizes else None
            return [lambda case=case: case for case in C.compiled_cases(spec, explicit, rng)]
        if spec in ("mnist_mlp", "mnist_cnn"):
            model = getattr(C, spec)()
        elif os.path.isfile(spec):
            model = C.saved_model(spec)
        else:
            raise SystemExit(f"model: {spec!r} is neither mnist_mlp, mnist_cnn nor a file")
        twin = C.torch_twin(model, fw.torch) if fw.torch is not None else None
        return [lambda b=b: C.model_case(model, b, fw, rng, torch_model=twin)
                for b in batches]
    raise SystemExit(f"unknown command {cmd}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    import graphnet as gn
    from .cases import Frameworks
    from .timing import Progress, cached_fma_peak, table, to_json
    if args.threads < 1 or args.repeat < 1 or args.warmup < 0:
        raise SystemExit("--threads and --repeat must be >= 1, --warmup >= 0")
    gn.set_num_threads(args.threads)
    fw = Frameworks(args.threads, compare=not args.no_compare)
    rng = np.random.default_rng(args.seed)
    builders = _cases(args, fw, rng)
    progress = Progress(len(builders) + (args.peak == "auto"))
    rows = []
    try:
        peak, peak_source = args.peak, "given by --peak"
        if peak == "auto":
            progress.update("FMA probe")
            peak = cached_fma_peak()
            peak_source = (f"measured by the FMA probe ({gn.isa()}, {args.threads} "
                           f"thread(s), best of 7)")
            progress.step()
        for build in builders:
            progress.update("building")
            rows.append(build().run(args, progress))
            progress.step()
    finally:
        progress.close()
    machine = _machine(gn.get_num_threads(), fw)
    if args.json:
        print(to_json({"command": args.command, "machine": machine, "peak_gflops": peak,
                       "peak_source": peak_source, "missing": fw.missing, "rows": rows}))
        return 0
    v = ", ".join(f"{k} {x}" for k, x in machine["versions"].items())
    print(f"machine: {machine['cpu']}; {machine['cores']} cores; graphnet ISA {machine['isa']};"
          f" threads {machine['threads']} (numpy: {machine['numpy_threads']}); {v}")
    print(f"peak: {peak:,.1f} GFLOP/s, {peak_source}")
    if args.no_compare:
        print("comparisons skipped (--no-compare)")
    elif fw.missing:
        print(f"missing (pip install them to compare): {', '.join(fw.missing)}")
    print(f"\nmedian of {args.repeat} repeats after {args.warmup} warm-up calls; "
          "ratios > 1: graphnet is faster\n")
    print(table(rows, peak))
    notes = sorted({r["note"] for r in rows if r.get("note")})
    for note in notes:
        print(f"  note: {note}")
    if args.command == "peak":
        for r in rows:
            print(f"  {r['case']}: {r['gflops']:,.1f} GFLOP/s on {args.threads} thread(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
