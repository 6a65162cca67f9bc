"""Certificate files: everything an independent checker needs to recompute an exact attribution.

:func:`write_certificate` writes one JSON object (sorted keys, compact, rationals as "p/q"
strings, regions and vertices in a canonical order, no timings), so the same command gives a
byte-identical file.  :mod:`polyattr.certify.verify` rechecks it without the enumeration code.

Format (version 1), top level::

    format "polyattr-certificate", version 1,
    model {canonical_sha256, inputs, neurons, outputs[, file, sha256]}, output k, method, options,
    domain {lower, upper}, x, baseline (or null), values ["p/q", ...], kind, trace

``model.canonical_sha256`` is the SHA-256 of the model's canonical exact weights
(:meth:`~polyattr.models.relu.ReLUNetwork.canonical_hash`): in-memory and imported models are named
by their weights, and a certificate of a model file also records the file's name and SHA-256.
The trace is what :func:`polyattr.attribute` recorded with ``certify=True`` during the computation.

``kind`` and ``trace`` by method:

* ``"measure"`` (occlusion, shapley, pdp, ice, shapley_uniform, fafp_local, fafp_global, measure):
  ``trace = {pieces, features}``.  A piece is ``{"id", "type": "points", "points", "weights",
  "values", "integral"}`` or ``{"id", "type": "density", "support", "mass", "regions",
  "integral"}``: ``mass`` times the uniform probability on ``support`` (box {lower, upper}; slice
  {lower, upper, fixed: [[i, v], ...]}; segment {start, end}, uniform in t).  Each region:
  ``pattern`` ("0"/"1" per hidden neuron), ``facets`` (irredundant H-form in the support's reduced
  coordinates u: [source, [a...], b] meaning a.u <= b, source = neuron n or n_neurons + domain row),
  ``vertices`` (reduced coordinates), ``mass`` (mu of the region), ``moment`` (integral of z d mu,
  input coordinates), ``contribution`` (w_P . moment + b_P mass).  ``features[j]`` is a list of
  [coefficient, piece id]: value_j = sum coefficient * integral.
* ``"gradient"`` (gradient, gradient_x_input): ``trace = {pattern, witness}``: x satisfies the
  pattern's sign conditions (closed region), the witness strictly (the region is full-dimensional);
  values = w_P (times x for gradient_x_input).
* ``"path"`` (ig, expected_gradients): ``trace = {paths: [{start, end, pieces: [{t0, t1,
  pattern}]}]}``; values = mean over paths of (end - start) * sum (t1 - t0) w_P.
* ``"box_moments"`` (smoothgrad_uniform, lime_uniform): ``trace = {radius, piece}``, one density piece
  (uniform probability on the noise box [x - r, x + r]) whose regions carry ``mass``, ``moment``
  and, for lime, ``moment2``; values from the regions' masses and gradients (smoothgrad) or from
  the normal equations (lime).
* ``"propagation"`` (deeplift, epsilon_lrp): ``trace = {factors}`` (the Rescale multipliers per
  hidden layer) or ``{epsilon}``; the checker recomputes the rule from the model.

For smoothgrad the region ``contribution`` is the vector mass * w_P; for lime the regions carry
``moment2`` (integral of z z^T d mu) and the checker solves the normal equations itself.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.numbers import long_integer_strings

FORMAT = "polyattr-certificate"
VERSION = 1

def q(v) -> str:
    """A rational as "p/q" (always with the slash)."""
    f = Fraction(v)
    with long_integer_strings():
        return f"{f.numerator}/{f.denominator}"


def qs(values) -> list:
    return [q(v) for v in values]


def _pattern_string(pattern) -> str:
    return "".join("1" if p else "0" for p in np.asarray(pattern, bool))


# ------------------------------------------------------------------------------- supports
def support_json(domain) -> dict:
    from polyattr.geometry.domains import AffineSlice, Box, Segment

    if isinstance(domain, Box):
        return {"type": "box", "lower": qs(domain.lower), "upper": qs(domain.upper)}
    if isinstance(domain, AffineSlice):
        return {"type": "slice", "lower": qs(domain.box.lower), "upper": qs(domain.box.upper),
                "fixed": [[int(i), q(v)] for i, v in sorted(domain.fixed.items())]}
    if isinstance(domain, Segment):
        return {"type": "segment", "start": qs(domain.start), "end": qs(domain.end)}
    raise PolyattrError(f"certificate: unsupported support {type(domain).__name__}")


def regions_json(regions, m0, m1, contributions, M2=None) -> list:
    """Per region of an ExactRegionSet: pattern, facets, vertices, mass, moment, contribution."""
    out = []
    for i, r in enumerate(regions.regions):
        entry = {
            "pattern": _pattern_string(r.pattern),
            "facets": [[int(s), qs(a), q(b)] for s, a, b in r.rows],
            "vertices": [qs(v) for v in r.vertices],
            "mass": q(m0[i]),
            "moment": qs(m1[i]),
        }
        if contributions is not None:
            c = contributions[i]
            entry["contribution"] = qs(c) if isinstance(c, (list, np.ndarray)) else q(c)
        if M2 is not None:
            entry["moment2"] = [qs(row) for row in M2[i]]
        out.append(entry)
    return out


# --------------------------------------------------------------------------- measure traces
def measure_family(method: str, model, x, baseline, domain, options):
    """The measures mu_{j,x} of a measure method, from its spec's ``family``."""
    from polyattr.attribution.registry import get_method

    spec = get_method(method)
    if spec.family is None:
        raise PolyattrError(f"certificate: {method!r} is not a measure method")
    return spec.family(x, baseline, domain, options)


def measure_trace(integ, family) -> tuple[dict, list]:
    """The trace of a family from the run's recording integrator: (trace, values).

    The family's pieces were integrated during the run (a method may have combined them
    differently, e.g. Shapley from coalition values), so integrating the family again only reads
    the integrator's cache and its records: no region enumeration and no moment is recomputed.
    """
    integ.trace_calls.clear()
    values = [integ.integrate(mu)[0] for mu in family]
    used, order = {}, []
    for combination in integ.trace_calls:  # number the pieces in order of first use
        for _, pid in combination:
            if pid not in used:
                used[pid] = len(used)
                order.append(pid)
    by_id = {e["id"]: e for e in integ.trace_pieces.values()}
    pieces = []
    for pid in order:
        entry = by_id[pid]
        piece = entry["piece"]
        if "regions" in entry:
            if piece.polynomials is not None or getattr(piece, "polynomial", None) is not None:
                raise PolyattrError("certificate: pieces with polynomial densities are not supported yet (uniform only)")
            regions, m0, m1, W, b = entry["regions"], entry["m0"], entry["m1"], entry["W"], entry["b"]
            contributions = [sum((Fraction(W[i, j]) * m1[i, j] for j in range(W.shape[1])), start=Fraction(0))
                             + Fraction(b[i]) * m0[i] for i in range(len(regions))]
            pieces.append({"id": used[pid], "type": "density", "support": support_json(piece.domain),
                           "mass": q(piece.mass), "regions": regions_json(regions, m0, m1, contributions),
                           "integral": q(entry["value"])})
        else:
            pieces.append({"id": used[pid], "type": "points",
                           "points": [qs(p) for p in piece.points], "weights": qs(piece.weights),
                           "values": qs(entry["values"]), "integral": q(entry["value"])})
    features = []
    for combination in integ.trace_calls:
        merged: dict[int, Fraction] = {}
        for coef, pid in combination:
            merged[used[pid]] = merged.get(used[pid], Fraction(0)) + Fraction(coef)
        features.append([[q(c), pid] for pid, c in sorted(merged.items()) if c != 0])
    return {"pieces": pieces, "features": features}, values


# -------------------------------------------------------------------------- gradient traces
def _strict_witness(model, pattern, domain):
    """A point (Fractions) where every non-identically-zero row of ``pattern`` holds strictly, or None."""
    from polyattr.geometry.exact_regions import canonical_rows
    from polyattr.geometry.lp import chebyshev_center

    _, A, c = canonical_rows(model, pattern)
    nz = [r for r in range(A.shape[0]) if any(A[r, j] != 0 for j in range(A.shape[1]))]
    A_d, b_d = domain.halfspaces()
    Af = np.vstack([np.asarray(A[nz], float).reshape(len(nz), model.n_inputs), np.asarray(A_d, float)])
    bf = np.concatenate([np.asarray(c[nz], float), np.asarray(b_d, float)])
    norms = np.linalg.norm(Af, axis=1)
    center, radius = chebyshev_center(Af / norms[:, None], bf / norms)
    if center is None or not radius > 0:
        return None
    w = np.array([Fraction(float(v)) for v in center], dtype=object)
    if all(sum((A[r, j] * w[j] for j in range(len(w))), start=Fraction(0)) < c[r] for r in nz):
        return w
    return None


def gradient_trace(model, x, info, domain) -> dict:
    pattern = np.asarray(info.get("pattern"), bool) if info.get("pattern") is not None else model.activation_pattern(x)
    witness = _strict_witness(model, pattern, domain)
    if witness is None:
        raise PolyattrError("certificate: no interior witness found for the gradient's region (a lower-dimensional region?)")
    return {"pattern": _pattern_string(pattern), "witness": qs(witness)}


def path_trace(pieces) -> dict:
    """The trace of one exact segment walk of the run (a SegmentPieces)."""
    start, end = pieces.start, pieces.end
    T = pieces.breakpoints
    return {"start": qs(start), "end": qs(end),
            "pieces": [{"t0": q(T[k]), "t1": q(T[k + 1]), "pattern": _pattern_string(pieces.patterns[k])}
                       for k in range(len(pieces))]}


def box_piece(integ, output, box, order: int) -> dict:
    from polyattr.measures.core import DensityPiece

    regions = integ.regions_on(box)  # the run's exactly confirmed regions (cached there)
    piece = DensityPiece(box, mass=Fraction(1))
    m0, m1, M2 = piece.region_moments(regions, order=order) if order < 2 else _lifted_m2(piece, regions)
    W, b = regions.affine_maps(output)
    if order < 2:
        contributions = [[m0[i] * Fraction(W[i, j]) for j in range(W.shape[1])] for i in range(len(regions))]
    else:
        contributions = None
    return {"type": "density", "support": support_json(box), "mass": q(1),
            "regions": regions_json(regions, m0, m1, contributions, M2)}


def _lifted_m2(piece, regions):
    """Order-2 moments lifted to input coordinates in Fractions (no einsum on objects)."""
    m0u, m1u, M2u = regions.moments(order=2)
    scale = piece.density_scale()
    E, z0 = piece.reduction.embedding, piece.reduction.offset
    n, k = m1u.shape
    d = E.shape[0]
    m0 = np.array([scale * v for v in m0u], dtype=object)
    m1 = np.empty((n, d), dtype=object)
    M2 = np.empty((n, d, d), dtype=object)
    for r in range(n):
        mu = [scale * v for v in m1u[r]]
        Mu = [[scale * M2u[r, a, c] for c in range(k)] for a in range(k)]
        Em = [sum((E[i, a] * mu[a] for a in range(k)), start=Fraction(0)) for i in range(d)]
        m1[r] = [Em[i] + m0[r] * z0[i] for i in range(d)]
        EME = [[sum((E[i, a] * Mu[a][c] * E[j, c] for a in range(k) for c in range(k)), start=Fraction(0))
                for j in range(d)] for i in range(d)]
        for i in range(d):
            for j in range(d):
                M2[r, i, j] = EME[i][j] + Em[i] * z0[j] + z0[i] * Em[j] + m0[r] * z0[i] * z0[j]
    return m0, m1, M2


# ------------------------------------------------------------------------------------ writer
def _options_json(options: dict) -> dict:
    out = {}
    for k, v in sorted((options or {}).items()):
        if k in ("measures", "rng"):
            continue
        if isinstance(v, (list, tuple, np.ndarray)):
            arr = np.asarray(v, dtype=object)
            out[k] = [qs(row) for row in arr] if arr.ndim == 2 else qs(arr.ravel())
        elif isinstance(v, (int, float, Fraction, np.integer, np.floating)) and not isinstance(v, bool):
            out[k] = q(v)
        else:
            out[k] = v
    return out


def _run_record(result, model, domain, baseline, options) -> dict:
    """The certification record of the run behind ``result``.

    A result computed with ``attribute(..., certify=True)`` carries it; for an exact result
    without one, the attribution is computed once more through the same code path with
    ``certify=True`` (and must give the same values).
    """
    record = result.info.get("certification")
    if record is not None:
        return record
    if model is None:
        raise PolyattrError("certificate: the result carries no record; compute it with attribute(..., certify=True)")
    from polyattr.attribution.api import attribute

    options = dict(options or {})
    measures = options.pop("measures", None)
    again = attribute(model, result.data, result.method, baseline=baseline, domain=domain, output=result.output,
                      certify=True, measures=measures, **options)
    if [Fraction(v) for v in again.values] != [Fraction(v) for v in result.values]:
        raise PolyattrError(
            f"certificate: the certified computation of {result.method!r} gives {[str(v) for v in again.values]}, "
            f"but the result says {[str(v) for v in result.values]}"
        )
    return again.info["certification"]


def build_certificate(*, result, model_path=None, model=None, domain=None, baseline=None, options=None) -> dict:
    """The certificate as a JSON-ready dict (see the module docstring).

    The model is named by the SHA-256 of its canonical exact weights
    (:meth:`~polyattr.models.relu.ReLUNetwork.canonical_hash`), so in-memory and imported models
    can be certified; with ``model_path`` the file's name and SHA-256 are recorded too.
    """
    from polyattr.attribution.registry import get_method
    from polyattr.geometry.domains import as_vector
    from polyattr.models.io import file_sha256

    if not result.exact:
        raise PolyattrError("certificate: the result is not exact; run with exact=True / --exact")
    record = _run_record(result, model, domain, baseline, options)
    model, domain, options = record["model"].to_exact(), record["domain"], dict(record["options"])
    base = record["baseline"]
    k = int(result.output)
    d = model.n_inputs
    x = as_vector(result.data, "x", length=d, exact=True)
    method = result.method
    values = [Fraction(v) for v in result.values]
    spec = get_method(method)
    if spec.needs_baseline and base is None:
        base = as_vector(np.zeros(d, dtype=int), "baseline", exact=True)
    kind, trace, computed = _trace_for(spec, model, k, x, base, domain, options, result, record["integrator"])
    if computed is not None and [Fraction(v) for v in computed] != values:
        raise PolyattrError(
            f"certificate: the recorded trace of {method!r} gives {[str(v) for v in computed]}, "
            f"but the result says {[str(v) for v in values]}"
        )
    model_entry = {"canonical_sha256": model.canonical_hash(), "inputs": d, "neurons": model.n_neurons,
                   "outputs": model.n_outputs}
    if model_path is not None:
        path = Path(model_path)
        model_entry.update(file=path.name, sha256=file_sha256(path))
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": model_entry,
        "output": k,
        "method": method,
        "options": _options_json(options),
        "domain": {"lower": qs(domain.lower), "upper": qs(domain.upper)},
        "x": qs(x),
        "baseline": None if base is None else qs(base),
        "values": qs(values),
        "kind": kind,
        "trace": trace,
    }


def _trace_for(spec, model, k, x, base, domain, options, result, integ):
    """(kind, trace, recomputed values or None) by the spec's certificate kind, from the run's record."""
    from polyattr.geometry.domains import Box

    kind = spec.certificate
    if kind is None:
        raise PolyattrError(f"certificate: method {spec.name!r} has no exact certificate (it is not exact)")
    if kind == "measure":
        family = measure_family(spec.name, model, x, base, domain, options)
        trace, values = measure_trace(integ, family)
        return kind, trace, values
    if kind == "gradient":
        trace = gradient_trace(model, x, result.info, domain)
        w, _ = model.local_affine_map(np.array([c == "1" for c in trace["pattern"]]), k)
        # gradient rules report w_P or w_P * x: the certified pattern must give one of them exactly
        values = [Fraction(v) for v in result.values]
        candidates = (list(w), [w[j] * x[j] for j in range(len(x))])
        return kind, trace, next((c for c in candidates if [Fraction(v) for v in c] == values), candidates[0])
    if kind == "path":
        segments = result.info.get("segments")
        if segments is None:
            raise PolyattrError(f"certificate: {spec.name} recorded no exact segment walks (info['segments'])")
        paths = [path_trace(p) for p in segments]
        total = [Fraction(0)] * len(x)
        for p in paths:
            for piece in p["pieces"]:
                w, _ = model.local_affine_map(np.array([c == "1" for c in piece["pattern"]]), k)
                length = Fraction(piece["t1"]) - Fraction(piece["t0"])
                for j in range(len(x)):
                    total[j] += length * w[j] * (Fraction(p["end"][j]) - Fraction(p["start"][j]))
        return kind, {"paths": paths}, [t / len(paths) for t in total]
    if kind == "box_moments":
        names = [o.name for o in spec.options if o.type == "radius"]
        r = options.get(names[0]) if names else None
        r = [Fraction(1, 10)] * len(x) if r is None else [r] * len(x) if np.ndim(r) == 0 else list(r)
        r = [Fraction(v) for v in r]
        box = Box(x - np.array(r, dtype=object), x + np.array(r, dtype=object), exact=True)
        piece = box_piece(integ, k, box, spec.moment_order)
        return kind, {"radius": qs(r), "piece": piece}, None
    # propagation rules: the Rescale multipliers, or the stabiliser of epsilon-LRP
    info = result.info
    if "multipliers" in info:
        return kind, {"factors": [qs(m) for m in info["multipliers"]]}, None
    return kind, {"epsilon": q(info["epsilon"])}, None


def dumps(cert: dict) -> str:
    """Deterministic serialisation: sorted keys, compact separators, one trailing newline."""
    with long_integer_strings():
        return json.dumps(cert, sort_keys=True, separators=(",", ":")) + "\n"


def write_certificate(path, *, result, model_path=None, model=None, domain=None, baseline=None, options=None) -> Path:
    """Write the certificate of an exact attribution ``result`` to ``path`` (JSON).

    Parameters
    ----------
    path : str or Path
    result : Attribution
        An exact result of :func:`polyattr.attribute`, best computed with ``certify=True`` (it then
        carries everything the certificate needs from the one computation).
    model_path : str or Path, optional
        The model file: its name and SHA-256 go into the certificate besides the canonical hash.
    model, domain, baseline, options : optional
        Only for a result computed without ``certify=True``: the arguments it was computed with
        (the attribution is then computed once more, recording).
    """
    with long_integer_strings():
        cert = build_certificate(result=result, model_path=model_path, model=model, domain=domain,
                                 baseline=baseline, options=options)
        text = dumps(cert)
    path = Path(path)
    try:
        path.write_text(text)
    except OSError as exc:
        raise PolyattrError(f"certificate: cannot write {path} ({exc})") from None
    return path
