"""``optimize``: search the deployments of a model for the fastest one within an accuracy budget, and write it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .cache import Cache
from .levels import PruneLevels, describe
from .space import Config, SearchError, Variant, layouts, sizes, variants
from .strategy import Budget, Clock, Row, contenders, pick, score, screen, tune

OBJECTIVES = ("throughput", "latency")
#: The reference every drop is measured from: PyTorch FP32 at the model's own input size (exact by definition).
REFERENCE = Variant("torch", "fp32")


@dataclass
class OptimizeResult:
    """The search's rows, the winner (None: nothing within budget) and the files written."""

    model: str
    val: str
    objective: str
    max_drop: float
    base_map: float
    rows: list[Row]
    winner: Row | None
    winner_screen: Row | None
    chosen: dict[str, Any] = field(default_factory=dict)
    why: str = ""
    bought: str = ""
    method: str = ""
    commands: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    pruning: dict[str, dict[str, Any]] = field(default_factory=dict)  # per pruned source: how it was made
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0


def _check(max_drop: float, objective: str, latency_budget: float | None, time_budget: float | None,
           out: Path) -> None:
    if not 0 <= max_drop < 1:
        raise SearchError(f"--max-drop {max_drop}: expected an absolute mAP50-95 drop in [0, 1), e.g. 0.01")
    if objective not in OBJECTIVES:
        raise SearchError(f"--objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")
    if latency_budget is not None and latency_budget <= 0:
        raise SearchError(f"--latency-budget {latency_budget}: expected milliseconds > 0")
    if time_budget is not None and time_budget <= 0:
        raise SearchError(f"--time-budget {time_budget}: expected minutes > 0")
    if out.exists() and not out.is_dir():
        raise SearchError(f"--out {out}: exists and is not a folder")


def optimize(
    model: str | Path,
    val: str | Path,
    calib: str | Path | None,
    out: str | Path = "deploy",
    *,
    max_drop: float = 0.01,
    objective: str = "throughput",
    latency_budget: float | None = None,
    time_budget: float | None = None,
    backends: list[str] | None = None,
    precisions: list[str] | None = None,
    imgsz: tuple[int, int, int] = (640, 320, 32),
    batches: tuple[int, ...] = (1, 8),
    sample: int = 40,
    screen_seconds: float = 3.0,
    final_seconds: float = 8.0,
    rounds: int = 2,
    finalists: int = 3,
    calib_images: int = 300,
    pruned: list[str | Path] | None = None,
    prune: PruneLevels | None = None,
    cache: bool = True,
    cache_root: str | Path | None = None,
    say: Callable[[str], None] = lambda s: None,
) -> OptimizeResult:
    """The fastest deployment of ``model`` whose mAP50-95 on ``val`` is within ``max_drop`` of PyTorch FP32.

    Searches backends x precisions (INT8 calibrated on ``calib``) x input sizes ``imgsz`` = (largest, smallest,
    step) x run layouts as :mod:`.strategy` describes, every measurement cached; writes the winner's model
    file, ``deploy.json``, ``candidates.csv`` and ``report.html`` to ``out``. ``time_budget`` in minutes.
    ``pruned``: pruned model files of ``model`` (``yolopt prune``), searched as more variants, never exact;
    ``prune``: MACs levels to prune ``model`` to (and recover) first, each then searched like a ``pruned`` file
    (made once and cached; the time it takes counts against ``time_budget``).
    Raises :class:`SearchError` on bad input; returns a result with ``winner=None`` when nothing qualifies.
    """
    from ..calibration import overlap, spread
    from ..scoring import Scorer
    from .artifacts import Artifacts
    from .measure import Measurer

    out = Path(out)
    _check(max_drop, objective, latency_budget, time_budget, out)
    clock = Clock(time_budget)
    pruned = list(dict.fromkeys(str(p) for p in pruned or ()))
    space = variants(backends, precisions, ["", *pruned])
    size_list = sizes(*imgsz)
    store = Cache(Path(cache_root) if cache_root else None, enabled=cache)
    try:
        val_paths = Scorer(val, "torch").paths  # a clear error for an unreadable or empty dataset, before any work
    except Exception as e:  # noqa: BLE001 - QuantizeError / DatasetError: both name the data
        raise SearchError(str(e)) from None
    if not Path(str(model)).exists() and Path(str(model)).suffix:
        raise SearchError(f"--model {model}: no such file")
    art = Artifacts(model, calib, store.root, calib_images, say, pruned)  # checks the pruned files first
    if prune is not None:
        prune.check(art.model, val_paths)
    if any(v.precision == "int8" for v in space):
        calib_paths = art.calib_paths()
        both = overlap(calib_paths, val_paths)
        if both:
            say(f"warning: {len(both)} calibration images are also validation images (e.g. {both[0].name}): "
                "the INT8 accuracy measured will be optimistic")
    missed: list[str] = []
    if prune is not None:  # the levels' pruned models: made now (or found in the cache), then searched
        made, missed = prune.make(art.model, art.model_arg, art.digest, store.root, clock, say)
        for path, info in made.items():
            art.add(path, info)
        space = variants(backends, precisions, list(dict.fromkeys(["", *pruned, *made])))  # once, if also --pruned
    m = Measurer(art, store, spread(val_paths, sample), val)
    native = art.model.imgsz
    budget = Budget(max_drop, objective, latency_budget, native)
    configs = [Config(v, s) for s in size_list for v in space]
    say(f"searching {len(space)} model variants x {len(size_list)} input sizes = {len(configs)} configs "
        f"({', '.join(v.label for v in space)}; sizes {size_list[0]}..{size_list[-1]}), cache {store.path}")
    base, _ = m.accuracy(REFERENCE, native)
    base_map = base["map50_95"]
    say(f"[{clock.stamp()}] reference PyTorch FP32 @{native}: mAP50-95 {base_map:.4f}; budget: >= "
        f"{base_map - max_drop:.4f}")
    rows = screen(configs, m, screen_seconds, clock, say)
    score(rows, m, budget, base_map, clock, say)
    final_batches = [1] if objective == "latency" else list(batches)
    exact = [r for r in rows if budget.exact(r.config) and r.speed]
    baseline = max(exact, key=budget.goodness) if exact else None
    rows += tune(contenders(rows, budget, finalists), m, budget, layouts(), final_batches, final_seconds, rounds,
                 clock, say, baseline)
    rows.sort(key=lambda r: (("final", "baseline", "screen").index(r.stage), -budget.goodness(r)))  # best first
    winner = pick(rows, budget)
    screened = {r.config: r for r in rows if r.stage == "screen"}
    w_screen = None if winner is None else screened.get(Config(winner.config.variant, winner.config.imgsz))
    res = OptimizeResult(str(model), str(val), objective, max_drop, base_map, rows, winner, w_screen)
    res.pruning = {v.source: art.pruning_of(v) or {} for v in space if v.source}
    res.records = [_record(r, budget, res.pruning) for r in rows]
    res.method = _method(len(configs), sample, screen_seconds, final_seconds, rounds, finalists, final_batches,
                         None if prune is None else prune.budget(art.model_arg), missed)
    _explain(res, budget)
    out.mkdir(parents=True, exist_ok=True)
    if winner is not None:
        res.files["model"] = art.copy(winner.config.variant, winner.config.imgsz, out)
        res.files["recipe"] = _write_recipe(res, out)
    res.commands = _commands(res, model, val, calib, out, imgsz, backends, precisions, pruned, prune)
    from .report import write_csv, write_html

    res.files["candidates"] = write_csv(res.records, out / "candidates.csv")
    res.seconds = round(clock.elapsed, 1)
    res.cache_hits, res.cache_misses = store.hits, store.misses
    res.files["report"] = write_html(res, out / "report.html")
    return res


def _record(r: Row, budget: Budget, pruning: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from .report import record

    return record(r, budget.exact(r.config), describe(pruning.get(r.config.variant.source)))


def _method(n: int, sample: int, screen_s: float, final_s: float, rounds: int, k: int, batches: list[int],
            recovery: str | None = None, missed: list[str] | None = None) -> str:
    from .levels import IMPORTANCE
    from .strategy import MARGIN

    levels = "" if recovery is None else (
        "- **Prune**: the model pruned to each `--prune` level of its MACs (`yolopt prune --sensitivity`: per-layer "
        f"ratios from the damage measured per MAC saved, {IMPORTANCE} importance), then recovered with "
        f"{recovery}; each made once and cached, then searched like the model"
        + "".join(f"; {m}" for m in missed or []) + ".\n")
    return levels + (
            f"- **Screen**: {n} configs (backend x precision x input size), each at the backend's default layout, "
            f"end to end (files on disk to detections, `yolopt bench`'s runner) on {sample} validation images "
            f"repeated for {screen_s:g} s.\n"
            "- **Score**: mAP50-95 on the whole validation set (`yolopt val`'s pipeline), model variants fastest "
            "first; for each, the smallest input size within the budget by bisection (accuracy rises with input "
            f"size), among the sizes still within {MARGIN:.0%} of the speed of the best config found within the "
            "budget so far (the others could not win).\n"
            f"- **Tune**: the best {k} within the budget at batch {', '.join(map(str, batches))} x (streams, "
            f"threads) layouts, {final_s:g} s each, {rounds} alternating rounds, best kept.\n"
            "- Every measurement is cached per machine and toolchain, keyed by the weights, backend, precision, "
            "input size and run settings: a re-run measures only what is new.")


def _explain(res: OptimizeResult, budget: Budget) -> None:
    """Fill ``chosen``, ``why`` and ``bought`` (the speed the accuracy budget bought over the best exact config)."""
    w = res.winner
    unit = "img/s end to end" if budget.objective == "throughput" else "ms p50 latency"
    if w is None:
        scored = [r for r in res.rows if r.accuracy]
        res.why = (f"No configuration reached mAP50-95 >= {res.base_map - res.max_drop:.4f} (PyTorch FP32 "
                   f"{res.base_map:.4f} minus {res.max_drop:g})" + (" within the latency budget" if
                   budget.latency_ms else "") + f"; {len(scored)} configs were scored (see the table).")
        return
    c = w.config
    res.chosen = {"model": c.variant.source or res.model, "backend": c.variant.backend,
                  "precision": c.variant.precision, "imgsz": c.imgsz,
                  "batch": c.batch, "streams": c.streams or w.speed.get("streams"), "threads": c.threads,
                  "end-to-end img/s": w.e2e, "p50 latency ms": w.speed.get("latency_ms"),
                  "mAP50-95": w.accuracy.get("map50_95"), "mAP50": w.accuracy.get("map50"),
                  "drop vs PyTorch FP32": w.drop, "exact (FP32 results)": budget.exact(c)}
    if c.variant.source:
        res.chosen["pruning"] = describe(res.pruning.get(c.variant.source))
    value = w.e2e if budget.objective == "throughput" else w.latency
    res.why = (f"**{c.variant.label} at {c.imgsz} px, batch {c.batch}** is the best {budget.objective} "
               f"({value} {unit}) among the configs whose mAP50-95 is within {res.max_drop:g} of PyTorch FP32's "
               f"{res.base_map:.4f} (its own: {w.accuracy.get('map50_95')}, drop {w.drop:+.4f})"
               + (f" and whose p50 latency is under {budget.latency_ms:g} ms" if budget.latency_ms else "")
               + ". Faster configs missed the accuracy budget; slower ones could not win (see the table).")
    base = next((r for r in res.rows if r.stage == "baseline"), None)
    if budget.exact(c):
        res.bought = ("The winner is exact (FP32 results at the model's own input size): nothing faster fits "
                      "the budget.")
    elif base is not None:
        b = base.config
        how = ("measured side by side in the same alternating rounds" if not (base.cached or w.cached) else
               "in the same final stage (some of these figures come from the cache: measured in an earlier run)")
        if budget.objective == "throughput":
            res.bought = (f"Allowing a drop of {res.max_drop:g} mAP50-95 bought **{w.e2e / base.e2e:.2f}x** the "
                          f"end-to-end throughput of the fastest exact configuration ({b.variant.label} at {b.imgsz}, "
                          f"{b.settings}: {base.e2e} img/s, against {w.e2e} img/s), {how}, for a measured drop of "
                          f"{w.drop:.4f}.")
        else:
            res.bought = (f"Allowing a drop of {res.max_drop:g} mAP50-95 took p50 latency from {base.latency} ms "
                          f"(fastest exact: {b.variant.label} at {b.imgsz}) to {w.latency} ms, {how}, for a measured "
                          f"drop of {w.drop:.4f}.")


def _write_recipe(res: OptimizeResult, out: Path) -> Path:
    from ...eval.val import VAL_IOU
    from .recipe import write_recipe

    w = res.winner
    assert w is not None
    c = w.config
    values = {"model": res.files["model"].name, "backend": c.variant.backend, "precision": c.variant.precision,
              "imgsz": c.imgsz, "conf": 0.25, "iou": VAL_IOU, "max_det": 300, "batch": c.batch,
              "streams": c.streams or w.speed.get("streams"), "threads": c.threads}
    extra = {"objective": res.objective, "max_drop": res.max_drop, "reference_map50_95": res.base_map,
             "map50_95": w.accuracy.get("map50_95"), "map50": w.accuracy.get("map50"),
             "e2e_img_s": w.e2e, "latency_p50_ms": w.speed.get("latency_ms"), "source_model": res.model,
             "pruned_model": c.variant.source or None, "pruning": res.pruning.get(c.variant.source)}
    return write_recipe(out / "deploy.json", values, extra)


def _bench_precision(v: Variant) -> str | None:
    """``yolopt bench --precisions`` for a variant's file: what it holds, or for OpenVINO INT8 nothing (FP32 run)."""
    from ...backends import registry

    if v.precision == "fp32" or (v.precision == "int8" and registry.get(v.backend).precision_option):
        return None
    return v.precision


def _commands(res: OptimizeResult, model: Any, val: Any, calib: Any, out: Path, imgsz: tuple[int, int, int],
              backends: list[str] | None, precisions: list[str] | None, pruned: list[str],
              prune: PruneLevels | None) -> list[str]:
    from ...report.command import command_line

    sizes = None if tuple(imgsz) == (640, 320, 32) else ":".join(map(str, imgsz))
    lines = ["# the search (run again: measurements come from the cache)",
             command_line("optimize", model=model, val=val, calib=calib, max_drop=res.max_drop,
                          objective=res.objective, sizes=sizes, backends=",".join(backends) if backends else None,
                          precisions=",".join(precisions) if precisions else None,
                          pruned=",".join(pruned) if pruned else None, **_prune_options(prune), out=out)]
    if res.winner is not None:
        c = res.winner.config
        recipe = out / "deploy.json"
        lines += ["# run the chosen deployment", command_line("predict", "IMAGES", recipe=recipe),
                  command_line("serve", recipe=recipe), "# re-measure it end to end in a fresh process",
                  command_line("bench", "IMAGES", model=res.files["model"], backends=c.variant.backend,
                               imgsz=c.imgsz, batches=c.batch, precisions=_bench_precision(c.variant))]
    return lines


def _prune_options(prune: PruneLevels | None) -> dict[str, Any]:
    """The ``--prune*`` options that reproduce ``prune`` (defaults left out)."""
    if prune is None:
        return {}
    d = PruneLevels(prune.levels, None)
    changed = {f"prune_{k}": getattr(prune, k) for k in ("epochs", "teacher", "batch", "workers")
               if getattr(prune, k) != getattr(d, k)}
    if "prune_teacher" in changed and changed["prune_teacher"] is None:
        changed["prune_teacher"] = "none"
    return {"prune": ",".join(f"{lv:g}" for lv in prune.levels), "prune_data": prune.data,
            "prune_imgsz": prune.imgsz, **changed}
