"""One training lineage that every working period, on any machine, continues.

    python -m training.lineage convert --checkpoint ../shared/training/last.pt   # start from a train.py run
    python -m training.lineage init --model models/tinyssd_voc.safetensors       # or from an exported model
    python -m training.lineage train --for-minutes 120                           # or --until 23:40
    python -m training.lineage finish                                            # stop, cool, evaluate, ship, record
    python -m training.lineage status
    python -m training.lineage branch --out runs/ab/b.safetensors --name head-bn --head-batch-norm  # A/B
    python -m training.lineage branch --out runs/ab/d.safetensors --name repeat-factor --repeat-factor-threshold 0.15
    python -m training.lineage --state runs/ab/b.safetensors train --for-images 40000

`train` continues training/state/lineage.safetensors at the schedule's constant peak rate
until its deadline or SIGTERM/SIGINT, saving every few minutes and on exit; by default as two
single-thread data-parallel ranks sharing each batch (`--ranks 1`: one process; ranks.py),
this process being rank 0, the one that saves (trainer.py; pid file and signals: process.py). `finish` stops
a running `train` (it saves), runs a cooldown branch from a copy of the state (the lineage
itself stays un-cooled), exports the branch's weights and EMA as candidates, scores them and
the shipped model with `tinyssd eval` on the JPEG files, ships a candidate only if it beats
the shipped model, and adds the period's row to training/state/record.csv.
`training/lineage.sh start|stop|finish|status` wraps these for everyday use.
"""
import argparse
import datetime
import math
import os
import sys
import time
from pathlib import Path

import torch

from ..data.voc import ImageCache, train_val_records
from ..engine.optimise import calibration_batches
from ..engine.schedule import cooldown_lr
from ..net.bn_calibration import model_from_file
from ..net.model import TinySSD
from ..net.model_io import read_model_file, save_model_file
from ..paths import DEFAULT_DATA_ROOT, LINEAGE_WORK_DIR, SHIPPED_MODEL, TINYSSD_BINARY, VAL_SPLIT_PATH
from .branch import REPEAT_FACTOR_THRESHOLD, make_branch, repeat_factor_report
from .process import LOG_DIR, Stop, open_log, parse_deadline, pid_path, running_trainer, stop_running_trainer
from .ranks import RankGroup, rank_group
from .state import STATE_PATH, LineageError, LineageState, data_hash, load_state, read_meta
from .trainer import DEFAULTS, LineageTrainer, new_meta


def _records(args):
    train, _ = train_val_records(args.data)
    return train


def _refuse_overwrite(path: Path, new_lineage: bool) -> None:
    if path.exists() and not new_lineage:
        raise LineageError(f"{path} already holds a lineage ({read_meta(path)['images_seen']} images seen); "
                           "pass --new-lineage to replace it (the old one stays in git history)")


def cmd_convert(args) -> None:
    """A lineage from a training.train checkpoint (weights with batch norm, AdamW state, step)."""
    _refuse_overwrite(args.state, args.new_lineage)
    records = _records(args)
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    if not ckpt.get("batch_norm"):
        raise LineageError(f"{args.checkpoint} has no batch norm; use `init --model` for folded models")
    run_args = ckpt["args"]
    batch_size = int(run_args.get("batch_size", DEFAULTS["batch_size"]))
    if batch_size != DEFAULTS["batch_size"]:
        raise LineageError(f"{args.checkpoint} trained with batch {batch_size}, the lineage uses {DEFAULTS['batch_size']}")
    model = TinySSD(batch_norm=True)
    model.load_state_dict(ckpt["model"])
    model.to(memory_format=torch.channels_last)
    last_lr = ckpt["optimizer"]["param_groups"][0]["lr"]
    origin = {"kind": "train.py checkpoint", "path": str(args.checkpoint), "step": ckpt["step"],
              "train_seconds": ckpt["train_seconds"], "note": args.note}
    meta = new_meta(records, origin, int(run_args.get("seed", 0)), ckpt["step"] * batch_size,
                     ckpt["train_seconds"], warmup_from=last_lr)
    state = LineageState.create(model, meta, ckpt["optimizer"])
    args.state.parent.mkdir(parents=True, exist_ok=True)
    state.save(args.state)
    print(f"lineage created at {args.state} from {args.checkpoint}: {state.images_seen} images seen, "
          f"{state.meta['train_seconds'] / 3600:.2f} training hours, warm-up {last_lr:.2e} -> "
          f"{DEFAULTS['peak_lr']:.0e} over {DEFAULTS['warmup_images']} images")


def cmd_init(args) -> None:
    """A lineage from an exported model (batch norm calibrated) or, without --model, from scratch."""
    _refuse_overwrite(args.state, args.new_lineage)
    records = _records(args)
    if args.model:
        images = ImageCache(records, "train")
        model = model_from_file(args.model, calibration_batches(records, images, args.calibration_images))
        origin = {"kind": "model file", "path": str(args.model), "calibration_images": args.calibration_images}
    else:
        torch.manual_seed(args.seed)
        model = TinySSD(batch_norm=True)
        origin = {"kind": "random initialisation", "seed": args.seed}
    model.to(memory_format=torch.channels_last)
    state = LineageState.create(model, new_meta(records, {**origin, "note": args.note}, args.seed))
    args.state.parent.mkdir(parents=True, exist_ok=True)
    state.save(args.state)
    print(f"lineage created at {args.state} ({origin['kind']})")


def cmd_train(args) -> None:
    deadline = parse_deadline(args.until, args.for_minutes)
    if (pid := running_trainer(args.state)) is not None:
        raise LineageError(f"pid {pid} is already training {args.state}")
    if args.ranks < 1:
        raise ValueError(f"--ranks must be at least 1, got {args.ranks}")
    # Signals and the pid file before the data loads (seconds): a `stop` right after
    # `start` then finds the trainer and is honoured at its first step.
    stop = Stop()
    stop.install()
    pid_file = pid_path(args.state)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))  # rank 0: it takes the signals and saves
    try:
        workers = args.workers if args.workers is not None else (2 if args.ranks == 1 else 1)
        torch.set_num_threads(args.threads)
        records = _records(args)
        state = load_state(args.state, data_hash(records), args.new_lineage)
        images = ImageCache(records, "train")
        log = open_log()
        until = f" until {datetime.datetime.fromtimestamp(deadline):%H:%M}" if deadline else ""
        log(f"{datetime.datetime.now():%H:%M:%S} training the lineage{until}: {state.images_seen} images seen, "
            f"{state.meta['train_seconds'] / 3600:.2f} h, lr {state.schedule.lr(state.images_seen):.2e}, "
            f"{args.ranks} rank(s) of {args.threads} thread(s) and {workers} loader worker(s) each")
        other_ranks = (args.state, args.new_lineage, records, images, workers, args.device)
        with rank_group(args.ranks, args.threads, _train_other_rank, other_ranks) as group:
            trainer = LineageTrainer(state, records, images, workers, args.device, log, group=group)
            until_images = state.images_seen + args.for_images if args.for_images else None
            done = trainer.run(deadline=deadline, stop=stop, save_every_s=60 * args.save_minutes, save_path=args.state,
                               until_images=until_images)
            state.save(args.state)
            log(f"{datetime.datetime.now():%H:%M:%S} saved after {done} steps: {state.images_seen} images seen, "
                f"{state.meta['train_seconds'] / 3600:.2f} h; this period "
                f"{state.meta['period']['train_seconds'] / 60:.1f} min")
    finally:
        if pid_file.exists() and pid_file.read_text() == str(os.getpid()):
            pid_file.unlink()


def _train_other_rank(group: RankGroup, state_path: Path, new_lineage: bool, records, images, workers: int,
                      device: str) -> None:
    """Ranks 1..: the same state from the same file, trained in step with rank 0 until it stops."""
    stop = Stop(announce=False)  # a Ctrl-C reaches every rank; rank 0 says so
    stop.install()
    state = load_state(state_path, data_hash(records), new_lineage)
    LineageTrainer(state, records, images, workers, device, group=group).run(stop=stop)


def cooldown_images(period_images: int, fraction: float, min_images: int, max_images: int) -> int:
    return int(min(max_images, max(min_images, fraction * period_images)))


def cmd_cooldown(args) -> None:
    """`cooldown`: the cooldown branch alone (an A/B branch's, say); its summary is printed as it ends."""
    cooldown_branch(args)


def cooldown_branch(args) -> dict:
    """Branch: a copy of the state, LR falling linearly to 0; exports its weights and EMA as candidates."""
    torch.set_num_threads(args.threads)
    records = _records(args)
    state = load_state(args.state, data_hash(records))
    images = ImageCache(records, "train")
    total = cooldown_images(state.meta["period"]["images"], args.fraction, args.min_images, args.max_images)
    steps = math.ceil(total / state.meta["batch_size"])
    start_lr = state.schedule.lr(state.images_seen)
    # The lineage's own tally, as the record counts it; the branch's steps are said apart.
    lineage_hours, lineage_images = state.meta["train_seconds"] / 3600, state.images_seen
    print(f"cooldown branch: {steps} steps ({steps * state.meta['batch_size']} images), lr {start_lr:.2e} -> 0")
    trainer = LineageTrainer(state, records, images, args.workers, args.device, log_every=25)
    tick = time.perf_counter()
    batch = state.meta["batch_size"]
    trainer.run(steps=steps, lr_at=lambda done: cooldown_lr(start_lr, done * batch, steps * batch))
    seconds = time.perf_counter() - tick
    args.out.mkdir(parents=True, exist_ok=True)
    description = (f"tinyssd training lineage, {lineage_hours:.2f} training hours, {lineage_images} images seen, "
                   f"then cooled over {steps * batch} images ({seconds / 60:.1f} min), exported "
                   f"{datetime.date.today().isoformat()}")
    candidates = {}
    model = state.model.to("cpu").eval()
    candidates["cooled"] = args.out / "cooled.safetensors"
    save_model_file(model, candidates["cooled"], description + " (weights)")
    candidates["cooled_ema"] = args.out / "cooled_ema.safetensors"
    save_model_file(state.ema_model(), candidates["cooled_ema"], description + " (EMA of the weights)")
    print(f"cooldown done in {seconds / 60:.1f} min: candidates {', '.join(str(p) for p in candidates.values())}")
    return {"images": steps * batch, "seconds": seconds, "candidates": candidates, "train_images": len(records)}


def cmd_finish(args) -> None:
    from .record import finish_period
    stop_running_trainer(args.state)
    cooled = earlier_cooldown(args) if args.cooled else cooldown_branch(args)
    finish_period(args, cooled)


def earlier_cooldown(args) -> dict:
    """The candidates `cooldown --out DIR` already made from this very state (an A/B branch adopted as the
    lineage's state), as cooldown_branch would return them: cooling again would give the same files. Refused
    unless each candidate's description names this state's images seen, and the default cooldown length."""
    records = _records(args)
    state = load_state(args.state, data_hash(records))
    total = cooldown_images(state.meta["period"]["images"], args.fraction, args.min_images, args.max_images)
    steps = math.ceil(total / state.meta["batch_size"])
    candidates = {name: args.cooled / f"{name}.safetensors" for name in ("cooled", "cooled_ema")}
    expected = f"{state.images_seen} images seen, then cooled over {steps * state.meta['batch_size']} images"
    for path in candidates.values():
        if not path.is_file():
            raise LineageError(f"--cooled {args.cooled}: {path.name} is missing")
        if expected not in read_model_file(path)[1].get("source", ""):
            raise LineageError(f"--cooled {args.cooled}: {path.name} was not cooled from this state ({expected})")
    print(f"finish: the candidates in {args.cooled} were cooled from this state; not cooling again")
    return {"images": steps * state.meta["batch_size"], "seconds": 0.0, "candidates": candidates,
            "train_images": len(records)}


def cmd_branch(args) -> None:
    """An A/B branch: a copy of the state with one change, in a file of its own (branch.py)."""
    if args.out.exists():
        raise LineageError(f"{args.out} exists; a branch never replaces a file")
    if not (args.head_batch_norm or args.peak_lr or args.repeat_factor_threshold is not None):
        print("branch: no change asked: a copy of the lineage (the A/B's control)")
    records = _records(args)
    state = load_state(args.state, data_hash(records))
    batches = None
    if args.head_batch_norm:
        batches = calibration_batches(records, ImageCache(records, "train"), args.calibration_images)
    branch = make_branch(state, args.name, args.head_batch_norm, args.peak_lr, args.warmup_images, batches,
                         args.repeat_factor_threshold)
    if args.repeat_factor_threshold is not None:
        print(repeat_factor_report(records, args.repeat_factor_threshold))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    branch.save(args.out)
    print(f"branch {args.name!r} at {args.out}: {branch.images_seen} images seen, head batch norm "
          f"{'yes' if branch.meta.get('head_batch_norm') else 'no'}, peak lr {branch.meta['schedule']['peak_lr']:.1e}, "
          f"repeat-factor threshold {branch.meta.get('repeat_factor_threshold', 'none')}; "
          f"train it with `python -m training.lineage --state {args.out} train --for-images N`")


def cmd_stop(args) -> None:
    if not stop_running_trainer(args.state):
        print("no lineage training is running")


def cmd_running(args) -> int:
    pid = running_trainer(args.state)
    if pid is not None:
        print(pid)
    return 0 if pid is not None else 1


def cmd_status(args) -> None:
    meta = read_meta(args.state)
    pid = running_trainer(args.state)
    print(f"state: {args.state}\nimages seen: {meta['images_seen']} ({meta['steps']} steps in this lineage)\n"
          f"training hours: {meta['train_seconds'] / 3600:.2f}\nthis period: {meta['period']['train_seconds'] / 60:.1f} "
          f"min, {meta['period']['images']} images since {meta['period']['started']}\n"
          f"schedule: {meta['schedule']}\norigin: {meta['origin']}\ntraining running: "
          f"{'no' if pid is None else f'yes, pid {pid}'}\nlog: {LOG_DIR / 'train.log'}")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.lineage", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state", type=Path, default=STATE_PATH)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT, help="VOC root holding VOC2007/ and VOC2012/")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, func, help_text):
        q = sub.add_parser(name, help=help_text)
        q.set_defaults(func=func)
        return q

    def compute(q, workers_help="data-loader processes (augmentation)", workers=2):
        q.add_argument("--threads", type=int, default=1, help="torch threads of each training process")
        q.add_argument("--workers", type=int, default=workers, help=workers_help)
        q.add_argument("--device", default="cpu")

    q = add("convert", cmd_convert, "start the lineage from a training.train checkpoint")
    q.add_argument("--checkpoint", type=Path, required=True)
    q.add_argument("--note", default="")
    q.add_argument("--new-lineage", action="store_true", help="replace an existing state")
    q = add("init", cmd_init, "start the lineage from an exported model (or from scratch)")
    q.add_argument("--model", type=Path, help="exported .safetensors; batch norm is calibrated on training images")
    q.add_argument("--calibration-images", type=int, default=256)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--note", default="")
    q.add_argument("--new-lineage", action="store_true", help="replace an existing state")
    q = add("train", cmd_train, "continue the lineage until a deadline or SIGTERM/SIGINT")
    when = q.add_mutually_exclusive_group()
    when.add_argument("--until", help="local time of day HH:MM")
    when.add_argument("--for-minutes", type=float)
    when.add_argument("--for-images", type=int, help="stop after this many more images (A/B branches of equal images)")
    q.add_argument("--save-minutes", type=float, default=5.0)
    q.add_argument("--new-lineage", action="store_true", help="accept a state made on other training data")
    q.add_argument("--ranks", type=int, default=2,
                   help="training processes sharing each batch (DistributedDataParallel, gloo); 1: one process")
    compute(q, "data-loader processes per rank (default: 2 with one rank, 1 with more)", None)
    for name, func, text in (("cooldown", cmd_cooldown, "cooldown branch and candidate export only"),
                             ("finish", cmd_finish, "stop, cooldown, evaluate, ship if better, record")):
        q = add(name, func, text)
        q.add_argument("--fraction", type=float, default=0.12, help="cooldown length as a share of the period's images")
        q.add_argument("--min-images", type=int, default=2000)
        q.add_argument("--max-images", type=int, default=16000, help="caps the cooldown (~10 min on 2 CPU cores)")
        q.add_argument("--out", type=Path, default=LINEAGE_WORK_DIR / "candidates")
        q.add_argument("--tinyssd", type=Path, default=TINYSSD_BINARY)
        q.add_argument("--split", type=Path, default=VAL_SPLIT_PATH)
        q.add_argument("--shipped", type=Path, default=SHIPPED_MODEL)
        q.add_argument("--kind", default="CPU", help="the record's label for this period (CPU, GPU burst)")
        if name == "finish":
            q.add_argument("--cooled", type=Path, help="the `cooldown --out` folder of this same state (an adopted "
                                                       "A/B branch): its candidates, instead of cooling again")
        compute(q)
    q = add("branch", cmd_branch, "an A/B branch: a copy of the state with one change, in its own file")
    q.add_argument("--out", type=Path, required=True, help="the branch's state file (never replaced)")
    q.add_argument("--name", required=True, help="the branch's name in its metadata, e.g. head-bn-2x")
    q.add_argument("--head-batch-norm", action="store_true", help="batch norm in the 12 predictors, calibrated")
    q.add_argument("--peak-lr", type=float, help="another peak learning rate, warmed up to from today's")
    q.add_argument("--warmup-images", type=int, default=DEFAULTS["warmup_images"])
    q.add_argument("--repeat-factor-threshold", type=float, nargs="?", const=REPEAT_FACTOR_THRESHOLD,
                   help="repeat-factor sampling (LVIS) in train and cooldown; the threshold t "
                        f"(alone: {REPEAT_FACTOR_THRESHOLD}); prints the per-class factors")
    q.add_argument("--calibration-images", type=int, default=256)
    add("stop", cmd_stop, "stop a running `train` (it saves first)")
    add("status", cmd_status, "print the state's position and the running process")
    add("running", cmd_running, "print the pid of a running `train` (exit 0), or exit 1 if none")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return args.func(args) or 0
    except (LineageError, ValueError) as err:
        print(f"lineage: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
