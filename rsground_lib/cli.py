"""The ``rsground`` command line.

Subcommands wrap library functions; they hold no logic of their own. More arrive with the
chapters that need them (training, evaluation, grounding your own imagery).

About 740 lines, over the project's ~600: one parser for a dozen verbs, each with its
options' help and its one-line errors (exit status 2); the verbs' work is in the library.

Book chapter: "Overview" (``book/00_overview.py``, how to run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from rsground_lib import (
    __version__,
    ablations,
    boxes,
    doctor,
    dryrun,
    evaluation,
    files,
    geo,
    metrics,
    models,
    paths,
    predictions,
)
from rsground_lib.bench import BENCHMARKS, run_benchmarks
from rsground_lib.bookbuild import build_book
from rsground_lib.config import load_recipe
from rsground_lib.data import splits
from rsground_lib.data.benchmarks import load_benchmark
from rsground_lib.jupyter_setup import configure_jupyter
from rsground_lib.profiles import BookError
from rsground_lib.training import tiny_base


def _cmd_book(args: argparse.Namespace) -> int:
    """Build the book; an error of the pipeline (:class:`BookError`: a bad profile, a failed
    chapter, a failed render) or of the file system is printed as its message on stderr,
    without a traceback, with exit status 2 (bad input) or 1 (a chapter or the render
    failed). Anything else is a bug and keeps its traceback."""
    if args.profile == dryrun.PROFILE:
        print(
            f"rsground book: error: the {dryrun.PROFILE} profile starts from a checkpoint "
            "`rsground dryrun` builds; run `rsground dryrun` (make dryrun)",
            file=sys.stderr,
        )
        return 2
    return _book_result(
        "rsground book",
        args.profile,
        lambda: build_book(
            profile=args.profile, chapters=args.chapters or None, html=not args.no_html
        ),
    )


def _cmd_dryrun(args: argparse.Namespace) -> int:
    """``make dryrun``: the start checkpoint, then the book on the dry-run profile; errors as
    ``rsground book`` reports them."""
    print("rsground dryrun: the full profile's code path at toy sizes; not covered:")
    print("".join(f"  - {item}\n" for item in dryrun.NOT_COVERED), end="")
    return _book_result(
        "rsground dryrun",
        dryrun.PROFILE,
        lambda: dryrun.run(chapters=args.chapters or None, html=not args.no_html),
    )


def _book_result(command: str, profile: str, build) -> int:
    try:
        result = build()
    except BookError as err:
        print(f"{command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        print(f"{command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    if result.html_index is not None:
        print(f"\nThe book ({profile} profile) is at: {result.html_index}")
        print(
            f"Open it with:  xdg-open {result.html_index}   (or python -m http.server -d {result.html_index.parent})"
        )
    return 0


def _cmd_setup_jupyter(args: argparse.Namespace) -> int:
    for path in configure_jupyter(sys.prefix):
        print(f"wrote {path}")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    """What a GPU machine needs before ``make reproduce`` (:mod:`rsground_lib.doctor`): one
    line per check, then the full profile's GPU time from measured step times. Exit status
    0 ready, 1 something to fix first, 2 bad input."""
    import yaml

    bench = doctor.sft_benchmark()
    try:
        facts = doctor.gather(model_id=args.model, data_root=args.data_root)
        checks = doctor.diagnose(facts, real_data=not args.no_real_data, bench=bench)
        if args.download and not doctor.failed(checks) and not facts["weights"]["cached"]:
            # only once the rest is ready: 7.5 GB for a machine that cannot run them is waste
            facts["weights"] = doctor.fetch_weights(facts["model_id"])
            checks = doctor.diagnose(facts, real_data=not args.no_real_data, bench=bench)
    except OSError as err:
        print(f"rsground doctor: error: {err}", file=sys.stderr)
        return 2
    full = yaml.safe_load((paths.project_root() / "params" / "full.yml").read_text())
    print(doctor.report(checks, doctor.estimate(full, bench)))
    return 1 if doctor.failed(checks) else 0


def _cmd_bench(args: argparse.Namespace) -> int:
    return run_benchmarks(names=args.names or None)


def _cmd_eval(args: argparse.Namespace) -> int:
    """Score a predictions file on a benchmark split (:mod:`rsground_lib.predictions`) and
    print the table; bad input (the predictions, the benchmark, its options) is one line on
    stderr and exit status 2, without a traceback. Skipped lines are warned about there."""
    try:
        predictions.check_outputs(
            {"PREDICTIONS": args.predictions}, {"--json": args.json, "--markdown": args.markdown}
        )
        options = {}
        if args.dataset is not None or args.image_size is not None:
            if args.benchmark != "records" and "/" not in args.benchmark:
                raise ValueError(
                    "--dataset and --image-size apply to --benchmark records or a Hub id only"
                )
            if args.dataset is not None:
                options["dataset"] = args.dataset
            if args.image_size is not None:
                options["image_size"] = tuple(args.image_size)
        elif args.benchmark == "records":
            raise ValueError("--benchmark records needs --dataset LABEL (e.g. dior_rsvg)")
        records = load_benchmark(args.benchmark, args.data_root, args.split, **options)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = predictions.score_file(
                args.predictions,
                records,
                coords=args.coords,
                preset=args.preset,
                on_error="skip" if args.skip_bad else "raise",
                max_pixels=args.max_pixels,
            )
        for warning in caught:
            print(f"rsground eval: warning: {warning.message}", file=sys.stderr)
        if args.skip_bad and result["skipped"] and result["missing"] == result["n"]:
            raise ValueError(
                f"{args.predictions}: every line was skipped ({result['skipped']} skipped, none "
                f"of the {result['n']} records predicted): nothing to score"
            )
        print(predictions.format_table(result))
        if args.json is not None:
            body = predictions.result_json(result, with_skipped=args.skip_bad)
            text = json.dumps(body, indent=2, allow_nan=False) + "\n"
            files.write_text_atomic(args.json, text)
        if args.markdown is not None:
            files.write_text_atomic(args.markdown, predictions.markdown_table(result))
    except (ValueError, OSError) as err:
        print(f"rsground eval: error: {err}", file=sys.stderr)
        return 2
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    """Greedy predictions of a checkpoint on one split, written line by line to a JSONL file
    (:func:`rsground_lib.evaluation.predict`; an interrupted run started again continues);
    bad input is one line on stderr and exit status 2."""
    try:
        if args.num < 1:
            raise ValueError(f"--num: expected at least 1 generated scene; got {args.num}")
        records = evaluation.split_records(
            args.benchmark,
            args.data_root,
            args.split,
            limit=args.limit,
            num=args.num,
            image_size=args.image_size,
            seed=args.seed,
        )
        model, processor = models.load_model(args.checkpoint)
        summary = evaluation.predict(
            model,
            processor,
            records,
            args.output,
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            prompt_style=args.prompt_style,
            model_name=str(args.checkpoint),
            checkpoint=args.checkpoint,
            resume=not args.fresh,
        )
    except (ValueError, OSError) as err:
        print(f"rsground predict: error: {err}", file=sys.stderr)
        return 2
    rates = (
        f"parse rate {summary['parse_rate']:.3f}, Pr@0.5 {summary['pr@0.5']:.3f}"
        if summary["done"]
        else "nothing to score"
    )
    print(
        f"{summary['done']} of {summary['n']} samples in {args.output} ({rates}); "
        f"summary: {predictions.summary_path(args.output)}"
    )
    return 0


TINY_BASE = Path(__file__).resolve().parents[1] / paths.TINY_BASE
"""The tiny CPU base checkpoint in the source tree: ``rsground ground``'s default model."""


def _cmd_ground(args: argparse.Namespace) -> int:
    """Ground a sentence in a raster window by window and write the answers as GeoJSON /
    GeoPackage (:func:`rsground_lib.geo.ground_raster`, :func:`rsground_lib.geo.write_answers`);
    bad input is one line on stderr and exit status 2."""
    try:
        # what can be checked without the model is checked before loading it
        if args.output is not None:
            geo.check_output(args.output)
        settings = geo.GroundingSettings.from_args(args)  # checked; None: the model's own
        geo.clean_sentence(args.sentence)
        geo.choose_bands(geo.open_raster(args.image), settings.bands)
        checkpoint = args.checkpoint or str(TINY_BASE)
        if args.checkpoint is None:
            print(
                f"rsground ground: no --checkpoint: using the tiny CPU base ({checkpoint}), a toy "
                "trained on 64-px synthetic shapes; pass a trained Qwen2.5-VL checkpoint for real use",
                file=sys.stderr,
            )
        model, processor = models.load_model(checkpoint)
        result = geo.ground_raster(
            args.image, args.sentence, model, processor, settings, progress=not args.quiet
        )
        written = geo.write_answers(result, args.output, str(checkpoint)) if args.output else None
    except (ValueError, OSError) as err:
        print(f"rsground ground: error: {err}", file=sys.stderr)
        return 2
    info = result.info
    if not info.georeferenced:
        where = "PIXEL coordinates (the raster is not georeferenced)"
    else:
        where = f"map coordinates ({info.crs or 'CRS unknown'}"
        where += f"; from {info.georef_source})" if info.georef_source != "geotransform" else ")"
    t = result.windows[0]
    print(
        f"{len(result.windows)} window(s) of {t.width} x {t.height} px ({len(result.skipped)} skipped: "
        f"too little valid data; {result.unparsed} unparsed answers); "
        f"{len(result.answers)} answer(s) in {where}"
    )
    for a in result.answers:
        poly = geo.box_polygon(a.box, info.transform if info.georeferenced else None)
        minx, miny, maxx, maxy = poly.bounds
        print(
            f"  #{a.rank} score {a.score:.3f} (support {a.support}) pixels "
            f"[{a.box[0]:.0f}, {a.box[1]:.0f}, {a.box[2]:.0f}, {a.box[3]:.0f}] "
            f"bounds [{minx:.2f}, {miny:.2f}, {maxx:.2f}, {maxy:.2f}]"
        )
    if written is not None:
        print(f"written: {written}")
    return 0


def _cmd_tiny_base_pretrain(args: argparse.Namespace) -> int:
    """Pretrain the tiny base checkpoint (:func:`rsground_lib.training.tiny_base.pretrain_base`)
    from a recipe (``--config``) with ``--seed`` and ``--out``; prints the run's steps, CPU
    seconds, image-blind floors and held-out scores. A bad recipe is one line on stderr and
    exit status 2."""
    values: dict = {}
    try:
        if args.config:
            values = load_recipe(args.config)
        values.update(seed=args.seed, out=args.out)
        if args.data_factory:
            values["data_factory"] = args.data_factory
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        cfg = tiny_base.BasePretrainConfig.from_dict(values)
    except (ValueError, OSError) as err:
        print(f"rsground tiny-base pretrain: error: {err}", file=sys.stderr)
        return 2
    result = tiny_base.pretrain_base(cfg, resume=args.resume)
    shown = {k: result[k] for k in ("steps", "cpu_s", "image_blind_floor", "eval")}
    print(json.dumps(shown, indent=2))
    return 0


def _cmd_tiny_base_eval(args: argparse.Namespace) -> int:
    """The tiny base's benchmark (:func:`rsground_lib.evaluation.evaluate_base`) and its text
    skills (:func:`rsground_lib.training.tiny_base.base_text_skills`) as JSON on stdout."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        model, processor = models.load_model(args.checkpoint)
    except (ValueError, OSError) as err:
        print(f"rsground tiny-base eval: error: {err}", file=sys.stderr)
        return 2
    bench = evaluation.evaluate_base(model, processor, n=args.n)
    bench["text_skills"] = tiny_base.base_text_skills(model, processor)
    print(json.dumps(bench, indent=2))
    return 0


def _ablate_command(args: argparse.Namespace) -> str:
    """The ``rsground ablate`` command line that ``args`` stand for, written out in full (the
    archive's ``produced_by.command``)."""
    parts = ["rsground ablate", f"--profile {args.profile}"]
    if args.arms:
        parts.append("--arms " + " ".join(args.arms))
    parts.append("--seeds " + " ".join(map(str, args.seeds)))
    if args.factorial_seeds:
        parts.append("--factorial-seeds " + " ".join(map(str, args.factorial_seeds)))
    if args.max_steps:
        parts.append(f"--max-steps {args.max_steps}")
    for name in ablations.SCENE_COUNTS:
        if getattr(args, name):
            parts.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    parts += [f"--jobs {args.jobs}"] + ([f"--threads {args.threads}"] if args.threads else [])
    return " ".join(parts + [f"--archive {args.archive}"])


def _cmd_ablate(args: argparse.Namespace) -> int:
    """``rsground ablate``: the ablation sweep of a profile (:mod:`rsground_lib.ablations`),
    arm × seed, resumable — a finished run is read back, never trained again. The scenes and
    the untrained start come from the Ablations chapter's parameters on that profile; the
    recipe is the one the RFT chapter ran. ``--jobs`` runs several at a time, ``--archive``
    writes every finished run of this setup as the archived sweep. Bad input: one line on
    stderr, exit status 2."""
    from tqdm.auto import tqdm

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        names = args.arms or [a.name for a in ablations.ARMS]
        for name in names:
            ablations.get_arm(name)
        if min(getattr(args, n) for n in ablations.SCENE_COUNTS) < 0:
            raise ValueError("scene counts must be ≥ 1 (0: the chapter's)")
        if args.jobs < 1 or args.threads < 0:
            raise ValueError(
                f"--jobs must be ≥ 1 and --threads ≥ 0; got {args.jobs}, {args.threads}"
            )
        values = ablations.chapter_values(args.profile, "06_ablations")
        overrides = {"max_steps": args.max_steps} if args.max_steps else {}
        if args.threads:
            overrides["num_threads"] = args.threads
        for name in ablations.SCENE_COUNTS:  # the sweep's own scene counts, if given
            if getattr(args, name):
                values[name] = getattr(args, name)
        plan_kwargs = dict(
            layout=paths.layout(values["profile"], args.runs_root or values["runs_root"] or None),
            **{k: values[k] for k in ablations.PLAN_PARAMETERS},
            start=values["model_name_or_path"],
            recipe_overrides=overrides or None,
            part="sweep",
        )
        setup = ablations.plan(**plan_kwargs)
    except (ValueError, OSError, BookError) as err:
        print(f"rsground ablate: error: {err}", file=sys.stderr)
        return 2
    total = len(ablations.run_order(names, args.seeds, args.factorial_seeds))
    with tqdm(total=total, desc="ablate", unit="run") as bar:

        def progress(line: str) -> None:
            bar.set_postfix_str(line.split("] ", 1)[-1])
            bar.update(1)

        try:
            if args.jobs == 1:
                ablations.sweep(
                    names,
                    args.seeds,
                    factorial_seeds=args.factorial_seeds,
                    progress=progress,
                    **setup,
                )
            else:
                ablations.sweep_parallel(
                    names,
                    args.seeds,
                    plan_kwargs=plan_kwargs,
                    jobs=args.jobs,
                    threads=args.threads or 1,
                    factorial_seeds=args.factorial_seeds,
                    progress=progress,
                )
        except FileNotFoundError as err:
            print(f"rsground ablate: error: {err}", file=sys.stderr)
            return 2
    print(f"results: {setup['folder']}")
    if args.archive:
        every = [a.name for a in ablations.ARMS]
        results = ablations.finished(every, **setup)
        command = _ablate_command(args)
        files.write_json(args.archive, ablations.archive_sweep(results, command=command))
        runs = sum(len(v) for v in results.values())
        print(f"archive: {args.archive} ({len(results)} arms, {runs} runs)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rsground",
        description=(
            "RSGround-R1: remote-sensing visual grounding with a multimodal LLM "
            "(CoT-SFT, then GRPO with a positional reward and spatial consistency)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rsground {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ablate = sub.add_parser(
        "ablate",
        help="the ablation sweep (arms × seeds) of a profile, resumable",
        description="Train every arm × seed of the ablation sweep from this profile's "
        "checkpoints with the recipe the RFT chapter ran, score each on the same scenes and "
        "write runs/<profile>/06_ablations/<arm>/seed<k>/result.json; a finished run is read "
        "back, so an interrupted sweep continues. Exit status: 0 done, 2 bad input.",
    )
    ablate.add_argument(
        "--profile", default="smoke", help="a profile name or .yml path (default: smoke)"
    )
    ablate.add_argument(
        "--arms",
        nargs="*",
        metavar="ARM",
        help="arms (default: every arm of rsground_lib.ablations.ARMS)",
    )
    ablate.add_argument(
        "--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default: 0 1 2)"
    )
    ablate.add_argument(
        "--factorial-seeds",
        nargs="*",
        type=int,
        default=[],
        help="more seeds for the factorial's four arms only (e.g. 3 4: five seeds there)",
    )
    ablate.add_argument(
        "--max-steps", type=int, default=0, help="GRPO steps per run; 0: the recipe's"
    )
    ablate.add_argument(
        "--runs-root", default="", help="folder of the runs; default: the profile's"
    )
    for name in ablations.SCENE_COUNTS:
        ablate.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=0,
            metavar="N",
            help="scenes of that split every run is scored on; 0: the Ablations chapter's "
            "value on the profile (on smoke, its live slice's)",
        )
    ablate.add_argument(
        "--jobs", type=int, default=1, help="runs at a time, each in its own process (default 1)"
    )
    ablate.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads per run; 0: the recipe's (with --jobs > 1: 1)",
    )
    ablate.add_argument(
        "--archive",
        default="",
        metavar="PATH",
        help="then write every finished run of this setup, all arms, as the archived sweep "
        "(experiments/ablations.json)",
    )
    ablate.set_defaults(func=_cmd_ablate)

    book = sub.add_parser(
        "book",
        help="execute the chapters on a profile and build the HTML book",
        description="Execute the chapters on a profile and build the HTML book. The profile is "
        "validated (keys, types, ranges) before anything runs. Exit status: 0 built, 2 bad "
        "input (profile, chapters, project), 1 a chapter or the render failed; errors are "
        "one message on stderr.",
    )
    book.add_argument(
        "--profile",
        default="smoke",
        help="a profile name, params/<name>.yml (letters, digits, '-', '_'; default: smoke), or "
        "the path of a .yml/.yaml file; the book goes to _build/<name or file stem>/",
    )
    book.add_argument(
        "--chapters",
        nargs="*",
        metavar="NAME",
        help="only these chapters (file stems, e.g. 00_overview); default: every chapter in _toc.yml",
    )
    book.add_argument(
        "--no-html", action="store_true", help="execute only; skip jupyter-book build"
    )
    book.set_defaults(func=_cmd_book)

    dry = sub.add_parser(
        "dryrun",
        help="the full profile's code path on a tiny random Qwen2.5-VL, on a CPU (make dryrun)",
        description="Build the dry run's start checkpoint (a tiny Qwen2.5-VL with random "
        "weights and a short format SFT, in the hub's file layout; kept under "
        "runs/dryrun/) and execute the book on params/dryrun.yml from it: the full profile's "
        "code path at toy sizes. Nothing is judged on accuracy. Exit status as rsground book.",
    )
    dry.add_argument(
        "--chapters", nargs="*", metavar="NAME", help="only these chapters (file stems)"
    )
    dry.add_argument("--no-html", action="store_true", help="execute only; skip jupyter-book build")
    dry.set_defaults(func=_cmd_dryrun)

    doc = sub.add_parser(
        "doctor",
        help="check this machine for make reproduce (GPU, torch, bf16, memory, disk, weights, data)",
        description="Check what the full profile needs on this machine: the GPU and torch's "
        "view of it, bf16, memory against the measured peak, free disk, the cached weights, "
        "the real data under RSGROUND_DATA, vLLM; then the GPU hours measured so far. Each "
        "failure is one line with its fix. Exit status: 0 ready, 1 something to fix first.",
    )
    doc.add_argument(
        "--model",
        default=None,
        help="the checkpoint to start from (default: the full profile's Qwen2.5-VL-3B-Instruct)",
    )
    doc.add_argument(
        "--data-root", default=None, help="the real data folder (default: $RSGROUND_DATA)"
    )
    doc.add_argument(
        "--no-real-data",
        action="store_true",
        help="go on without the real benchmarks (their sections then say 'not measured')",
    )
    doc.add_argument(
        "--download",
        action="store_true",
        help="download the weights first if they are not cached, with progress (make reproduce does)",
    )
    doc.set_defaults(func=_cmd_doctor)

    jup = sub.add_parser(
        "setup-jupyter",
        help="configure Jupyter inside this environment (root allowed, .py chapters open as notebooks)",
    )
    jup.set_defaults(func=_cmd_setup_jupyter)

    bench = sub.add_parser(
        "bench",
        help="run the benchmarks and print their tables",
        description="Run the benchmarks (speed and memory measured side by side in one run); "
        "tables are printed and JSON is written to runs/bench/<name>.json.",
        epilog="benchmarks: " + ", ".join(BENCHMARKS),
    )
    bench.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"only these ({', '.join(BENCHMARKS)}); default: all",
    )
    bench.set_defaults(func=_cmd_bench)

    ev = sub.add_parser(
        "eval",
        help="score a predictions file (anyone's) against a benchmark split",
        description="Score predictions against a benchmark split's annotations: Pr@0.5-0.9, "
        "meanIoU, cumIoU, parse rate, n, missing. PREDICTIONS is JSON Lines or a JSON list; "
        "each item names its sample by 'id' (the record id) or by 'image' (file name) + "
        "'expression', and gives 'bbox' [x1, y1, x2, y2] or 'completion' (raw model text). "
        "A sample without a prediction counts as a miss. Exit status: 0 scored, 2 bad input "
        "(one message on stderr).",
    )
    ev.add_argument("predictions", metavar="PREDICTIONS", help="the predictions file")
    ev.add_argument(
        "--benchmark",
        required=True,
        metavar="NAME",
        help="benchmark format as load_benchmark names it (dior_rsvg, opt_rsvg, vrsbench, "
        "rsvg_hr, records) or a Hub id",
    )
    ev.add_argument("--data-root", required=True, metavar="DIR", help="the benchmark's folder")
    ev.add_argument("--split", required=True, metavar="SPLIT", help="e.g. test, val")
    ev.add_argument(
        "--coords",
        choices=predictions.COORDS,
        default="original",
        help="frame of the predicted boxes: original image pixels (default), Qwen2.5-VL's "
        "resized input pixels, 0-1000 or 0-100 of width and height",
    )
    ev.add_argument(
        "--max-pixels",
        type=int,
        default=boxes.QWEN2VL_MAX_PIXELS,
        help="with --coords qwen2.5-vl: the processor's max_pixels (default "
        f"{boxes.QWEN2VL_MAX_PIXELS}; the Qwen2.5-VL checkpoints ship "
        f"{boxes.QWEN25VL_MAX_PIXELS})",
    )
    ev.add_argument(
        "--preset",
        choices=list(metrics.PRESETS),
        default=None,
        help="metrics protocol (default: vrsbench for VRSBench, else dior_rsvg)",
    )
    ev.add_argument(
        "--dataset",
        metavar="LABEL",
        help="with --benchmark records (required there) or a Hub id: the dataset label, "
        "e.g. dior_rsvg; it picks the default image size and preset",
    )
    ev.add_argument(
        "--image-size",
        nargs=2,
        type=int,
        metavar=("WIDTH", "HEIGHT"),
        help="with --benchmark records or a Hub id: the images' size in pixels",
    )
    ev.add_argument("--json", metavar="OUT.json", help="also write the metrics as JSON")
    ev.add_argument("--markdown", metavar="OUT.md", help="also write the table as Markdown")
    ev.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip (and count) bad prediction lines instead of stopping at the first",
    )
    ev.set_defaults(func=_cmd_eval)

    pr = sub.add_parser(
        "predict",
        help="greedy predictions of a checkpoint on a benchmark split, to JSONL (resumable)",
        description="Batched greedy predictions of a checkpoint (folder or hub id) on one split "
        "of a benchmark the readers support, or of generated scenes; one JSON line per sample "
        "(id, image, expression, completion, box_model, bbox in original pixels, parsed, iou), "
        "flushed as written; run again to continue an interrupted run. Score the file with "
        "`rsground eval`.",
    )
    pr.add_argument("--checkpoint", required=True, help="checkpoint folder or hub id")
    pr.add_argument(
        "--benchmark",
        required=True,
        help="a reader's name (dior_rsvg, opt_rsvg, vrsbench, rsvg_hr, records), a Hub id, or "
        + ", ".join(splits.GENERATED_SPLITS),
    )
    pr.add_argument("--data-root", default=None, help="the benchmark's folder (real benchmarks)")
    pr.add_argument("--split", default="test", help="split name (default: test)")
    pr.add_argument("-o", "--output", required=True, help="the predictions file (JSONL)")
    pr.add_argument("--batch-size", type=int, default=32, help="prompts per generation batch")
    pr.add_argument(
        "--max-new-tokens",
        type=int,
        default=768,
        help="answer budget in tokens, reasoning included (the full profile's chapters: 768)",
    )
    pr.add_argument(
        "--prompt-style",
        default=None,
        choices=["full", "compact"],
        help="'full' (the project's system prompt) or 'compact' (image + expression); "
        "default: the checkpoint's own, the style it was trained in (recorded in its config.json; "
        "the project's tiny models: compact)",
    )
    pr.add_argument(
        "--fresh",
        action="store_true",
        help="start the predictions file over (by default a file of the same checkpoint and "
        "settings is continued, and one of another is refused)",
    )
    pr.add_argument("--limit", type=int, default=None, help="only the first N records")
    pr.add_argument("--num", type=int, default=512, help="scenes of a generated split")
    pr.add_argument("--image-size", type=int, default=800, help="side of generated scenes, px")
    pr.add_argument("--seed", type=int, default=0, help="seed of generated scenes")
    pr.set_defaults(func=_cmd_predict)

    gr = sub.add_parser(
        "ground",
        help="ground a sentence in a raster (GeoTIFF or any image), window by window, to GeoJSON",
        description="Cut the raster into overlapping windows, ground the sentence in each "
        "(batched), keep the most confident answer(s), map them through the geotransform to "
        "polygons in the raster's CRS and write GeoJSON (.geojson/.json) or GeoPackage (.gpkg). "
        "A raster without georeferencing is answered in pixel coordinates, and the output says so.",
    )
    gr.add_argument("image", help="the raster: GeoTIFF or any format GDAL reads")
    gr.add_argument("sentence", help='what to find, e.g. "the largest storage tank"')
    gr.add_argument("-o", "--output", default=None, help="answers file: .geojson, .json or .gpkg")
    gr.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint folder or hub id (default: the tiny CPU base)",
    )
    geo.GroundingSettings.add_arguments(gr)  # --tile ... --prompt-style, from the fields
    gr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    gr.set_defaults(func=_cmd_ground)
    tb = sub.add_parser(
        "tiny-base",
        help="pretrain or benchmark the tiny CPU base checkpoint (make tiny-base)",
        description="The tiny base checkpoint of the CPU miniature: 'pretrain' runs a recipe "
        "(configs/tiny_base/*.json), 'eval' scores a checkpoint on fresh base scenes.",
    )
    tb_sub = tb.add_subparsers(dest="tiny_base_command", metavar="STEP", required=True)
    tbp = tb_sub.add_parser("pretrain", help="pretrain the tiny base grounding checkpoint")
    tbp.add_argument("--seed", type=int, default=0, help="seed of the model, scenes and trainer")
    tbp.add_argument("--out", default="checkpoints/tiny-base", help="output folder")
    tbp.add_argument("--config", help="YAML or JSON recipe of BasePretrainConfig fields")
    tbp.add_argument(
        "--resume", action="store_true", help="continue from the last trainer checkpoint"
    )
    tbp.add_argument(
        "--data-factory",
        help="FILE.py:FUNCTION or MODULE:FUNCTION returning records for (n, *, seed, "
        "**stage_data); default: rsground_lib.data.base_scenes:make_records",
    )
    tbp.set_defaults(func=_cmd_tiny_base_pretrain)
    tbe = tb_sub.add_parser("eval", help="the tiny base's benchmark on fresh base scenes")
    tbe.add_argument("--checkpoint", default=str(TINY_BASE), help="checkpoint folder")
    tbe.add_argument("--n", type=int, default=512, help="scenes per split")
    tbe.set_defaults(func=_cmd_tiny_base_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # no subcommand is a usage error, as argparse's own
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
