"""Command-line entry point ``robust-offload``.

Exit status: 0 ok, 1 a solver failed, 2 bad input (one line on stderr naming file, owner, field
and value) or an unwritable output, 3 some devices infeasible (the others still get a plan).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INFEASIBLE = 0, 1, 2, 3


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _add_policy_options(parser: argparse.ArgumentParser):
    from robust_offload.core.bounds import BOUNDS
    from robust_offload.core.policies import POLICIES
    from robust_offload.core.robust import DEFAULT_GAP_TOL, DEFAULT_MAX_NODES

    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--policy", default="robust", choices=POLICIES)
    parser.add_argument("--bound", default=None, choices=BOUNDS,
                        help="chance bound of the margins (default cantelli, the paper's; "
                             "evaluate: all of them)")
    parser.add_argument("--gap-tol", type=float, default=DEFAULT_GAP_TOL,
                        help="robust/worst-case: stop when (energy - bound) / energy <= this")
    parser.add_argument("--max-nodes", type=_positive_int, default=DEFAULT_MAX_NODES,
                        help="robust/worst-case: branch-and-bound node limit")
    parser.add_argument("--exhaustive-limit", type=int, default=None,
                        help="exhaustive: largest number of partition vectors to enumerate")
    parser.add_argument("--init-point", type=int, default=None,
                        help="pccp: initial partition point of every device (Algorithm 2)")


def _policy_options(args) -> dict:
    options = {"gap_tol": args.gap_tol, "max_nodes": args.max_nodes,
               "pccp": {"init_point": args.init_point}}
    if args.exhaustive_limit is not None:
        options["exhaustive_limit"] = args.exhaustive_limit
    return options


def _make_plan(args, scenario=None, bound=None):
    from robust_offload.core.policies import plan
    from robust_offload.core.scenario import load_scenario

    scenario = scenario or load_scenario(args.scenario)
    bound = bound or args.bound or "cantelli"
    return scenario, plan(scenario, args.policy, bound, **_policy_options(args))


def cmd_plan(args) -> int:
    _, result = _make_plan(args)
    print(result.table())
    if args.json:
        text = result.to_json()
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return EXIT_INFEASIBLE if result.status == "infeasible" else EXIT_OK


def cmd_evaluate(args) -> int:
    """Plan with each bound (or ``--bound``), then Monte Carlo every device under every
    distribution: energy, miss rate with its 95 % interval and verdict against eps."""
    from robust_offload.core.bounds import BOUNDS
    from robust_offload.core.montecarlo import violation_rates
    from robust_offload.core.policies import MARGINS
    from robust_offload.core.problem import build_problem
    from robust_offload.core.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    rows, status = [], EXIT_OK
    for bound in [args.bound] if args.bound else BOUNDS:
        _, result = _make_plan(args, scenario, bound)
        print(result.table() + "\n")
        status = EXIT_INFEASIBLE if result.status == "infeasible" else status
        rates = violation_rates(build_problem(scenario, MARGINS[args.policy], bound), result,
                                samples=args.samples, seed=args.seed)
        energy = {d.name: d.energy_j for d in result.devices}
        rows += [{"bound": bound, "device": r.name, "distribution": r.distribution,
                  "energy_j": energy[r.name], "risk": r.risk, "rate": r.rate,
                  "ci_low": r.ci_low, "ci_high": r.ci_high, "samples": r.samples,
                  "status": r.status} for r in rates]
    print(f"deadline-violation rate over {args.samples} samples (95 % CI), against eps:")
    print(f"{'bound':<10}{'device':<14}{'distribution':<12}{'E mJ':>8}{'eps':>8}{'rate':>10}"
          f"{'CI high':>10}  verdict")
    for r in rows:
        print(f"{r['bound']:<10}{r['device']:<14}{r['distribution']:<12}"
              f"{r['energy_j'] * 1e3:>8.2f}{r['risk']:>8.4f}{r['rate']:>10.5f}"
              f"{r['ci_high']:>10.5f}  {r['status']}")
    if args.csv:
        from robust_offload.analysis.tables import write_csv

        write_csv(args.csv, rows)
    return status


def cmd_reproduce(args) -> int:
    from robust_offload.research.reproduce import reproduce

    reproduce(Path(args.outdir), quick=args.quick, seeds=args.seeds)
    return EXIT_OK


def cmd_fleet(args) -> int:
    from robust_offload.core.scenario import read_yaml
    from robust_offload.orchestration.fleet import hosting
    from robust_offload.orchestration.runner import default_fleet_file, run_fleet

    out = Path(args.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    bag = Path(args.bag) if args.bag else out / f"bag-{stamp}"
    fleet_file = Path(args.config) if args.config else default_fleet_file()
    how = hosting(read_yaml(fleet_file), str(fleet_file),
                  {"hosts": args.hosts, "air_time": args.air_time, "discovery": args.discovery})
    if how["hosts"] == "netns":
        from robust_offload.orchestration.netns import NetnsError, require_root

        try:
            require_root()
        except NetnsError as err:
            print(f"robust-offload: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
    run_fleet(fleet_file, args.duration, bag, out, **how)
    if not args.no_analyze:
        return _analyze(bag, out / "analysis")
    return EXIT_OK


def _analyze(bag: Path, out: Path) -> int:
    from robust_offload.analysis.analyze import analyze_bag, format_breakdown, format_summary

    rows, parts, notes = analyze_bag(bag, out)
    for note in notes:
        print(note)
    print(format_summary(rows))
    print("\nlatency breakdown per partition point (ms):")
    print(format_breakdown(parts))
    print(f"plots and CSV in {out}")
    return EXIT_OK


def cmd_analyze(args) -> int:
    bag = Path(args.bag)
    return _analyze(bag, Path(args.out) if args.out else bag.parent / f"{bag.name}-analysis")


def cmd_profile(args) -> int:
    from robust_offload.research.profiling import run_profile

    name, entry, report = run_profile(
        args.model, args.device, args.repeats, args.warmup, args.freqs, args.dvfs,
        Path(args.output), Path(args.plot) if args.plot else None, args.name, args.codec,
        args.seed, args.weights, args.input_shape)
    print(f"profile '{name}' written to {args.output}")
    print(f"{'m':>3}{'d (MB)':>9}{'w (GFLOP)':>11}{'g':>10}{'v_loc ms2':>11}{'edge ms':>9}")
    for m, row in enumerate(zip(entry["output_mb"], entry["local_gflops"],
                                entry["flops_per_cycle"], entry["local_var_ms2"],
                                entry["edge_mean_ms"])):
        d, w, g, v, e = (0.0 if x is None else x for x in row)
        print(f"{m:>3}{d:>9.3f}{w:>11.4f}{g:>10.3f}{v:>11.3f}{e:>9.3f}")
    return EXIT_OK


def cmd_cuts(args) -> int:
    """The partition points of a model (input, kept cuts, output) with their sizes, work and
    the largest |split - unsplit| of the model output on a seeded random input."""
    from robust_offload.dnn.cuts import cuts_report, cuts_table

    report = cuts_report(args.model, args.weights, args.input_shape, args.max_cuts, args.cut,
                         args.seed)
    print(cuts_table(report))
    if args.json:
        text = json.dumps(report.as_json(), indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return EXIT_OK


def _add_model_options(parser: argparse.ArgumentParser):
    parser.add_argument("--weights", help="state_dict file (.pt, .pth, .safetensors) or a "
                                          "torchvision weights name found in the torch hub "
                                          "cache (IMAGENET1K_V1, DEFAULT); default random")
    parser.add_argument("--input-shape", type=_positive_int, nargs=3, metavar=("C", "H", "W"),
                        help="input shape (default: the weights' or the model's own)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robust-offload",
        description="Robust DNN partitioning, DVFS and bandwidth planning for robot fleets.")
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="plan a scenario and print the decisions")
    _add_policy_options(plan)
    plan.add_argument("--json", metavar="OUT", help="write the plan as JSON ('-' = stdout)")
    plan.set_defaults(func=cmd_plan)

    evaluate = sub.add_parser("evaluate", help="plan, then Monte Carlo the deadline misses")
    _add_policy_options(evaluate)
    evaluate.add_argument("--samples", type=_positive_int, default=100_000)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--csv", metavar="OUT", help="write the rates as CSV")
    evaluate.set_defaults(func=cmd_evaluate)

    reproduce = sub.add_parser("reproduce", help="regenerate the paper's Figs. 9-14")
    reproduce.add_argument("outdir")
    reproduce.add_argument("--quick", action="store_true",
                           help="fewer random fleets and points (a smoke run, minutes)")
    reproduce.add_argument("--seeds", type=int, default=None,
                           help="random fleets averaged per point")
    reproduce.set_defaults(func=cmd_reproduce)
    profile = sub.add_parser("profile", help="measure a split DNN's block times and write a "
                                             "planner profile (YAML) and its plots")
    profile.add_argument("--model", required=True,
                         help="alexnet | resnet152 | torchvision:<name> | <module>:<factory> "
                              "| <file>.pt2")
    _add_model_options(profile)
    profile.add_argument("--device", default="cpu", help="cpu | cuda")
    profile.add_argument("--repeats", type=_positive_int, default=500)
    profile.add_argument("--warmup", type=int, default=20)
    profile.add_argument("--freqs", type=float, nargs="*", default=None,
                         help="frequencies (GHz) to sweep; default: all the DVFS backend offers,"
                              " or the host's clock with --dvfs none")
    profile.add_argument("--dvfs", default="none",
                         choices=["none", "jetson-cpu", "jetson-gpu"],
                         help="backend that sets the sweep's frequencies (none: host clock)")
    profile.add_argument("--codec", default="float32", choices=["float32", "float16", "int8"],
                         help="element type that output_mb assumes")
    profile.add_argument("--name", help="profile name (default MODEL_DEVICE)")
    profile.add_argument("--output", required=True, help="profile YAML to write")
    profile.add_argument("--plot", help="PNG of the block times, mean and variance vs f")
    profile.add_argument("--seed", type=int, default=0)
    profile.set_defaults(func=cmd_profile)

    cuts = sub.add_parser("cuts", help="list a model's partition points: bytes per codec, "
                                       "GFLOPs per side, split vs unsplit difference")
    cuts.add_argument("model", metavar="REF",
                      help="alexnet | resnet152 | torchvision:<name> | <module>:<factory> | "
                           "<file>.pt2")
    _add_model_options(cuts)
    cuts.add_argument("--max-cuts", type=int, default=16,
                      help="graph-split models: most cuts kept (evenly spread in FLOPs)")
    cuts.add_argument("--cut", nargs="+", metavar="NAME",
                      help="graph-split models: use exactly these cuts")
    cuts.add_argument("--seed", type=int, default=0)
    cuts.add_argument("--json", metavar="OUT", help="write the points as JSON ('-' = stdout)")
    cuts.set_defaults(func=cmd_cuts)

    fleet = sub.add_parser("fleet", help="run the fleet's nodes as processes (no ros2 launch "
                                         "needed), then analyse the recorded bag")
    fleet.add_argument("--config", help="fleet description (default: config/fleet.yaml)")
    fleet.add_argument("--duration", type=float, default=60.0, help="seconds to run")
    fleet.add_argument("--bag", help="bag directory (default: OUT/bag-<time>)")
    fleet.add_argument("--out", default="out/fleet", help="logs, bag and analysis go here")
    fleet.add_argument("--no-analyze", action="store_true")
    fleet.add_argument("--hosts", choices=("local", "netns"),
                       help="local (default): every node a process of this host; netns: each "
                            "node on its own host (a network namespace, DDS over UDP across a "
                            "bridge; root). Options here win over the fleet file's "
                            "fleet.hosting")
    fleet.add_argument("--air-time", choices=("shaped", "modelled"),
                       help="with --hosts netns: shaped (default there): robots' links to the edge "
                            "limited to the FDMA rate with tc, the air time is network time; "
                            "modelled (the only one with --hosts local): the radio holds each "
                            "tensor for its air time")
    fleet.add_argument("--discovery", choices=("multicast", "server"),
                       help="multicast (default): DDS simple discovery; server: a Fast DDS "
                            "discovery server (its own host with --hosts netns) that every node "
                            "is pointed at (ROS_DISCOVERY_SERVER)")
    fleet.set_defaults(func=cmd_fleet)

    analyze = sub.add_parser("analyze", help="deadline misses, energy, decisions from a bag")
    analyze.add_argument("bag")
    analyze.add_argument("--out", help="output directory (default: BAG-analysis)")
    analyze.set_defaults(func=cmd_analyze)
    return parser


def main(argv=None) -> int:
    from robust_offload.core.policies import PolicyError
    from robust_offload.core.checks import InputError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, PolicyError) as err:
        print(f"robust-offload: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        print(f"robust-offload: error: {err.filename or ''}: {err.strerror or err}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as err:  # e.g. an unknown model, a clock that cannot be read
        print(f"robust-offload: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RuntimeError as err:  # a solver or hardware failure (ECOS, Jetson sysfs)
        print(f"robust-offload: error: {err}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
