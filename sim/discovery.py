"""Scenario discovery on a design's results: ``carenet discover DIR --where "EXPR"``.

Which region of the design's parameter space makes ``EXPR`` true? ``EXPR`` is evaluated
on each sample point (the mean over its replications), e.g.
``diff(net_monetary_benefit, network, hierarchy) > 0`` (network beats hierarchy), with:

- a metric name: its value (a design without arms, or with one arm);
- a design parameter's name (``handoff.trust_loss``): its value at the point;
- ``value(METRIC, ARM)``: its value under an arm;
- ``diff(METRIC, A, B)``: the paired difference, arm A minus arm B (same point, same
  seeds);
- numbers, ``+ - * /``, comparisons, ``and``, ``or``, ``not`` (nothing else is evaluated).

Two views of the answer:

1. **PRIM** (the Patient Rule Induction Method, Friedman and Fisher 1999, as used for
   scenario discovery by Bryant and Lempert 2010): starting from the whole space, peel
   off the ``alpha`` share of points (a slice at one end of one parameter, or one
   category) that most raises the share of points in the box where ``EXPR`` holds,
   until the box holds less than ``min_mass`` of the points. Each step is one box on the
   **coverage–density trade-off** (coverage: the share of all cases of interest inside
   the box; density: the share of the box's points that are cases). The chosen box is
   the first (largest coverage) whose density reaches ``threshold``, else the densest.
   For each parameter it restricts: a **quasi-p-value** (Bryant and Lempert 2010; the
   EMA Workbench's): the one-sided binomial chance of at least the box's cases among its
   points, were the density that of the box with this restriction removed; and its
   **stability**: the share of bootstrap resamples of the points whose chosen box also
   restricts it.
2. **CART** (scikit-learn's ``DecisionTreeClassifier``, a shallow tree): the same split
   as a tree of rules, with each leaf's share of cases.

PRIM is carenet's own implementation of the published algorithm (peeling; no pasting):
the EMA Workbench's PRIM is BSD-licensed, but the workbench requires ``platypus-opt``,
which is GPL-3.0, and the ``prim`` package is GPL too; neither may be a dependency of an
MIT project. A test checks the boxes on a function whose region is known.

Written into ``DIR``: ``discovery.md``, ``discovery_box.csv`` (the chosen box),
``discovery_trajectory.csv`` (every box of the trade-off), and
``figures/discovery_tradeoff.png`` and ``figures/discovery_tree.png``.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .sensitivity import AnalysisError, _design_record, _matrix, _runs_table, write_csv_atomic

DISCOVERY_FILE = "discovery.md"
BOX_FILE = "discovery_box.csv"
TRAJECTORY_FILE = "discovery_trajectory.csv"


# --- the expression ---------------------------------------------------------------------

_OPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}


class _Evaluator:
    """Evaluates a ``--where`` expression on every point of a design (see module doc)."""

    def __init__(self, folder: Path, rec: dict[str, Any], expr: str) -> None:
        self.folder, self.rec, self.expr = folder, rec, expr
        self.arms = list(rec.get("arms") or {})
        self.n = len(rec["points"])
        self.params = [p["name"] for p in rec["parameters"]]
        self._tables: dict[str, pd.DataFrame] = {}

    def fail(self, msg: str) -> AnalysisError:
        return AnalysisError(f"--where: {self.expr!r}: {msg}")

    def metric(self, name: str, arm: str) -> np.ndarray:
        if name not in self._tables:
            self._tables[name] = _runs_table(self.folder, [name])
        if arm and arm not in self.arms:
            raise self.fail(f"{arm!r} is not an arm; arms: {', '.join(self.arms)}")
        return _matrix(self.folder, name, arm, self._tables[name], self.n).mean(axis=1)

    def name(self, node: ast.AST) -> str:
        if not isinstance(node, ast.Name):
            raise self.fail("expected a name (a metric or an arm)")
        return node.id

    def call(self, node: ast.Call) -> np.ndarray:
        fn = node.func.id if isinstance(node.func, ast.Name) else ""
        if fn not in ("diff", "value") or node.keywords:
            raise self.fail("allowed calls: diff(METRIC, A, B), value(METRIC, ARM)")
        args = [self.name(a) for a in node.args]
        if fn == "diff" and len(args) == 3:
            return self.metric(args[0], args[1]) - self.metric(args[0], args[2])
        if fn == "value" and len(args) == 2:
            return self.metric(args[0], args[1])
        raise self.fail("allowed calls: diff(METRIC, A, B), value(METRIC, ARM)")

    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name | ast.Attribute):
            name = _dotted(node)
            if name is None:
                raise self.fail("expected a metric or parameter name")
            if name in self.params:  # a design parameter: the point's own value
                return np.array([v[self.params.index(name)] for v in self.rec["values"]])
            if len(self.arms) > 1:
                raise self.fail(f"{name}: name an arm: value({name}, ARM) or diff(...)")
            return self.metric(name, self.arms[0] if self.arms else "")
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
            v = self.eval(node.operand)
            return np.negative(v) if isinstance(node.op, ast.USub) else np.logical_not(v)
        if isinstance(node, ast.BoolOp):
            f = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            vals = [self.eval(v) for v in node.values]
            out = vals[0]
            for v in vals[1:]:
                out = f(out, v)
            return out
        if isinstance(node, ast.Compare) and all(type(o) in _OPS for o in node.ops):
            left, out = self.eval(node.left), None
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self.eval(comp)
                part = _OPS[type(op)](left, right)
                out = part if out is None else np.logical_and(out, part)
                left = right
            return out
        raise self.fail(f"{type(node).__name__} is not allowed here")


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` of a name or attribute chain (a dotted parameter), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def evaluate(folder: str | Path, expr: str) -> np.ndarray:
    """Whether ``expr`` holds at each sample point of the design in ``folder``.

    Raises:
        AnalysisError: One line, for an expression that cannot be read or evaluated.
    """
    folder = Path(folder)
    rec = _design_record(folder)
    ev = _Evaluator(folder, rec, expr)
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ev.fail(f"cannot be read ({exc.msg})") from None
    out = np.broadcast_to(np.asarray(ev.eval(tree)), (ev.n,))
    if out.dtype != bool:
        raise ev.fail("is not a condition (use a comparison, e.g. ... > 0)")
    return np.array(out, dtype=bool)


def point_frame(rec: dict[str, Any]) -> pd.DataFrame:
    """The design's parameter values, one row per point."""
    return pd.DataFrame(rec["values"], columns=[p["name"] for p in rec["parameters"]])


# --- PRIM -------------------------------------------------------------------------------


@dataclass
class Box:
    """One box: limits per parameter and how it scores.

    Attributes:
        limits: ``(low, high)`` for a number, a tuple of kept categories otherwise.
        coverage: Cases inside over all cases.
        density: Cases inside over points inside.
        mass: Points inside over all points.
    """

    limits: dict[str, Any]
    coverage: float
    density: float
    mass: float

    def restricted(self, full: dict[str, Any]) -> list[str]:
        """The parameters this box restricts."""
        return [k for k, v in self.limits.items() if v != full[k]]


def _numeric(x: pd.DataFrame) -> dict[str, bool]:
    return {c: pd.api.types.is_numeric_dtype(x[c]) for c in x.columns}


def full_limits(x: pd.DataFrame) -> dict[str, Any]:
    """The box holding every point."""
    num = _numeric(x)
    return {
        c: (float(x[c].min()), float(x[c].max())) if num[c] else tuple(sorted(set(map(str, x[c]))))
        for c in x.columns
    }


def in_box(x: pd.DataFrame, limits: dict[str, Any]) -> np.ndarray:
    """Which points are inside a box."""
    keep = np.ones(len(x), dtype=bool)
    for c, lim in limits.items():
        col = x[c]
        if isinstance(lim, tuple) and len(lim) == 2 and not isinstance(lim[0], str):
            keep &= (col.to_numpy(float) >= lim[0]) & (col.to_numpy(float) <= lim[1])
        else:
            keep &= col.astype(str).isin(lim).to_numpy()
    return keep


def _columns(x: pd.DataFrame) -> dict[str, tuple[bool, np.ndarray]]:
    """Each parameter as an array: (numeric?, values as floats or strings)."""
    num = _numeric(x)
    return {c: (num[c], x[c].to_numpy(float) if num[c] else x[c].astype(str).to_numpy()) for c in x}


def _candidates(cols: dict, idx: np.ndarray, limits: dict, alpha: float):
    """Every one-step peel of a box: (parameter, new limits, which of its points stay)."""
    for c, (numeric, arr) in cols.items():
        v = arr[idx]
        if numeric:
            lo, hi = limits[c]
            for low_side in (True, False):
                q = float(np.quantile(v, alpha if low_side else 1 - alpha))
                keep = v >= q if low_side else v <= q
                if keep.all():  # ties at the end: peel the end value itself
                    keep = v > v.min() if low_side else v < v.max()
                if keep.any() and not keep.all():
                    kept = v[keep]
                    yield c, (float(kept.min()), hi) if low_side else (lo, float(kept.max())), keep
        else:
            cats = sorted(set(v))
            for cat in cats if len(cats) > 1 else []:
                yield c, tuple(k for k in limits[c] if k != cat), v != cat


def prim(x: pd.DataFrame, y: np.ndarray, alpha: float = 0.05, min_mass: float = 0.05) -> list[Box]:
    """PRIM's peeling trajectory: the whole space first, then each peeled box.

    Args:
        x: Parameter values, one row per point.
        y: Whether each point is a case of interest.
        alpha: Share of the box's points peeled at each step.
        min_mass: Stop before a box holds less than this share of all points.

    Returns:
        The boxes, from the whole space to the last peel.
    """
    y = np.asarray(y, dtype=bool)
    total, n = max(int(y.sum()), 1), len(y)
    limits = full_limits(x)
    cols = _columns(x)
    idx = np.arange(n)
    boxes = [Box(dict(limits), y.sum() / total, float(y.mean()), 1.0)]
    while True:
        best = None
        for c, new, keep in _candidates(cols, idx, limits, alpha):
            if keep.sum() < min_mass * n:
                continue
            score = float(y[idx[keep]].mean())
            if best is None or score > best[0]:
                best = (score, c, new, keep)
        if best is None or best[0] <= boxes[-1].density:
            return boxes
        score, c, new, keep = best
        limits = {**limits, c: new}
        idx = idx[keep]
        boxes.append(Box(dict(limits), y[idx].sum() / total, score, len(idx) / n))


def choose(boxes: list[Box], threshold: float) -> int:
    """The chosen box: the first whose density reaches ``threshold``, else the densest."""
    for i, b in enumerate(boxes):
        if b.density >= threshold:
            return i
    return int(np.argmax([b.density for b in boxes]))


def quasi_p(x: pd.DataFrame, y: np.ndarray, box: Box, full: dict[str, Any]) -> dict[str, float]:
    """Each restriction's quasi-p-value (one-sided binomial test, see the module doc)."""
    from scipy.stats import binom

    inside = in_box(x, box.limits)
    k, n = int(y[inside].sum()), int(inside.sum())
    out = {}
    for c in box.restricted(full):
        relaxed = in_box(x, {**box.limits, c: full[c]})
        p0 = float(y[relaxed].mean())
        out[c] = float(binom.sf(k - 1, n, p0))
    return out


def stability(
    x: pd.DataFrame, y: np.ndarray, threshold: float, resamples: int, seed: int, **kw: float
) -> dict[str, float]:
    """Share of bootstrap resamples whose chosen box restricts each parameter."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(x.columns, 0)
    for _ in range(resamples):
        pick = rng.integers(0, len(y), len(y))
        xs, ys = x.iloc[pick].reset_index(drop=True), y[pick]
        boxes = prim(xs, ys, **kw)
        for c in boxes[choose(boxes, threshold)].restricted(full_limits(xs)):
            counts[c] += 1
    return {c: counts[c] / max(resamples, 1) for c in x.columns}


# --- the command's work -----------------------------------------------------------------


def discover(
    folder: str | Path,
    where: str,
    threshold: float = 0.8,
    alpha: float = 0.05,
    min_mass: float = 0.05,
    resamples: int = 30,
    seed: int = 12345,
    depth: int = 3,
) -> dict[str, Any]:
    """PRIM and CART on a design's results; writes the files listed in the module doc.

    Args:
        folder: The design's sweep folder.
        where: The condition that makes a point a case of interest.
        threshold: Density the chosen box must reach.
        alpha: PRIM's peeling share.
        min_mass: PRIM's smallest box, as a share of the points.
        resamples: Bootstrap resamples for the stability of the chosen box.
        seed: Seed of the resampling.
        depth: Depth of the CART tree.

    Returns:
        ``{"cases", "points", "box", "trajectory", "chosen", "tree"}``.

    Raises:
        AnalysisError: One line, for an expression or folder that does not fit.
    """
    folder = Path(folder)
    rec = _design_record(folder)
    y = evaluate(folder, where)
    x = point_frame(rec)
    if y.all() or not y.any():
        raise AnalysisError(
            f"--where: {where!r} holds at {'every' if y.all() else 'no'} point of the design; "
            "there is no region to find"
        )
    kw = {"alpha": alpha, "min_mass": min_mass}
    boxes = prim(x, y, **kw)
    i = choose(boxes, threshold)
    full = full_limits(x)
    box = boxes[i]
    pvals = quasi_p(x, y, box, full)
    stab = stability(x, y, threshold, resamples, seed, **kw)
    box_table = _box_table(box, full, pvals, stab)
    traj = trajectory_table(boxes, full)

    tree = cart(x, y, depth, seed)
    write_csv_atomic(box_table, folder / BOX_FILE)
    write_csv_atomic(traj, folder / TRAJECTORY_FILE)
    result = {
        "cases": int(y.sum()),
        "points": len(y),
        "box": box_table,
        "trajectory": traj,
        "chosen": i,
        "tree": tree,
        "where": where,
        "threshold": threshold,
    }
    _figures(folder, traj, i, tree)
    _write_md(folder, result)
    return result


def trajectory_table(boxes: list[Box], full: dict[str, Any]) -> pd.DataFrame:
    """The coverage-density trade-off: one row per box of the peeling trajectory."""
    rows = [
        {
            "step": k,
            "coverage": b.coverage,
            "density": b.density,
            "mass": b.mass,
            "restricted": len(b.restricted(full)),
        }
        for k, b in enumerate(boxes)
    ]
    return pd.DataFrame(rows)


def _box_table(box: Box, full: dict, pvals: dict, stab: dict) -> pd.DataFrame:
    rows = []
    for c, lim in box.limits.items():
        numeric = isinstance(lim, tuple) and len(lim) == 2 and not isinstance(lim[0], str)
        rows.append(
            {
                "parameter": c,
                "restricted": lim != full[c],
                "low": lim[0] if numeric else math.nan,
                "high": lim[1] if numeric else math.nan,
                "categories": "" if numeric else "|".join(lim),
                "full_low": full[c][0] if numeric else math.nan,
                "full_high": full[c][1] if numeric else math.nan,
                "quasi_p": pvals.get(c, math.nan),
                "stability": stab.get(c, math.nan),
            }
        )
    return pd.DataFrame(rows)


def cart(x: pd.DataFrame, y: np.ndarray, depth: int, seed: int) -> dict[str, Any]:
    """A shallow classification tree (scikit-learn) of where the condition holds."""
    from sklearn.tree import DecisionTreeClassifier, export_text

    xd = pd.get_dummies(x, dtype=float)
    leaf = max(5, len(y) // 50)
    clf = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=leaf, random_state=seed)
    clf.fit(xd.to_numpy(float), y)
    return {
        "model": clf,
        "features": list(xd.columns),
        "text": export_text(clf, feature_names=list(xd.columns), show_weights=True),
        "accuracy": float(clf.score(xd.to_numpy(float), y)),
    }


def _figures(folder: Path, traj: pd.DataFrame, chosen: int, tree: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.tree import plot_tree

    figs = folder / "figures"
    figs.mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    sc = ax.scatter(traj["coverage"], traj["density"], c=traj["restricted"], cmap="viridis")
    ax.scatter(
        traj["coverage"][chosen],
        traj["density"][chosen],
        s=160,
        facecolors="none",
        edgecolors="red",
        label="chosen box",
    )
    fig.colorbar(sc, label="parameters restricted")
    ax.set_xlabel("coverage")
    ax.set_ylabel("density")
    ax.set_title("PRIM: coverage-density trade-off")
    ax.legend()
    fig.tight_layout()
    fig.savefig(figs / "discovery_tradeoff.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(10, 5))
    plot_tree(
        tree["model"],
        feature_names=tree["features"],
        class_names=["no", "yes"],
        filled=True,
        ax=ax,
        fontsize=7,
    )
    fig.tight_layout()
    fig.savefig(figs / "discovery_tree.png", dpi=100)
    plt.close(fig)


def box_lines(box: pd.DataFrame) -> list[str]:
    """The chosen box as Markdown table lines (restricted parameters only)."""
    lines = ["| parameter | box | full range | quasi-p | stability |", "|---|---|---|---|---|"]
    for r in box[box["restricted"]].itertuples():
        if r.categories:
            span, full = r.categories.replace("|", ", "), "all"
        else:
            span, full = f"{r.low:.4g} to {r.high:.4g}", f"{r.full_low:.4g} to {r.full_high:.4g}"
        lines.append(f"| {r.parameter} | {span} | {full} | {r.quasi_p:.2g} | {r.stability:.0%} |")
    return lines


def _write_md(folder: Path, res: dict[str, Any]) -> None:
    from .runner import hidden_name

    t = res["trajectory"].iloc[res["chosen"]]
    lines = [
        "# Scenario discovery",
        "",
        f"Condition: `{res['where']}`: holds at {res['cases']} of {res['points']} sample "
        f"points ({res['cases'] / res['points']:.0%}).",
        "",
        f"## PRIM: chosen box (step {res['chosen']}; density threshold {res['threshold']:g})",
        "",
        f"Coverage {t['coverage']:.0%} (of the points where the condition holds, the share "
        f"inside the box), density {t['density']:.0%} (of the points inside, the share where "
        f"it holds), mass {t['mass']:.0%} of all points.",
        "",
        *box_lines(res["box"]),
        "",
        "Quasi-p: one-sided binomial test of each restriction (small: it matters). "
        "Stability: share of bootstrap resamples whose chosen box also restricts it.",
        "The whole trade-off: `discovery_trajectory.csv`, `figures/discovery_tradeoff.png`.",
        "",
        f"## CART tree (training accuracy {res['tree']['accuracy']:.0%})",
        "",
        "```text",
        res["tree"]["text"].rstrip(),
        "```",
        "",
        "![trade-off](figures/discovery_tradeoff.png)",
        "![tree](figures/discovery_tree.png)",
        "",
    ]
    path = folder / DISCOVERY_FILE
    tmp = path.with_name(hidden_name(path.name, "tmp"))
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
