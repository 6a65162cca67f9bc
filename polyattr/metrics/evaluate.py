"""``evaluate(model, X, methods, metrics)``: a table of metrics for several methods and inputs.

Each (input, method, metric) cell is a :class:`MetricValue`; the table averages over the inputs
(exactly, when every cell is an exact rational).  The regions of the box around each input are
enumerated once and shared by infidelity and the exact sensitivities; one random generator
(seeded by ``rng``) drives every sampled cell, and its seed is reported in every sampled row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.geometry.regions import DEFAULT_MAX_REGIONS
from polyattr.metrics.box_regions import box_regions
from polyattr.metrics.infidelity import infidelity, infidelity_optimal_scale
from polyattr.metrics.methods import as_method_calls, attribute_call
from polyattr.metrics.perturbations import UniformBox, as_perturbation, normalise_rng
from polyattr.metrics.quadratic import exact_vector, float_vector, infidelity_quadratic_form
from polyattr.metrics.removal import (completeness_gap, deletion_aopc, faithfulness_correlation, insertion_aopc,
                                      recall_at_k, sensitivity_n)
from polyattr.metrics.result import MetricValue, encode_number
from polyattr.metrics.sensitivity import LOCAL_RULES, sensitivity
from polyattr.models.protocol import PiecewiseAffineModel, require_model

#: Metric names of the contract (DESIGN.md), in table order.
METRICS = ("infidelity", "infidelity_optimal_scale", "sensitivity_avg", "sensitivity_max",
           "faithfulness_correlation", "sensitivity_n", "deletion_aopc", "insertion_aopc",
           "completeness_gap", "recall_at_k")
#: Metrics computed when none are named (recall_at_k needs a ground truth).
DEFAULT_METRICS = METRICS[:-1]


@dataclass(eq=False)
class EvaluationTable:
    """Methods x metrics, per input and averaged over the inputs.

    ``cells[(i, method, metric)]`` is the :class:`MetricValue` of input i; :meth:`average` the
    mean over the inputs.
    """

    methods: list
    metrics: list
    points: list
    cells: dict
    seconds: float
    seed: int | None = None
    info: dict = field(default_factory=dict)

    def cell(self, method: str, metric: str, point: int) -> MetricValue:
        try:
            return self.cells[(point, method, metric)]
        except KeyError:
            raise PolyattrError(f"table: no cell for point {point}, method {method!r}, metric {metric!r}") from None

    def average(self, method: str, metric: str) -> MetricValue:
        """The mean over the inputs: exact when every cell is exact; the bound is the mean bound
        (a sampled half-width stays conservative); cells where the metric is undefined are left
        out (``info["undefined_points"]``)."""
        cells = [self.cell(method, metric, i) for i in range(len(self.points))]
        defined = [c for c in cells if c.value is not None]
        undefined = [i for i, c in enumerate(cells) if c.value is None]
        if not defined:
            return MetricValue(metric, None, False, 0.0, kind="undefined", info={"undefined_points": undefined})
        if len(cells) == 1:
            return cells[0]
        n = len(defined)
        kinds = {c.kind for c in defined}
        kind = "lower_bound" if "lower_bound" in kinds else "sampled" if "sampled" in kinds else "deterministic"
        if all(c.exact for c in defined):
            value, exact = sum((c.value for c in defined), Fraction(0)) / n, True
        else:
            value, exact = float(np.mean([float(c.value) for c in defined])), False
        bound = float(np.mean([c.error_bound for c in defined]))
        samples = [c.n_samples for c in defined if c.n_samples is not None]
        return MetricValue(metric, value, exact, bound, kind=kind, n_samples=sum(samples) if samples else None,
                           seed=self.seed if kind != "deterministic" else None,
                           info={"points": n, "undefined_points": undefined})

    def rows(self, per_point: bool = False) -> list[dict]:
        out = []
        for method in self.methods:
            for metric in self.metrics:
                if per_point:
                    for i in range(len(self.points)):
                        out.append(dict(_row(method, self.cell(method, metric, i)), point=i))
                else:
                    out.append(_row(method, self.average(method, metric)))
        return out

    def to_json(self, per_point: bool = False) -> dict:
        """``{"rows": [{"method", "metric", "value", "exact", "error_bound", "n_samples", "seed", "kind"}], "seconds"}``
        (exact values as "p/q" strings; ``per_point`` adds one row per input with "point")."""
        return {"rows": self.rows(per_point), "seconds": float(self.seconds)}

    def to_dict(self, per_point: bool = False) -> dict:
        """Same as :meth:`to_json` (every result object of polyattr serialises with ``to_dict``)."""
        return self.to_json(per_point)

    def to_text(self) -> str:
        width = max(len(m) for m in self.metrics) + 2
        lines = [f"{'metric':<{width}}" + "".join(f"{m:>24}" for m in self.methods)]
        for metric in self.metrics:
            cells = []
            for method in self.methods:
                c = self.average(method, metric)
                cells.append(f"{_short(c):>24}")
            lines.append(f"{metric:<{width}}" + "".join(cells))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"EvaluationTable({len(self.methods)} methods x {len(self.metrics)} metrics, {len(self.points)} points)\n" + self.to_text()

    def plot(self, path=None, axes=None):
        """One panel per metric, a bar per method (the average; error bars: the stated bound; a
        lower bound is drawn as a bar with an upward arrow).  Returns the figure."""
        import matplotlib

        if path is not None and axes is None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        k = len(self.metrics)
        if axes is None:
            cols = min(k, 3)
            rows = -(-k // cols)
            fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
            axes = list(axes.ravel())
        else:
            axes = list(np.ravel(axes))
            fig = axes[0].figure
        for ax, metric in zip(axes, self.metrics):
            vals, errs, colors = [], [], []
            for method in self.methods:
                c = self.average(method, metric)
                vals.append(0.0 if c.value is None else float(c.value))
                errs.append(c.error_bound if c.kind != "lower_bound" else 0.0)
                colors.append("tab:gray" if c.value is None else "tab:orange" if c.kind == "lower_bound"
                              else "tab:blue" if c.kind == "sampled" else "tab:green")
            pos = np.arange(len(self.methods))
            ax.bar(pos, vals, yerr=errs, color=colors, capsize=3)
            for p, method in zip(pos, self.methods):
                if self.average(method, metric).kind == "lower_bound":
                    ax.annotate("", xy=(p, vals[p] * 1.15 if vals[p] else 0.1), xytext=(p, vals[p]),
                                arrowprops=dict(arrowstyle="->"))
            ax.set_xticks(pos)
            ax.set_xticklabels(self.methods, rotation=30, ha="right", fontsize=8)
            ax.set_title(metric, fontsize=9)
        for ax in axes[len(self.metrics):]:
            ax.axis("off")
        fig.suptitle("green: exact/deterministic, blue: sampled (CI), orange: sampled lower bound", fontsize=8)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig


def _row(method: str, c: MetricValue) -> dict:
    return {"method": method, "metric": c.metric, "value": encode_number(c.value), "exact": bool(c.exact),
            "error_bound": float(c.error_bound), "n_samples": c.n_samples, "seed": c.seed, "kind": c.kind}


def _short(c: MetricValue) -> str:
    if c.value is None:
        return "undefined"
    v = float(c.value)
    if c.exact:
        return f"{v:.6g} (exact)"
    if c.kind == "sampled":
        return f"{v:.4g} ±{c.error_bound:.1g}"
    if c.kind == "lower_bound":
        return f">= {v:.4g}"
    return f"{v:.6g}"


def _as_points(X, d: int, exact: bool) -> list:
    arr = np.asarray(X, dtype=object)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != d or arr.shape[0] == 0:
        raise PolyattrError(f"X: expected inputs of shape (n, {d}), got shape {np.shape(X)}")
    return [exact_vector(row, d, "X") if exact else float_vector(row, d, "X") for row in arr]


def evaluate(model: PiecewiseAffineModel, X, methods, metrics=None, *, radius=None, perturbation=None, baseline=None,
             domain=None, output: int | None = None, exact: bool = False, rng=None, n_samples: int | None = None,
             ground_truth=None, k: int | None = None, subset_size: int | None = None, relative: bool = False,
             max_regions: int | None = DEFAULT_MAX_REGIONS, progress: bool | None = None) -> EvaluationTable:
    """Evaluate attribution ``methods`` at the inputs ``X`` with ``metrics``.

    Parameters
    ----------
    model : PiecewiseAffineModel
    X : array-like (n, d) or (d,)
    methods : names, (name, options) pairs or MethodCalls (see :func:`polyattr.attribute`)
    metrics : names from :data:`METRICS` (default :data:`DEFAULT_METRICS`)
    radius : half-width of the uniform box of infidelity and sensitivity (default 0.1)
    perturbation : law of I for infidelity (default the uniform box; see
        :func:`~polyattr.metrics.infidelity_quadratic_form`)
    baseline : the reference of the methods that need one and of the removal metrics (default 0)
    domain, output : as in :func:`polyattr.attribute`
    exact : bool
        Rational arithmetic; exact metrics are Fractions.
    rng : seed or Generator for every sampled cell (a fresh reported seed when None)
    n_samples : draws per sampled cell (defaults per metric)
    ground_truth, k : the feature set and k of ``recall_at_k``
    subset_size : subset size of ``faithfulness_correlation`` (default d // 2)
    relative : divide sensitivity_max by ||phi(x)|| (Captum's convention)

    Returns
    -------
    EvaluationTable
    """
    start = time.perf_counter()
    require_model(model)
    calls = as_method_calls(methods)
    names = list(DEFAULT_METRICS if metrics is None else ([m.strip() for m in metrics.split(",") if m.strip()]
                                                           if isinstance(metrics, str) else metrics))
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise PolyattrError(f"metrics: unknown {unknown or names}; expected names from {', '.join(METRICS)}")
    if "recall_at_k" in names and ground_truth is None:
        raise PolyattrError("ground_truth: recall_at_k needs the set of truly important features (ground_truth=[...])")
    out = model.check_output(output)
    d = model.n_inputs
    points = _as_points(X, d, exact)
    gen, seed = normalise_rng(rng)
    law = as_perturbation(perturbation, radius)
    sample_kw = {} if n_samples is None else {"n_samples": n_samples}
    cells = {}
    from tqdm.auto import tqdm

    # every method on every input in one batch call (partitions shared across the rows)
    batches = {}
    for call in calls:
        res = attribute_call(model, np.array(points, dtype=object if exact else float), call, baseline=baseline,
                             domain=domain, output=out, exact=exact, max_regions=max_regions)
        batches[call.label] = (np.asarray(res.values).reshape(len(points), d), 0.0 if res.exact else float(res.error_bound))
    bar = tqdm(total=len(points) * len(calls), desc="evaluate", disable=not progress)
    for i, x in enumerate(points):
        box = None
        if isinstance(law, UniformBox) and any(m in names for m in ("infidelity", "infidelity_optimal_scale",
                                                                       "sensitivity_avg", "sensitivity_max")):
            box = box_regions(model, x, law.half_widths(d, exact), out, exact, max_regions)
        form = None
        if "infidelity" in names or "infidelity_optimal_scale" in names:
            form = infidelity_quadratic_form(model, x, perturbation=law, output=out, exact=exact, max_regions=max_regions,
                                             rng=gen, regions=box, **sample_kw)
        for call in calls:
            phi, phi_error = batches[call.label][0][i], batches[call.label][1]
            sens = None
            for metric in names:
                common = dict(output=out, exact=exact, phi_error=phi_error)
                if metric == "infidelity":
                    value = infidelity(model, x, phi, form=form, **common)
                elif metric == "infidelity_optimal_scale":
                    value = infidelity_optimal_scale(model, x, phi, form=form, **common)
                elif metric in ("sensitivity_avg", "sensitivity_max"):
                    if sens is None:
                        sens = sensitivity(model, x, [call], law.radius if isinstance(law, UniformBox) else radius,
                                           baseline=baseline, domain=domain, output=out, exact=exact, rng=gen,
                                           relative=relative, max_regions=max_regions,
                                           regions=box if call.name in LOCAL_RULES else None, **sample_kw)
                    value = sens.average(0) if metric == "sensitivity_avg" else sens.maximum(0)
                elif metric == "faithfulness_correlation":
                    value = faithfulness_correlation(model, x, phi, baseline=baseline, subset_size=subset_size, rng=gen,
                                                     **common, **sample_kw)
                elif metric == "sensitivity_n":
                    value = sensitivity_n(model, x, phi, baseline=baseline, rng=gen, **common, **sample_kw)
                elif metric == "deletion_aopc":
                    value = deletion_aopc(model, x, phi, baseline=baseline, **common)
                elif metric == "insertion_aopc":
                    value = insertion_aopc(model, x, phi, baseline=baseline, **common)
                elif metric == "completeness_gap":
                    value = completeness_gap(model, x, phi, baseline=baseline, **common)
                else:
                    value = recall_at_k(phi, ground_truth, k, phi_error=phi_error)
                if value.kind in ("sampled", "lower_bound"):
                    value = replace(value, seed=seed)
                cells[(i, call.label, metric)] = value
            bar.update(1)
    bar.close()
    return EvaluationTable([c.label for c in calls], names, points, cells, time.perf_counter() - start, seed,
                           info={"perturbation": law.describe(d) if hasattr(law, "describe") else None})
