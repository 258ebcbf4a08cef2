"""The ``lsnn-bio`` command line.

Words mean one thing in every command: ``--engine`` is a Brian2 engine (``check --engines``
takes a list that may include the twin), ``--device`` a torch device for the twin.

Every foreseeable failure is one line on stderr, ``lsnn-bio COMMAND: what (where; accepted: ...)``,
and exit status 2; ``--debug`` adds the traceback. Ctrl-C is one line and status 130 (SIGTERM 143).
Output paths are checked before any simulation or training starts.
"""

import argparse
import json
import math
import os
import sys
import traceback
from pathlib import Path

from . import engines, progress
from ._version import __version__
from .errors import LsnnBioError
from .files import check_output_folder, check_writable

BRIAN_ENGINES = [*engines.BRIAN, *engines.ALIASES]


def _torch_device(args):
    """``--device``: where the twin runs; a Brian2 engine given here is the old spelling of ``--engine``."""
    device = args.device
    if device in BRIAN_ENGINES and args.command == "validate":
        raise LsnnBioError(
            f"--device {device}: --device is the torch device of the twin (cpu, cuda); "
            f"for a Brian2 engine use --engine {device}"
        )
    if device is not None and device.split(":")[0] not in engines.TORCH_DEVICES:
        raise LsnnBioError(f"--device {device}: not a torch device (accepted: {', '.join(engines.TORCH_DEVICES)})")
    return device


def _output_file(option, path, extensions):
    """An output file's extension and folder, checked before the work that fills it."""
    if path is None:
        return
    suffix = Path(path).suffix.lower()
    if suffix not in extensions:
        raise LsnnBioError(
            f"{option} {path}: unknown file type '{suffix or '(no extension)'}' (accepted: {', '.join(extensions)})"
        )
    check_writable(path)


def _output_folder(option, path):
    if path is not None:
        try:
            check_output_folder(path)
        except LsnnBioError as error:
            raise LsnnBioError(f"{option} {error}") from None


def _check(args):
    from .check import check

    _output_folder("--build-dir", args.build_dir)
    report = check(
        args.model,
        steps=args.steps,
        engines=engines.engine_list(args.engines),
        seed=args.seed,
        rate_hz=args.rate,
        directory=args.build_dir,
        log=sys.stderr,  # this call's stderr, not the one at import time
    )
    if args.json:
        print(json.dumps(report.as_json(), indent=None))
    else:
        print(report.as_text())
    return 0


def _train(args):
    from .training import load_experiment
    from .training.dispatch import trainer_class
    from .training.run_folder import RunFolder, resumed_experiment

    RunFolder(args.out, resume=args.resume, overwrite=args.overwrite)  # --out first: before the network is built
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    device = _torch_device(args)
    if args.resume:
        experiment = resumed_experiment(args.out, settings=args.set, document=args.experiment)
    elif args.experiment is None:
        raise LsnnBioError("no experiment document (accepted: e.g. training/store_recall.yaml, or --resume)")
    else:
        experiment = load_experiment(args.experiment, settings=args.set)
    trainer = trainer_class(experiment)(
        experiment,
        args.out,
        device=device,
        resume=args.resume,
        overwrite=args.overwrite,
        iterations=args.iterations,
        progress=not args.quiet,
    )
    summary = trainer.run()
    print(json.dumps(summary, indent=2))
    return 0


def _validate(args):
    from . import learning_to_learn
    from .validation import report_lines, validate

    device = _torch_device(args)
    _output_folder("--build-dir", args.build_dir)
    learns_to_learn = learning_to_learn.task_of(args.checkpoint) in learning_to_learn.TASKS
    report = (learning_to_learn.validate if learns_to_learn else validate)(
        args.checkpoint,
        engine=args.engine,
        split=args.split,
        trials=args.trials,
        directory=args.build_dir,
        log=sys.stderr,  # this call's stderr, not the one at import time
        progress=not args.json,
        device=device,
    )
    print(json.dumps(report) if args.json else "\n".join(report_lines(report)))
    return 0


def _simulate(args):
    from . import learning_to_learn
    from .simulation import simulate

    if args.device is not None:
        raise LsnnBioError(
            f"--device {args.device}: simulate runs no torch; for a Brian2 engine use --engine "
            f"{args.device if args.device in BRIAN_ENGINES else 'cpp_standalone'}"
        )
    from .neo import EXTENSIONS

    _output_file("--out", args.out, EXTENSIONS)
    _output_file("--raster", args.raster, (".png", ".pdf", ".svg"))
    _output_folder("--build-dir", args.build_dir)
    record = [v.strip() for v in args.record.split(",") if v.strip()] if args.record else []
    if learning_to_learn.task_of(args.checkpoint) in learning_to_learn.TASKS:
        simulate = learning_to_learn.simulate
    report = simulate(
        args.checkpoint,
        trials=args.trials,
        out=args.out,
        record=record,
        engine=args.engine,
        raster=args.raster,
        directory=args.build_dir,
        log=sys.stderr,  # this call's stderr, not the one at import time
        split=args.split,
    )
    print(json.dumps(report))
    return 0


def _compare(args):
    import warnings

    from .comparison import ComparisonError, PlausibilityWarning, compare

    _output_folder("--out", args.out)
    trials = None
    if args.trials == "all":
        trials = "all"
    elif args.trials is not None:
        try:
            trials = [int(t) for t in args.trials.split(",") if t.strip()]
        except ValueError:
            raise ComparisonError(
                f"--trials {args.trials!r}: not a list of segment indices (accepted: e.g. 0,3,5 or all)"
            ) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlausibilityWarning)  # printed below, one line each
        report = compare(args.simulated, args.recording, args.out, trials=trials, allow_pickle=args.allow_pickle)
    paths = {"simulated": args.simulated, "recording": args.recording}
    for side, lines in report["warnings"].items():
        for line in lines:
            print(f"lsnn-bio compare: warning: {side} {paths[side]}: {line}", file=sys.stderr)
    for caveat in report["caveats"]:
        print(f"lsnn-bio compare: caveat: {caveat}", file=sys.stderr)
    figures = sum(name.endswith(".png") for name in report["files"])
    print(f"wrote {args.out}/report.md, statistics.json and {figures} figures")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with its complaints as one line like every other error (and ``--help`` to say more)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _count(text):
    """A whole number >= 1 (iterations, trials, steps, threads)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (accepted: 1 or more)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a count (accepted: 1 or more)")
    return value


def _rate(text):
    """A finite positive rate in Hz."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of Hz (accepted: e.g. 20)") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a rate (accepted: a finite number of Hz > 0)")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed (accepted: a whole number >= 0)")
    return value


def parser():
    """The argument parser of every command (``lsnn-bio COMMAND --help``)."""
    main = _Parser(prog="lsnn-bio", description="Brian2 spiking networks trained through a PyTorch twin.")
    main.add_argument("--version", action="version", version=f"lsnn-bio {__version__}")
    main.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = main.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name, **kwargs):
        return commands.add_parser(name, parents=[common], **kwargs)

    check = command("check", help="run one random network through several engines and compare spikes")
    check.add_argument("model", help="network document, e.g. models/lsnn_smnist.yaml")
    check.add_argument("--steps", type=_count, default=2000, help="time steps to simulate (default 2000)")
    check.add_argument(
        "--engines", default="twin64,twin32,numpy,cpp_standalone", help=f"comma-separated: {', '.join(engines.ALL)}"
    )
    check.add_argument("--seed", type=_seed, default=0, help="seed for weights and inputs (default 0)")
    check.add_argument("--rate", type=_rate, default=20.0, help="Poisson input rate in Hz (default 20)")
    check.add_argument(
        "--build-dir",
        default=None,
        help="folder for standalone builds to keep (default: binaries from the cache, nothing kept)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(run=_check)

    train = command("train", help="train a network through its twin (BPTT, optional DEEP R)")
    train.add_argument(
        "experiment", nargs="?", help="experiment document, e.g. training/store_recall.yaml (not needed with --resume)"
    )
    train.add_argument("--out", required=True, help="run folder: checkpoint.safetensors, metrics.jsonl, summary.json")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its checkpoint, with the settings stored there",
    )
    train.add_argument(
        "--overwrite", action="store_true", help="replace the run in --out (kept until the new one has a checkpoint)"
    )
    train.add_argument("--device", default="cpu", help="torch device the twin trains on: cpu, cuda (default cpu)")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a document key, e.g. --set optimizer.learning_rate=0.005 (repeatable)",
    )
    train.add_argument("--iterations", type=_count, default=None, help="override the number of iterations")
    train.add_argument("--quiet", action="store_true", help="no progress output (bars or log lines)")
    train.add_argument(
        "--threads",
        type=_count,
        default=None,
        help="torch CPU threads (small networks train fastest with 1, leaving cores for other runs)",
    )
    train.set_defaults(run=_train)

    validate = command("validate", help="run a trained checkpoint in Brian2 and compare with the twin")
    validate.add_argument("checkpoint", help="a run folder or its checkpoint.safetensors")
    validate.add_argument(
        "--engine",
        default="cpp_standalone",
        choices=BRIAN_ENGINES,
        help="Brian2 engine (runtime = numpy); default cpp_standalone",
    )
    validate.add_argument("--device", default="cpu", help="torch device of the twin it is compared with (default cpu)")
    validate.add_argument(
        "--split",
        default="test",
        choices=["validation", "test"],
        help="held-out split to run (default test: the finished model, beside summary.json's test "
        "figure; use validation when the result feeds a decision)",
    )
    validate.add_argument(
        "--trials", type=_count, default=None, help="number of trials, from the split's start (default: all)"
    )
    validate.add_argument(
        "--build-dir",
        default=None,
        help="folder for the standalone build to keep (default: binary from the cache, nothing kept)",
    )
    validate.add_argument("--json", action="store_true", help="print one JSON object")
    validate.set_defaults(run=_validate)

    simulate = command("simulate", help="simulate held-out trials of a trained checkpoint in Brian2, write Neo")
    simulate.add_argument("checkpoint", help="a run folder or its checkpoint.safetensors")
    simulate.add_argument(
        "--trials", type=_count, required=True, help="number of trials to simulate, from the split's start"
    )
    simulate.add_argument(
        "--split", default="test", choices=["validation", "test"], help="held-out split (default test)"
    )
    simulate.add_argument("--record", default="", help="comma-separated variables to record, e.g. v,A,b")
    simulate.add_argument("--out", required=True, help="Neo file: .nix, .nwb, .pkl or .mat (chooses Neo's IO)")
    simulate.add_argument(
        "--engine",
        default="cpp_standalone",
        choices=BRIAN_ENGINES,
        help="Brian2 engine (runtime = numpy); default cpp_standalone",
    )
    simulate.add_argument("--device", default=None, help=argparse.SUPPRESS)  # the old spelling of --engine
    simulate.add_argument("--raster", default=None, help="also draw the first trial's raster to this PNG")
    simulate.add_argument("--quiet", action="store_true", help="no progress output (bars or log lines)")
    simulate.add_argument(
        "--build-dir",
        default=None,
        help="folder for the standalone build to keep (default: binary from the cache, nothing kept)",
    )
    simulate.set_defaults(run=_simulate)

    compare = command("compare", help="compare a simulated Neo file with a recording (Elephant statistics)")
    compare.add_argument("simulated", help="a Neo file, e.g. what simulate wrote (.nwb, .nix, .mat)")
    compare.add_argument("recording", help="any Neo-readable file with SpikeTrains (one Segment per trial)")
    compare.add_argument("--out", required=True, help="report folder: report.md, statistics.json, PNG figures")
    compare.add_argument(
        "--trials",
        default=None,
        metavar="LIST",
        help="segments to draw as rasters, e.g. 0,3,5 or all (default: the first three)",
    )
    compare.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also read .pkl files; unpickling runs any code in the file, so only for files you trust",
    )
    compare.set_defaults(run=_compare)
    return main


def main(argv=None):
    """Run one command; an error meant for people is one line on stderr and exit status 2, never a traceback."""
    # Before torch is imported (it reads this once): 2 MB pages for large tensors. A training iteration allocates
    # hundreds of MB afresh (outputs, their gradients); faulting them in 4 kB at a time cost up to 10 % of the time.
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    from .training.interrupts import Interrupted, Signals

    args = parser().parse_args(argv)
    try:
        with Signals(), progress.silenced(getattr(args, "quiet", False) or getattr(args, "json", False)):
            return args.run(args)
    except Interrupted as interrupt:  # SIGINT or SIGTERM
        return _fail(args, getattr(interrupt, "message", f"interrupted ({interrupt})"), interrupt.status)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130)
    except LsnnBioError as error:
        return _fail(args, str(error), 2)
    except MemoryError as error:
        return _fail(args, f"out of memory{f' ({error})' if str(error) else ''} (accepted: smaller sizes)", 2)
    except UnicodeDecodeError as error:
        return _fail(args, f"a file is not UTF-8 text ({error.reason} at byte {error.start})", 2)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        return _fail(args, f"{where}{error.strerror or error}", 2)
    except Exception as error:  # a bug: still one line, and the way to see more
        return _fail(
            args,
            f"unexpected {type(error).__name__}: {error} (a bug; rerun with --debug for the traceback and report it)",
            1,
        )


def _fail(args, message, status):
    if args.debug:
        traceback.print_exc()
    print(f"lsnn-bio {args.command}: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
