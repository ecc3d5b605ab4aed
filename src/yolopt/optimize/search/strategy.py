"""How the search spends its time: speed of everything first (cheap), accuracy only where it could still win.

1. *Screen*: every (variant, input size) at the backend's default run settings, a short speed run on a sample.
2. *Score*: model variants fastest first; for each, the smallest input size within the accuracy budget by
   bisection (accuracy rises with input size), among the sizes still fast enough to win (within ``margin`` of
   the best config found within the budget so far, since screening is short); a narrow miss (< ``NEAR``) at
   the largest of them is not taken as proof for the smaller ones. With ``max_drop == 0`` only
   exact configs (FP32 on an exact backend at the model's own input size) qualify.
3. *Tune*: the best few within the budget get batch x streams x threads layouts, measured longer, in
   alternating rounds (the best of each kept, so a burst of other load does not decide alone).
Every step stops when the time budget is spent; the winner is then chosen from what was measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .measure import Measurer
from .space import Config

#: A miss by less than this (mAP50-95) at one size is not taken as proof that smaller sizes miss too.
NEAR = 0.003
#: Configs within this fraction of the best feasible screened speed are still contenders (screening is short).
MARGIN = 0.85


@dataclass
class Row:
    """One measured (or skipped) configuration: a line of candidates.csv and of the report's table."""

    config: Config
    stage: str  # "screen" or "final"
    speed: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    drop: float | None = None
    feasible: bool | None = None  # None: accuracy not known
    note: str = ""
    cached: bool = False

    @property
    def e2e(self) -> float:
        return float(self.speed.get("e2e_img_s") or 0.0)

    @property
    def latency(self) -> float:
        return float(self.speed.get("latency_ms") or float("inf"))


@dataclass
class Budget:
    """What the winner must satisfy and what is optimised."""

    max_drop: float
    objective: str = "throughput"  # or "latency"
    latency_ms: float | None = None
    native_imgsz: int = 640

    def goodness(self, row: Row) -> float:
        """Higher is better: img/s for throughput, 1 / p50 latency for latency."""
        return row.e2e if self.objective == "throughput" else 1000.0 / row.latency if row.speed else 0.0

    def exact(self, cfg: Config) -> bool:
        return cfg.variant.exact and cfg.imgsz == self.native_imgsz


class Clock:
    """Elapsed time and the time budget (``None``: unbounded)."""

    def __init__(self, minutes: float | None):
        self.t0 = time.perf_counter()
        self.deadline = None if minutes is None else self.t0 + minutes * 60

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def out(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def stamp(self) -> str:
        m, s = divmod(int(self.elapsed), 60)
        return f"{m}m{s:02d}s"


def screen(configs: list[Config], m: Measurer, seconds: float, clock: Clock,
           say: Callable[[str], None]) -> list[Row]:
    """Stage 1: a short speed run of every config (default run settings) on the sample."""
    rows = []
    for i, cfg in enumerate(configs, 1):
        row = Row(cfg, "screen")
        rows.append(row)
        if clock.out():
            row.note = "not measured: time budget spent"
            continue
        try:
            row.speed, row.cached = m.speed(cfg, seconds, "screen")
        except Exception as e:  # noqa: BLE001 - a config that cannot run here is a row saying why, not the end
            row.note = f"failed: {type(e).__name__}: {e}"
            say(f"[{clock.stamp()}] speed {i}/{len(configs)} {cfg.variant.label} @{cfg.imgsz}: {row.note}")
            continue
        say(f"[{clock.stamp()}] speed {i}/{len(configs)} {cfg.variant.label} @{cfg.imgsz}: {row.e2e} img/s, "
            f"p50 {row.latency} ms" + (" (cached)" if row.cached else ""))
    return rows


def _admissible(row: Row, budget: Budget) -> bool:
    """Rule out, without scoring, configs over the latency budget and (``max_drop == 0``) inexact ones."""
    if budget.latency_ms is not None and row.latency > budget.latency_ms:
        row.feasible, row.note = False, f"p50 latency over the {budget.latency_ms:g} ms budget"
    elif budget.max_drop == 0 and not budget.exact(row.config):
        row.feasible, row.note = False, "not exact (--max-drop 0 keeps FP32 results)"
    return row.feasible is None


def score(rows: list[Row], m: Measurer, budget: Budget, base_map: float, clock: Clock,
          say: Callable[[str], None], margin: float = MARGIN) -> None:
    """Stage 2: accuracy where it decides something (fills ``accuracy``, ``drop`` and ``feasible``).

    Model variants are taken fastest first. Within one, accuracy rises with input size, so the smallest size
    within the budget is found by bisection among the sizes still fast enough to win (within ``margin`` of
    the best config already within the budget): the largest of them first (if it misses, they all do).
    """
    by_variant: dict[Any, list[Row]] = {}
    for r in rows:
        if r.speed and _admissible(r, budget):
            by_variant.setdefault(r.config.variant, []).append(r)
    best = 0.0  # goodness of the best config within the budget so far

    def check(row: Row) -> bool:
        nonlocal best
        if row.feasible is not None or row.note:
            return bool(row.feasible)
        if clock.out():
            row.note = "not scored: time budget spent"
            return False
        try:
            row.accuracy, cached = m.accuracy(row.config.variant, row.config.imgsz)
        except Exception as e:  # noqa: BLE001 - reported in the row; the search goes on
            row.feasible, row.note = False, f"failed: {type(e).__name__}: {e}"
            say(f"[{clock.stamp()}] mAP {row.config.variant.label} @{row.config.imgsz}: {row.note}")
            return False
        row.drop = round(base_map - row.accuracy["map50_95"], 4)
        row.feasible = row.drop <= budget.max_drop + 1e-9
        if row.feasible:
            best = max(best, budget.goodness(row))
        say(f"[{clock.stamp()}] mAP {row.config.variant.label} @{row.config.imgsz}: {row.accuracy['map50_95']:.4f} "
            f"(drop {row.drop:+.4f}, {'within' if row.feasible else 'over'} budget)" + (" (cached)" if cached else ""))
        return row.feasible

    for variant in sorted(by_variant, key=lambda v: -max(map(budget.goodness, by_variant[v]))):
        sized = sorted(by_variant[variant], key=lambda r: r.config.imgsz)
        cands = [r for r in sized if budget.goodness(r) >= margin * best]
        for r in sized:
            if r not in cands:
                r.note = "not scored: slower than a config within the budget"
        if not cands:
            continue
        top = len(cands) - 1
        while not check(cands[top]) and top > 0 and (cands[top].drop or 1.0) < budget.max_drop + NEAR:
            top -= 1  # a narrow miss proves nothing about the next size down (mAP is noisy at this scale)
        if not cands[top].feasible:
            for r in cands[:top]:
                r.feasible, r.note = False, f"not scored: over the budget already at {cands[top].config.imgsz}"
            continue
        cands = cands[: top + 1]
        lo, hi = 0, len(cands) - 1  # cands[hi] is within the budget; find the smallest size that is
        while lo < hi:
            mid = (lo + hi) // 2
            if check(cands[mid]):
                hi = mid
            else:
                lo = mid + 1
        for r in cands[:hi]:
            if r.feasible is None and not r.note:
                r.feasible, r.note = False, "not scored: below the smallest size within the budget (bisection)"
        for r in cands[hi + 1:]:
            if r.feasible is None and not r.note:
                r.note = f"not scored: larger than {cands[hi].config.imgsz}, within the budget (slower)"


def contenders(rows: list[Row], budget: Budget, k: int = 3, margin: float = MARGIN) -> list[Row]:
    """The best ``k`` feasible screened configs within ``margin`` of the best one."""
    ok = sorted((r for r in rows if r.feasible), key=budget.goodness, reverse=True)
    return [r for r in ok[:k] if budget.goodness(r) >= margin * budget.goodness(ok[0])]


def tune(finalists: list[Row], m: Measurer, budget: Budget, layouts: list[tuple[int, int]], batches: list[int],
         seconds: float, rounds: int, clock: Clock, say: Callable[[str], None],
         baseline: Row | None = None) -> list[Row]:
    """Stage 3: every finalist at every (batch, streams, threads), ``rounds`` alternating rounds, best kept.

    ``baseline`` (the fastest exact config) is measured in the same rounds at its own settings, so what the
    accuracy budget bought is a side-by-side ratio (its row's stage is "baseline"; it is never the winner
    unless it is a finalist too).
    """
    configs = [(f, f.config.with_settings(b, s, t)) for f in finalists for b in batches for s, t in layouts]
    if baseline is not None and baseline not in finalists:
        configs.append((baseline, baseline.config))
    best: dict[Config, Row] = {}
    for rnd in range(rounds):
        for i, (parent, cfg) in enumerate(configs, 1):
            if clock.out():
                break
            try:
                speed, cached = m.speed(cfg, seconds, f"final{rnd}")
            except Exception as e:  # noqa: BLE001
                say(f"[{clock.stamp()}] tune {cfg.label}: failed: {type(e).__name__}: {e}")
                continue
            say(f"[{clock.stamp()}] tune {rnd + 1}/{rounds} {i}/{len(configs)} {cfg.label}: {speed['e2e_img_s']} "
                f"img/s, p50 {speed['latency_ms']} ms" + (" (cached)" if cached else ""))
            row = best.get(cfg)
            if row is None or budget.goodness(Row(cfg, "final", speed)) > budget.goodness(row):
                stage = "baseline" if parent is baseline and parent not in finalists else "final"
                best[cfg] = Row(cfg, stage, speed, parent.accuracy, parent.drop, parent.feasible,
                                f"best of {rounds} rounds" + (": the fastest exact config, for comparison"
                                                              if stage == "baseline" else ""), cached)
    out = list(best.values())
    for r in out:
        if budget.latency_ms is not None and r.latency > budget.latency_ms:
            r.feasible, r.note = False, f"p50 latency over the {budget.latency_ms:g} ms budget"
    return out


def pick(rows: list[Row], budget: Budget) -> Row | None:
    """The winner: the best feasible final row, else the best feasible screened one."""
    for stage in ("final", "screen"):
        ok = [r for r in rows if r.stage == stage and r.feasible and r.speed]
        if ok:
            return max(ok, key=budget.goodness)
    return None
