"""Lowering PyTorch modules to dense networks with per-unit negative slopes, exactly.

``from_torch(module, input_shape=...)`` traces ``module`` with :mod:`torch.fx` and rewrites every
operation of the graph as an affine map or as a layer of units ``max(z, 0) + alpha * min(z, 0)``
(alpha = 0 ReLU, alpha = 1 identity, other alphas leaky ReLU): the form of
:class:`~polyattr.models.relu.ReLUNetwork`.

How the lowering works
----------------------
Every traced tensor is held as an affine function of the outputs of the *base* layer (at first the
input itself): one sparse row ``{unit: coefficient}`` plus a constant per tensor element.  Affine
operations (Linear, convolutions unrolled for the given input shape, eval-mode BatchNorm, average
pooling, additions, reshapes, concatenation, scaling by constants) compose into these rows, so
consecutive affine operations merge into one map.  A nonlinearity adds units to an *open* layer
above the base, whose pre-activations are the rows of its input; independent nonlinearities share
that layer.  When a nonlinearity needs the output of the open layer, the open layer is closed: every
tensor that is still needed later and lives on the base (a skip branch) is first carried into it by
identity units (alpha = 1: they add no hyperplane and no region), and the open layer becomes the
new base.  ReLU-like functions become units through the identities

    clamp(z, lo, hi) = lo + relu(z - lo) - relu(z - hi)      |z| = relu(z) + relu(-z)
    max(a, b) = b + relu(a - b)                               min(a, b) = a - relu(a - b)

and max pooling is a tree of pairwise maxima (ceil(log2 k) layers for a k-element window).  Units
no later layer reads are removed, and layers left with identity units only are composed away.

Exactness
---------
Every weight, bias and constant of the module is converted exactly (float16/32/64 and bfloat16
values are dyadic rationals) to :class:`fractions.Fraction`, and all composition is done in exact
rational arithmetic.  The one irrational quantity is BatchNorm's ``1 / sqrt(running_var + eps)``,
which is replaced by a rational within a relative 2**-100 of it (``eps`` is taken at the float64 value
of the Python float stored on the module).  ``exact=True`` returns the rational network; otherwise
each entry is rounded once, correctly, to float64.  The lowered network computes the function the
module defines in real arithmetic; torch's own float32 evaluation differs from it by torch's
rounding.

Refusals
--------
A :class:`~polyattr.errors.PolyattrError` names the layer or operation and its position in the
graph for every operation outside the supported set, and refuses: BatchNorm in training mode or
without running statistics and Dropout in training mode (``module.eval()`` first; the module is not
modified here, and training mode is accepted where it does not change the function), subclasses of
supported layers that override ``forward``, modules with forward hooks or pre-hooks (``torch.fx``
does not run them), uninitialised (lazy) or meta-device parameters, complex or non-numeric tensors,
in-place operations whose input is read again afterwards, and products of two input-dependent
tensors.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.models.relu import ReLUNetwork

_ZERO = Fraction(0)
_ONE = Fraction(1)
# BatchNorm's 1/sqrt(var + eps) is irrational in general; it is replaced by a rational this close.
_INV_SQRT_BITS = 100


# ------------------------------------------------------------------------------------------ values
class _Batch:
    """The batch size: symbolic, since the lowered network takes any number of rows."""

    def __repr__(self) -> str:
        return "<batch size>"


_BATCH = _Batch()


class _Unsupported(Exception):
    """Raised inside a handler; turned into a PolyattrError naming the node."""


@dataclass(frozen=True)
class _Value:
    """An input-dependent tensor of per-sample shape ``shape``, affine in the units of layer ``level``.

    ``rows[i]`` maps unit index -> coefficient and ``consts[i]`` is the constant of flat (C-order)
    element i.  Rows are never mutated after construction (they are shared between values).
    """

    rows: tuple
    consts: tuple
    shape: tuple
    level: int

    @property
    def size(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class _Const:
    """An input-independent tensor (a parameter, buffer or arithmetic on them): exact Fractions."""

    array: np.ndarray  # dtype object, Fractions, full shape (no batch dimension)


def _fractions(array) -> np.ndarray:
    arr = np.asarray(array, dtype=np.float64)
    flat = [Fraction(v) for v in arr.ravel().tolist()]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(arr.shape)


def _scalar_fraction(v, what: str) -> Fraction:
    if isinstance(v, bool):
        return Fraction(int(v))
    if isinstance(v, (int, Fraction)):
        return Fraction(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _Unsupported(f"{what} must be finite, got {v!r}")
        return Fraction(v)
    raise _Unsupported(f"{what}: expected a number, got {type(v).__name__}")


def _gather(v: _Value, index: np.ndarray) -> _Value:
    """Elements of ``v`` at the flat indices ``index`` (an int array of the new per-sample shape)."""
    flat = index.ravel().tolist()
    return _Value(tuple(v.rows[i] for i in flat), tuple(v.consts[i] for i in flat), tuple(index.shape), v.level)


def _reshaped(v: _Value, shape) -> _Value:
    return _Value(v.rows, v.consts, tuple(shape), v.level)


def _combine_rows(terms) -> dict:
    """sum of coefficient * row over ``terms`` (pairs (coefficient, row)), exact zeros dropped."""
    acc: dict = {}
    for coef, row in terms:
        if not coef:
            continue
        for unit, w in row.items():
            term = coef if w == 1 else coef * w  # most rows select one unit with coefficient 1
            old = acc.get(unit)
            acc[unit] = term if old is None else old + term
    return {u: w for u, w in acc.items() if w}


def _linear_map(v: _Value, taps, biases, shape) -> _Value:
    """Output element o = biases[o] + sum of coefficient * v[i] over ``taps[o]`` (pairs (i, coefficient))."""
    rows, consts = [], []
    for tap, bias in zip(taps, biases):
        rows.append(_combine_rows((c, v.rows[i]) for i, c in tap))
        consts.append(bias + sum((c * v.consts[i] for i, c in tap), _ZERO))
    return _Value(tuple(rows), tuple(consts), tuple(shape), v.level)


def _elementwise(a: _Value, b: _Value, coef_b: Fraction) -> _Value:
    """a + coef_b * b for two values of the same shape and level."""
    rows = tuple(_combine_rows(((_ONE, ra), (coef_b, rb))) for ra, rb in zip(a.rows, b.rows))
    consts = tuple(ca + coef_b * cb for ca, cb in zip(a.consts, b.consts))
    return _Value(rows, consts, a.shape, a.level)


def _affine_scale(v: _Value, scale, offset) -> _Value:
    """scale * v + offset elementwise (flat lists of Fractions of v's size)."""
    rows = tuple({u: s * w for u, w in r.items()} if s != 0 else {} for r, s in zip(v.rows, scale))
    consts = tuple(s * c + o for c, s, o in zip(v.consts, scale, offset))
    return _Value(rows, consts, v.shape, v.level)


def _inverse_sqrt(q: Fraction) -> Fraction:
    """A rational within a relative 2**-_INV_SQRT_BITS of 1/sqrt(q), for q > 0."""
    p_num, p_den = q.numerator, q.denominator  # 1/sqrt(q) = sqrt(p_den / p_num)
    shift = max(0, (2 * _INV_SQRT_BITS + 4 - (p_den.bit_length() - p_num.bit_length()) + 1) // 2)
    root = math.isqrt((p_den << (2 * shift)) // p_num)
    return Fraction(root, 1 << shift)


# ------------------------------------------------------------------------------- the lowering state
class _Network:
    """The layers built so far, the open layer, and the operations that move values between them."""

    def __init__(self, n_inputs: int):
        self.hidden: list[tuple[list, list, list]] = []  # closed layers: (rows, consts, slopes)
        self.level = 0  # the base layer: 0 is the input, k the k-th closed hidden layer
        self.base_size = n_inputs
        self._reset_open()
        self.env: dict = {}
        self.last_use: dict = {}
        self.position = 0

    def _reset_open(self):
        self.open_rows: list[dict] = []
        self.open_consts: list[Fraction] = []
        self.open_slopes: list[Fraction] = []
        self.open_index: dict = {}
        self.lifted: dict = {}

    def _unit(self, row: dict, const: Fraction, slope: Fraction) -> int:
        # short rows (carried units, max-pool pairs) are merged by content; long ones by identity,
        # which still merges a nonlinearity applied twice to one tensor and saves hashing Fractions
        key = (tuple(sorted(row.items())) if len(row) <= 4 else id(row), const, slope)
        unit = self.open_index.get(key)
        if unit is None:
            unit = len(self.open_rows)
            self.open_index[key] = unit
            self.open_rows.append(row)
            self.open_consts.append(const)
            self.open_slopes.append(slope)
        return unit

    def check_level(self, v: _Value) -> None:
        if v.level not in (self.level, self.level + 1):  # pragma: no cover - a liveness bug, not user input
            raise AssertionError(f"internal error: a value of layer {v.level} used at layer {self.level}")

    # -- moving values up -------------------------------------------------------------------------
    def lift(self, v: _Value) -> _Value:
        """``v`` (on the base) as a value of the open layer, carried by identity units."""
        if v.level == self.level + 1:
            return v
        self.check_level(v)
        cached = self.lifted.get(id(v))
        if cached is not None and cached[0] is v:
            return cached[1]
        columns = set().union(*v.rows) if v.rows else set()
        new_columns = [c for c in columns if ((( c, _ONE),), _ZERO, _ONE) not in self.open_index]
        if len(new_columns) <= len(v.rows):
            # carry the base units the value reads: its rows keep their coefficients
            carried = {c: self._unit({c: _ONE}, _ZERO, _ONE) for c in sorted(columns)}
            rows = tuple({carried[c]: w for c, w in r.items()} for r in v.rows)
            out = _Value(rows, v.consts, v.shape, self.level + 1)
        else:
            # carry the value's elements themselves
            units = [self._unit(r, c, _ONE) for r, c in zip(v.rows, v.consts)]
            out = _Value(tuple({u: _ONE} for u in units), (_ZERO,) * len(units), v.shape, self.level + 1)
        self.lifted[id(v)] = (v, out)
        return out

    def align(self, *values):
        """The values on one common layer (lifting base values when any lives on the open layer)."""
        tensors = [v for v in values if isinstance(v, _Value)]
        for v in tensors:
            self.check_level(v)
        if any(v.level == self.level + 1 for v in tensors):
            return [self.lift(v) if isinstance(v, _Value) else v for v in values]
        return list(values)

    def close(self, keep=()):
        """Make the open layer the base; live base values (and ``keep``) are carried across first."""
        if not self.open_rows:
            return list(keep)
        for node, v in list(self.env.items()):
            if isinstance(v, _Value) and v.level == self.level and self.last_use.get(node, -1) > self.position:
                self.env[node] = self.lift(v)
        keep = [self.lift(v) if isinstance(v, _Value) and v.level == self.level else v for v in keep]
        self.hidden.append((self.open_rows, self.open_consts, self.open_slopes))
        self.level += 1
        self.base_size = len(self.open_rows)
        self._reset_open()
        return keep

    def on_base(self, *values):
        """The values with every one on the base layer (closing the open layer if one is on it)."""
        tensors = [v for v in values if isinstance(v, _Value)]
        for v in tensors:
            self.check_level(v)
        if any(v.level == self.level + 1 for v in tensors):
            values = self.close(values)
        return list(values)

    def activate(self, v: _Value, slope: Fraction, sign: Fraction = _ONE, shift: Fraction = _ZERO) -> _Value:
        """Units max(z, 0) + slope * min(z, 0) with z = sign * v + shift; ``v`` must be on the base."""
        units = []
        for r, c in zip(v.rows, v.consts):
            row = {u: sign * w for u, w in r.items()} if sign != 1 else r
            units.append(self._unit(row, sign * c + shift, slope))
        return _Value(tuple({u: _ONE} for u in units), (_ZERO,) * len(units), v.shape, self.level + 1)


# --------------------------------------------------------------------------------- shape utilities
def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def _dim(d, ndim: int, what: str) -> int:
    """A per-sample axis from a full-tensor dimension ``d`` (the batch is dimension 0)."""
    if isinstance(d, bool) or not isinstance(d, int):
        raise _Unsupported(f"{what}: expected an integer dimension, got {d!r}")
    full = ndim + 1
    if not -full <= d < full:
        raise _Unsupported(f"{what}: dimension {d} out of range for a {full}-dimensional tensor")
    d = d % full
    if d == 0:
        raise _Unsupported(f"{what}: operating across the batch dimension is not supported")
    return d - 1


def _broadcast(a_shape, b_shape):
    """Per-sample index arrays of two operands broadcast against each other (both batched)."""
    ia = np.arange(_prod(a_shape)).reshape(a_shape)
    ib = np.arange(_prod(b_shape)).reshape(b_shape)
    try:
        ia, ib = np.broadcast_arrays(ia, ib)
    except ValueError:
        raise _Unsupported(f"shapes {a_shape} and {b_shape} do not broadcast") from None
    return ia, ib


def _with_constant(v: _Value, c: _Const):
    """``v`` broadcast against the constant ``c`` (torch's rules, v batched) and c's flat entries per element."""
    arr = c.array
    while arr.ndim > len(v.shape):  # a constant's leading axes may only meet the batch as size 1
        if arr.shape[0] != 1:
            raise _Unsupported(f"a constant of shape {c.array.shape} does not broadcast over the batch")
        arr = arr[0]
    try:
        shape = np.broadcast_shapes(arr.shape, v.shape)
    except ValueError:
        raise _Unsupported(f"a constant of shape {c.array.shape} does not broadcast with per-sample shape {v.shape}") from None
    v = _gather(v, np.broadcast_to(_index_of(v), shape))
    return v, np.broadcast_to(arr, shape).ravel().tolist()


def _as_tuple(v, n: int, what: str) -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            v = tuple(v) * n
        if len(v) != n or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise _Unsupported(f"{what}: expected {n} integers, got {v!r}")
        return tuple(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Unsupported(f"{what}: expected an integer, got {v!r}")
    return (v,) * n


def _bind(args, kwargs, names, defaults=None):
    """Positional and keyword arguments bound to ``names`` (a minimal inspect.signature.bind)."""
    if len(args) > len(names):
        raise _Unsupported(f"expected at most {len(names)} arguments, got {len(args)}")
    bound = dict(defaults or {})
    bound.update(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise _Unsupported(f"unsupported argument {key!r}")
        bound[key] = value
    missing = [n for n in names if n not in bound]
    if missing:
        raise _Unsupported(f"missing arguments {missing}")
    return bound


def _input(x, what: str = "input") -> _Value:
    if not isinstance(x, _Value):
        raise _Unsupported(f"{what}: expected a tensor computed from the model's input, got {type(x).__name__}")
    return x


# ------------------------------------------------------------------------------ affine operations
def _linear(v: _Value, weight: np.ndarray, bias) -> _Value:
    """x @ weight.T + bias over the last axis; weight an object array (out, in) of Fractions."""
    v = _input(v)
    out_f, in_f = weight.shape
    if not v.shape or v.shape[-1] != in_f:
        raise _Unsupported(f"expected an input whose last dimension is {in_f}, got per-sample shape {v.shape}")
    lead = _prod(v.shape[:-1])
    bias = [_ZERO] * out_f if bias is None else list(bias)
    w_rows = [[(k, w) for k, w in enumerate(row) if w != 0] for row in weight.tolist()]
    taps, biases = [], []
    for p in range(lead):
        base = p * in_f
        for j in range(out_f):
            taps.append([(base + k, w) for k, w in w_rows[j]])
            biases.append(bias[j])
    return _linear_map(v, taps, biases, (*v.shape[:-1], out_f))


def _conv(v: _Value, weight: np.ndarray, bias, stride, padding, dilation, groups) -> _Value:
    """An N-d convolution (cross-correlation, zero padding) unrolled for ``v``'s shape."""
    v = _input(v)
    nd = weight.ndim - 2
    if len(v.shape) != nd + 1:
        raise _Unsupported(f"expected a per-sample input of shape (C, {'L' if nd == 1 else 'H, W'}), got {v.shape}")
    c_in, *spatial = v.shape
    c_out, c_group, *kernel = weight.shape
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or c_in != c_group * groups or c_out % groups:
        raise _Unsupported(f"{c_in} input channels do not match a weight {weight.shape} with groups={groups}")
    stride = _as_tuple(stride, nd, "stride")
    dilation = _as_tuple(dilation, nd, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pad_lo = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise _Unsupported("padding='same' needs stride 1")
            pad_lo = tuple((d * (k - 1)) // 2 for d, k in zip(dilation, kernel))
        else:
            raise _Unsupported(f"padding: expected 'same', 'valid' or integers, got {padding!r}")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)] if padding == "same" else [0] * nd
        pad_hi = tuple(t - lo for t, lo in zip(total, pad_lo))
    else:
        pad_lo = pad_hi = _as_tuple(padding, nd, "padding")
    out_spatial = [
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, lo, hi, d, k, st in zip(spatial, pad_lo, pad_hi, dilation, kernel, stride)
    ]
    if any(o < 1 for o in out_spatial):
        raise _Unsupported(f"the kernel {tuple(kernel)} is larger than the padded input {tuple(spatial)}")
    opos = np.indices(out_spatial).reshape(nd, -1).T
    kpos = np.indices(kernel).reshape(nd, -1).T
    ipos = opos[:, None, :] * np.array(stride) - np.array(pad_lo) + kpos[None, :, :] * np.array(dilation)
    valid = np.all((ipos >= 0) & (ipos < np.array(spatial)), axis=2)
    in_strides = np.array([_prod(spatial[i + 1:]) for i in range(nd)])
    iflat = (ipos * in_strides).sum(axis=2)
    n_space, n_taps = _prod(spatial), kpos.shape[0]
    w_flat = weight.ravel().tolist()
    bias = [_ZERO] * c_out if bias is None else list(bias)
    per_group = c_out // groups
    tap_lists = [[(int(i), t) for i, t, ok in zip(iflat[p], range(n_taps), valid[p]) if ok] for p in range(opos.shape[0])]
    taps, biases = [], []
    for co in range(c_out):
        g = co // per_group
        for p in range(opos.shape[0]):
            tap = []
            for cl in range(c_group):
                in_base = (g * c_group + cl) * n_space
                w_base = (co * c_group + cl) * n_taps
                tap.extend((in_base + i, w_flat[w_base + t]) for i, t in tap_lists[p] if w_flat[w_base + t] != 0)
            taps.append(tap)
            biases.append(bias[co])
    return _linear_map(v, taps, biases, (c_out, *out_spatial))


def _pool_windows(spatial, kernel, stride, padding, dilation, ceil_mode):
    """Per output position (C order) of an N-d pooling: input flat indices and torch's avg divisors."""
    nd = len(spatial)
    for k, p in zip(kernel, padding):
        if p > k // 2:
            raise _Unsupported(f"padding {tuple(padding)} must be at most half the kernel {tuple(kernel)}")
    out_sizes, per_dim = [], []
    for s, k, st, p, d in zip(spatial, kernel, stride, padding, dilation):
        if st < 1 or k < 1 or d < 1:
            raise _Unsupported("kernel, stride and dilation must be positive")
        span = s + 2 * p - d * (k - 1) - 1
        if span < 0:
            raise _Unsupported(f"the kernel {tuple(kernel)} is larger than the padded input {tuple(spatial)}")
        o = (span + (st - 1 if ceil_mode else 0)) // st + 1
        if ceil_mode and (o - 1) * st >= s + p:
            o -= 1
        out_sizes.append(o)
        dims = []
        for i in range(o):
            start = i * st - p
            members = [start + j * d for j in range(k) if 0 <= start + j * d < s]
            end_padded = min(start + (k - 1) * d + 1, s + p)  # torch's count_include_pad extent
            dims.append((members, end_padded - start, len(members)))
        per_dim.append(dims)
    strides = [_prod(spatial[i + 1:]) for i in range(nd)]
    windows = []
    for pos in np.ndindex(*out_sizes):
        parts = [per_dim[i][pos[i]] for i in range(nd)]
        members = [0]
        for (mem, _, _), st in zip(parts, strides):
            members = [m + x * st for m in members for x in mem]
        windows.append((members, _prod([pad for _, pad, _ in parts]), _prod([n for _, _, n in parts])))
    return out_sizes, windows


def _avg_pool(v, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, nd) -> _Value:
    v = _input(v)
    if len(v.shape) != nd + 1:
        raise _Unsupported(f"expected a per-sample input with {nd + 1} dimensions (C, ...), got {v.shape}")
    kernel = _as_tuple(kernel, nd, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else _as_tuple(stride, nd, "stride")
    padding = _as_tuple(padding, nd, "padding")
    c, *spatial = v.shape
    out_sizes, windows = _pool_windows(spatial, kernel, stride, padding, (1,) * nd, ceil_mode)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(divisor_override, int) or divisor_override < 1):
        raise _Unsupported(f"divisor_override: expected a positive integer, got {divisor_override!r}")
    n_space = _prod(spatial)
    taps, biases = [], []
    for ch in range(c):
        for members, padded_count, count in windows:
            divisor = divisor_override or (padded_count if count_include_pad else count)
            weight = Fraction(1, divisor)
            taps.append([(ch * n_space + m, weight) for m in members])
            biases.append(_ZERO)
    return _linear_map(v, taps, biases, (c, *out_sizes))


def _adaptive_avg_pool(v, output_size, nd) -> _Value:
    v = _input(v)
    if len(v.shape) != nd + 1:
        raise _Unsupported(f"expected a per-sample input with {nd + 1} dimensions (C, ...), got {v.shape}")
    c, *spatial = v.shape
    if not isinstance(output_size, (tuple, list)):
        output_size = (output_size,) * nd
    output_size = tuple(s if o is None else o for o, s in zip(output_size, spatial))
    output_size = _as_tuple(output_size, nd, "output_size")
    ranges = [
        [((i * s) // o, -((-(i + 1) * s) // o)) for i in range(o)] for s, o in zip(spatial, output_size)
    ]  # torch: start = floor(i*s/o), end = ceil((i+1)*s/o)
    strides = [_prod(spatial[i + 1:]) for i in range(nd)]
    n_space = _prod(spatial)
    taps, biases = [], []
    for ch in range(c):
        for pos in np.ndindex(*output_size):
            members = [0]
            for d in range(nd):
                lo, hi = ranges[d][pos[d]]
                members = [m + x * strides[d] for m in members for x in range(lo, hi)]
            weight = Fraction(1, len(members))
            taps.append([(ch * n_space + m, weight) for m in members])
            biases.append(_ZERO)
    return _linear_map(v, taps, biases, (c, *output_size))


def _batch_norm(v, mean, var, weight, bias, eps) -> _Value:
    """Eval-mode batch normalisation folded into an affine map over channel axis 0."""
    v = _input(v)
    if not v.shape:
        raise _Unsupported("expected an input with a channel dimension")
    channels = v.shape[0]
    inner = _prod(v.shape[1:])
    eps = _scalar_fraction(eps, "eps")
    scale, offset = [], []
    for ch in range(channels):
        variance = var[ch] + eps
        if variance <= 0:
            raise _Unsupported(f"running_var + eps must be positive, got {float(variance)} for channel {ch}")
        s = _inverse_sqrt(variance) * (weight[ch] if weight is not None else _ONE)
        o = (bias[ch] if bias is not None else _ZERO) - mean[ch] * s
        scale.extend([s] * inner)
        offset.extend([o] * inner)
    return _affine_scale(v, scale, offset)


def _view(v: _Value, sizes, what: str) -> _Value:
    """Reshape of a batched tensor to full shape ``sizes`` (the batch size symbolic or -1)."""
    v = _input(v)
    sizes = list(sizes)
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = list(sizes[0])
    if not sizes:
        raise _Unsupported(f"{what}: cannot drop the batch dimension")
    first, rest = sizes[0], sizes[1:]
    for s in rest:
        if s is _BATCH or isinstance(s, bool) or not isinstance(s, int):
            raise _Unsupported(f"{what}: expected integer sizes after the batch dimension, got {sizes!r}")
    if first is not _BATCH:
        if first != -1 or -1 in rest:
            raise _Unsupported(
                f"{what}: the first size must be the batch size (x.size(0)) or -1 with the other sizes given; got {sizes!r}"
            )
    if rest.count(-1) > 1:
        raise _Unsupported(f"{what}: at most one -1 allowed, got {sizes!r}")
    if -1 in rest:
        known = _prod([s for s in rest if s != -1])
        if known == 0 or v.size % known:
            raise _Unsupported(f"{what}: cannot reshape per-sample shape {v.shape} to {sizes!r}")
        rest = [v.size // known if s == -1 else s for s in rest]
    if _prod(rest) != v.size:
        raise _Unsupported(f"{what}: cannot reshape per-sample shape {v.shape} ({v.size} elements) to {sizes!r}")
    return _reshaped(v, rest)


def _flatten(v: _Value, start_dim=1, end_dim=-1, what="flatten") -> _Value:
    v = _input(v)
    nd = len(v.shape)
    if nd == 0:
        raise _Unsupported(f"{what}: flattening a batch of scalars would merge the batch dimension")
    start = _dim(start_dim, nd, what)
    end = _dim(end_dim, nd, what)
    if start > end:
        raise _Unsupported(f"{what}: start_dim after end_dim")
    shape = (*v.shape[:start], _prod(v.shape[start:end + 1]), *v.shape[end + 1:])
    return _reshaped(v, shape)


def _index_of(v: _Value) -> np.ndarray:
    return np.arange(v.size).reshape(v.shape)


def _getitem(v: _Value, index) -> _Value:
    if not isinstance(index, tuple):
        index = (index,)
    for item in index:
        if not (item is None or item is Ellipsis or isinstance(item, (int, slice))) or isinstance(item, bool):
            raise _Unsupported(f"indexing with {type(item).__name__} is not supported (basic slices and integers only)")
    if Ellipsis in index:
        per_sample = index  # the ellipsis covers the batch dimension
        if sum(i is not None and i is not Ellipsis for i in index) > len(v.shape):
            raise _Unsupported(f"too many indices for per-sample shape {v.shape}")
    else:
        if index[0] != slice(None):
            raise _Unsupported("indexing the batch dimension is not supported; index as x[:, ...]")
        per_sample = index[1:]
    try:
        return _gather(v, np.asarray(_index_of(v)[per_sample]))
    except IndexError as exc:
        raise _Unsupported(f"index {index!r}: {exc}") from None


def _cat(net: _Network, tensors, dim) -> _Value:
    tensors = list(tensors)
    if not tensors:
        raise _Unsupported("expected at least one tensor")
    for t in tensors:
        _input(t, "cat")
    tensors = net.align(*tensors)
    nd = len(tensors[0].shape)
    axis = _dim(dim, nd, "cat")
    for t in tensors:
        if len(t.shape) != nd or t.shape[:axis] != tensors[0].shape[:axis] or t.shape[axis + 1:] != tensors[0].shape[axis + 1:]:
            raise _Unsupported(f"cannot concatenate per-sample shapes {[t.shape for t in tensors]} along dimension {dim}")
    offsets = np.cumsum([0] + [t.size for t in tensors])
    rows = tuple(r for t in tensors for r in t.rows)
    consts = tuple(c for t in tensors for c in t.consts)
    joined = np.concatenate([_index_of(t) + off for t, off in zip(tensors, offsets[:-1])], axis=axis)
    level = tensors[0].level
    return _gather(_Value(rows, consts, (len(rows),), level), joined)


# ------------------------------------------------------------------------- arithmetic on operands
def _add(net: _Network, a, b, coef_b: Fraction) -> _Value | _Const:
    """a + coef_b * b for tensors, constants and Python numbers."""
    if isinstance(a, _Value) and isinstance(b, _Value):
        a, b = net.align(a, b)
        ia, ib = _broadcast(a.shape, b.shape)
        return _elementwise(_gather(a, ia), _gather(b, ib), coef_b)
    if isinstance(a, _Value) or isinstance(b, _Value):
        v, other, sign_v = (a, b, _ONE) if isinstance(a, _Value) else (b, a, coef_b)
        other_coef = coef_b if v is a else _ONE
        if isinstance(other, _Const):
            v, offsets = _with_constant(v, other)
        else:
            c = _scalar_fraction(other, "operand")
            offsets = [c] * v.size
        return _affine_scale(v, [sign_v] * v.size, [other_coef * o for o in offsets])
    return _Const(_const_array(a) + coef_b * _const_array(b))


def _const_array(x) -> np.ndarray:
    if isinstance(x, _Const):
        return x.array
    return np.array(_scalar_fraction(x, "operand"), dtype=object)


def _mul(a, b) -> _Value | _Const:
    if isinstance(a, _Value) and isinstance(b, _Value):
        raise _Unsupported("the product of two input-dependent tensors is not piecewise affine")
    if not isinstance(a, _Value) and not isinstance(b, _Value):
        return _Const(_const_array(a) * _const_array(b))
    v, other = (a, b) if isinstance(a, _Value) else (b, a)
    if isinstance(other, _Const):
        v, scale = _with_constant(v, other)
    else:
        scale = [_scalar_fraction(other, "factor")] * v.size
    return _affine_scale(v, list(scale), [_ZERO] * v.size)


def _reciprocal(x) -> _Const:
    arr = _const_array(x)
    if np.any(arr == 0):
        raise _Unsupported("division by zero")
    return _Const(np.vectorize(lambda f: 1 / f, otypes=[object])(arr))


# --------------------------------------------------------------------------- piecewise operations
def _relu_like(net: _Network, v, slope: Fraction) -> _Value:
    (v,) = net.on_base(_input(v))
    return net.activate(v, slope)


def _clamp(net: _Network, v, lo, hi) -> _Value:
    """clamp(z, lo, hi) = lo + relu(z - lo) - relu(z - hi); one-sided forms with one ReLU."""
    (v,) = net.on_base(_input(v))
    lo = None if lo is None else _scalar_fraction(lo, "min")
    hi = None if hi is None else _scalar_fraction(hi, "max")
    if lo is None and hi is None:
        raise _Unsupported("clamp needs min or max")
    if lo is not None and hi is not None:
        if lo >= hi:
            raise _Unsupported(f"expected min < max, got {lo} and {hi}")
        above_lo = net.activate(v, _ZERO, _ONE, -lo)
        above_hi = net.activate(v, _ZERO, _ONE, -hi)
        out = _elementwise(above_lo, above_hi, -_ONE)
        return _affine_scale(out, [_ONE] * out.size, [lo] * out.size)
    if lo is not None:
        out = net.activate(v, _ZERO, _ONE, -lo)
        return _affine_scale(out, [_ONE] * out.size, [lo] * out.size)
    below_hi = net.activate(v, _ZERO, -_ONE, hi)  # relu(hi - z)
    return _affine_scale(below_hi, [-_ONE] * below_hi.size, [hi] * below_hi.size)


def _abs(net: _Network, v) -> _Value:
    (v,) = net.on_base(_input(v))
    return _elementwise(net.activate(v, _ZERO), net.activate(v, _ZERO, -_ONE), _ONE)


def _maximum(net: _Network, a, b, take_max: bool = True) -> _Value:
    """max(a, b) = b + relu(a - b); min(a, b) = a - relu(a - b), elementwise with broadcasting."""
    if not isinstance(a, _Value) and not isinstance(b, _Value):
        raise _Unsupported("expected at least one input-dependent tensor")
    if not isinstance(a, _Value) or not isinstance(b, _Value):
        v, c = (a, b) if isinstance(a, _Value) else (b, a)
        if not isinstance(c, (int, float)):
            raise _Unsupported("maximum/minimum with a constant tensor is not supported; use clamp")
        return _clamp(net, v, c, None) if take_max else _clamp(net, v, None, c)
    a, b = net.on_base(a, b)
    ia, ib = _broadcast(a.shape, b.shape)
    a, b = _gather(a, ia), _gather(b, ib)
    gap = net.activate(_elementwise(a, b, -_ONE), _ZERO)
    if take_max:
        return _elementwise(net.lift(b), gap, _ONE)
    return _elementwise(net.lift(a), gap, -_ONE)


def _max_pool(net: _Network, v, kernel, stride, padding, dilation, ceil_mode, nd) -> _Value:
    """Max pooling as a tree of pairwise maxima, all windows one tree level per layer."""
    v = _input(v)
    if len(v.shape) != nd + 1:
        raise _Unsupported(f"expected a per-sample input with {nd + 1} dimensions (C, ...), got {v.shape}")
    kernel = _as_tuple(kernel, nd, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else _as_tuple(stride, nd, "stride")
    padding = _as_tuple(padding, nd, "padding")
    dilation = _as_tuple(dilation, nd, "dilation")
    c, *spatial = v.shape
    out_sizes, windows = _pool_windows(spatial, kernel, stride, padding, dilation, ceil_mode)
    n_space = _prod(spatial)
    groups = [[ch * n_space + m for m in members] for ch in range(c) for members, _, _ in windows]
    current = v
    while any(len(g) > 1 for g in groups):
        (current,) = net.on_base(current)
        first = [g[i] for g in groups for i in range(0, len(g) - 1, 2)]
        second = [g[i + 1] for g in groups for i in range(0, len(g) - 1, 2)]
        single = [g[-1] for g in groups if len(g) % 2]
        a = _gather(current, np.array(first, dtype=np.int64))
        b = _gather(current, np.array(second, dtype=np.int64))
        pair_max = _elementwise(net.lift(b), net.activate(_elementwise(a, b, -_ONE), _ZERO), _ONE)
        leftover = net.lift(_gather(current, np.array(single, dtype=np.int64)))
        current = _Value(pair_max.rows + leftover.rows, pair_max.consts + leftover.consts,
                         (pair_max.size + leftover.size,), pair_max.level)
        new_groups, n_pairs, n_single = [], 0, 0
        for g in groups:
            size = len(g) // 2
            members = list(range(n_pairs, n_pairs + size))
            n_pairs += size
            if len(g) % 2:
                members.append(len(first) + n_single)
                n_single += 1
            new_groups.append(members)
        groups = new_groups
    return _gather(current, np.array([g[0] for g in groups], dtype=np.int64).reshape(c, *out_sizes))


# ------------------------------------------------------------------------------------ the module
@dataclass(frozen=True)
class LoweredNetwork:
    """The dense form of a traced module, in exact rationals, stored sparsely.

    ``layers[i] = (rows, consts, slopes)``: ``rows[u]`` maps the previous layer's units (the
    input for i = 0) to the Fraction coefficients of unit u's pre-activation, ``consts[u]`` is its
    bias and ``slopes[u]`` its negative slope alpha (0 ReLU, 1 identity); the last layer is the
    affine output layer (``slopes`` None).  Inputs are the input tensor flattened in C order, outputs
    the output tensor flattened in C order.
    """

    layers: tuple
    input_shape: tuple
    output_shape: tuple

    def arrays(self, exact: bool = True):
        """Dense ``(weights, biases, negative_slopes)``: Fraction object arrays, or float64 rounded once."""
        weights, biases, slopes = [], [], []
        n_columns = _prod(self.input_shape)
        for rows, consts, sl in self.layers:
            W, b = _dense(rows, consts, n_columns, exact)
            weights.append(W)
            biases.append(b)
            if sl is not None:
                slopes.append(np.array(sl, dtype=object) if exact else np.array([float(x) for x in sl]))
            n_columns = len(rows)
        return weights, biases, slopes


def _torch():
    try:
        import torch
        import torch.fx  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the optional extra
        raise PolyattrError("torch: PyTorch is not installed; pip install 'polyattr[torch]'") from None
    return torch


def _module_tables(torch):
    nn, F = torch.nn, torch.nn.functional
    modules = {
        nn.Linear: "linear", nn.Conv1d: "conv", nn.Conv2d: "conv", nn.BatchNorm1d: "batch_norm",
        nn.BatchNorm2d: "batch_norm", nn.AvgPool1d: "avg_pool", nn.AvgPool2d: "avg_pool",
        nn.AdaptiveAvgPool1d: "adaptive_avg_pool", nn.AdaptiveAvgPool2d: "adaptive_avg_pool",
        nn.MaxPool1d: "max_pool", nn.MaxPool2d: "max_pool", nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu",
        nn.Hardtanh: "hardtanh", nn.ReLU6: "hardtanh", nn.Flatten: "flatten", nn.Unflatten: "unflatten",
        nn.Identity: "identity", nn.Dropout: "dropout", nn.Dropout1d: "dropout", nn.Dropout2d: "dropout",
        nn.AlphaDropout: "dropout",
    }
    return modules


def _check_tensor(torch, name: str, t) -> None:
    from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

    if isinstance(t, (UninitializedParameter, UninitializedBuffer)):
        raise PolyattrError(
            f"module: {name} is uninitialised (a lazy module such as LazyLinear); run one forward pass first"
        )
    if t.device.type == "meta":
        raise PolyattrError(f"module: {name} is on the meta device (it holds no values); load real weights first")
    if t.is_complex():
        raise PolyattrError(f"module: {name} has complex dtype {t.dtype}; expected real floating-point values")
    if t.layout != torch.strided:
        raise PolyattrError(f"module: {name} has layout {t.layout}; expected a dense (strided) tensor")


def _tensor_fractions(torch, name: str, t) -> np.ndarray:
    _check_tensor(torch, name, t)
    if t.dtype == torch.bool or not (t.is_floating_point() or not t.is_complex()):
        raise PolyattrError(f"module: {name} has dtype {t.dtype}; expected real numbers")
    arr = t.detach().to(device="cpu", dtype=torch.float64).numpy()
    if not t.is_floating_point() and not np.array_equal(arr, t.detach().cpu().numpy()):
        raise PolyattrError(f"module: {name}: integers too large to convert exactly")
    if not np.all(np.isfinite(arr)):
        raise PolyattrError(f"module: {name} contains NaN or infinite values")
    return _fractions(arr)


def _check_module(torch, module, modules) -> None:
    """Refusals that apply to the module as a whole, before tracing."""
    nn = torch.nn
    hooks = nn.modules.module
    if getattr(hooks, "_global_forward_hooks", None) or getattr(hooks, "_global_forward_pre_hooks", None):
        raise PolyattrError("module: global forward hooks are registered (torch.fx would not run them); remove them first")
    for name, p in module.named_parameters():
        _check_tensor(torch, f"parameter '{name}'", p)
        if not p.is_floating_point():
            raise PolyattrError(f"module: parameter '{name}' has dtype {p.dtype}; expected real floating-point values")
    for name, b in module.named_buffers():
        _check_tensor(torch, f"buffer '{name}'", b)
    for name, sub in module.named_modules():
        label = f"layer '{name}' ({type(sub).__name__})" if name else f"the module ({type(sub).__name__})"
        if sub._forward_hooks or sub._forward_pre_hooks:
            raise PolyattrError(
                f"module: {label} has forward hooks or pre-hooks, which can change its output and which "
                "torch.fx does not run; remove them before importing"
            )
        base = next((cls for cls in type(sub).__mro__ if cls in modules), None)
        if base is not None and type(sub) is not base and type(sub).forward is not base.forward:
            raise PolyattrError(
                f"module: {label} subclasses {base.__name__} and overrides forward; only the built-in "
                f"{base.__name__} behaviour can be imported"
            )


def _trace(torch, module, modules):
    import torch.fx as fx

    class _Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return isinstance(m, tuple(modules)) or super().is_leaf_module(m, qualname)

    try:
        graph = _Tracer().trace(module)
    except Exception as exc:  # user code: any failure of symbolic tracing is a bad input here
        raise PolyattrError(
            f"module: torch.fx could not trace {type(module).__name__} ({type(exc).__name__}: {exc}); "
            "forward must not branch on tensor values"
        ) from None
    return list(graph.nodes)


def _normalise_shape(input_shape) -> tuple:
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (int(input_shape),)
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise PolyattrError(f"input_shape: expected a tuple of positive integers, got {input_shape!r}") from None
    if not shape or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in shape):
        raise PolyattrError(f"input_shape: expected a non-empty tuple of positive integers, got {input_shape!r}")
    return tuple(int(s) for s in shape)


def _infer_input_shape(torch, module, nodes) -> tuple:
    """(in_features,) when the input reaches a Linear layer through shape-keeping layers only.

    Flatten, Identity and Dropout in front of the Linear do not matter: the lowered network reads
    the input flattened, and a Linear reads the last in_features values per row either way.
    """
    nn = torch.nn
    placeholders = [n for n in nodes if n.op == "placeholder"]
    node = placeholders[0] if len(placeholders) == 1 else None
    while node is not None and len(node.users) == 1:
        user = next(iter(node.users))
        if user.op != "call_module":
            break
        sub = module.get_submodule(user.target)
        if isinstance(sub, nn.Linear):
            return (sub.in_features,)
        if not isinstance(sub, (nn.Flatten, nn.Identity, nn.Dropout)):
            break
        node = user
    raise PolyattrError(
        "input_shape: required unless the input goes straight into a Linear layer; pass the per-sample "
        "shape, e.g. input_shape=(C, H, W) or (n_features,)"
    )


# tensor methods whose result is a view of (shares storage with) their input
_VIEW_METHODS = frozenset({"view", "reshape", "flatten", "contiguous", "unsqueeze", "squeeze", "permute", "transpose"})


class _Lowerer:
    """Walks the fx graph once, turning each node into values of a :class:`_Network`."""

    def __init__(self, torch, module, nodes, input_shape, modules):
        self.torch, self.module, self.nodes, self.modules = torch, module, nodes, modules
        self.input_shape = input_shape
        self.net = _Network(_prod(input_shape))
        for i, node in enumerate(nodes):
            for arg in node.all_input_nodes:
                self.net.last_use[arg] = i
        F = torch.nn.functional
        self.functions = {
            F.relu: self._f_relu, torch.relu: self._f_relu, F.relu6: self._f_relu6, F.leaky_relu: self._f_leaky,
            F.hardtanh: self._f_hardtanh, torch.clamp: self._f_clamp, torch.clip: self._f_clamp,
            torch.abs: self._f_abs, operator.abs: self._f_abs, torch.maximum: self._f_maximum,
            torch.minimum: self._f_minimum, F.linear: self._f_linear, F.conv1d: self._f_conv, F.conv2d: self._f_conv,
            F.avg_pool1d: self._f_avg_pool1d, F.avg_pool2d: self._f_avg_pool2d, F.max_pool1d: self._f_max_pool1d,
            F.max_pool2d: self._f_max_pool2d, F.adaptive_avg_pool1d: self._f_adaptive1d,
            F.adaptive_avg_pool2d: self._f_adaptive2d, F.batch_norm: self._f_batch_norm, F.dropout: self._f_dropout,
            torch.flatten: self._f_flatten, torch.reshape: self._f_reshape, torch.cat: self._f_cat,
            torch.concat: self._f_cat, torch.add: self._f_add, operator.add: self._f_add, torch.sub: self._f_sub,
            operator.sub: self._f_sub, torch.mul: self._f_mul, operator.mul: self._f_mul,
            operator.truediv: self._f_div, torch.div: self._f_div, operator.neg: self._f_neg, torch.neg: self._f_neg,
            operator.getitem: self._f_getitem, getattr: self._f_getattr,
        }
        self.view_functions = {torch.flatten, torch.reshape, operator.getitem}
        self.methods = {
            "relu": self._f_relu, "abs": self._f_abs, "clamp": self._f_clamp, "clip": self._f_clamp,
            "view": self._m_view, "reshape": self._m_view, "flatten": self._f_flatten, "size": self._m_size,
            "add": self._f_add, "sub": self._f_sub, "mul": self._f_mul, "div": self._f_div, "neg": self._f_neg,
            "contiguous": self._m_same, "clone": self._m_same, "unsqueeze": self._m_unsqueeze,
            "squeeze": self._m_squeeze, "permute": self._m_permute, "transpose": self._m_transpose,
            "maximum": self._f_maximum, "minimum": self._f_minimum, "dim": self._m_dim,
        }

    # -- the walk --------------------------------------------------------------------------------
    def run(self) -> LoweredNetwork:
        net = self.net
        output = None
        for i, node in enumerate(self.nodes):
            net.position = i
            try:
                if node.op == "output":
                    output = self._output(node)
                    break
                net.env[node] = self._node(node)
            except _Unsupported as exc:
                raise PolyattrError(f"module: {self._describe(node)} at graph node {i} ('{node.name}'): {exc}") from None
            for arg in node.all_input_nodes:  # free what no later node reads
                if net.last_use.get(arg) == i:
                    net.env.pop(arg, None)
        return self._assemble(output)

    def _describe(self, node) -> str:
        if node.op == "call_module":
            return f"layer '{node.target}' ({type(self.module.get_submodule(node.target)).__name__})"
        if node.op == "call_function":
            name = getattr(node.target, "__qualname__", None) or getattr(node.target, "__name__", repr(node.target))
            mod = getattr(node.target, "__module__", None) or ""
            return f"operation {mod + '.' if mod and mod != 'builtins' else ''}{name}"
        if node.op == "call_method":
            return f"method Tensor.{node.target}()"
        return f"{node.op} '{node.target}'"

    def _node(self, node):
        import torch.fx as fx

        env = self.net.env
        if node.op == "placeholder":
            if node.prev.op != "root":
                raise _Unsupported("expected a forward with one tensor input")
            n = _prod(self.input_shape)
            return _Value(tuple({i: _ONE} for i in range(n)), (_ZERO,) * n, self.input_shape, 0)
        if node.op == "get_attr":
            obj = self.module
            for part in node.target.split("."):
                obj = getattr(obj, part)
            if not isinstance(obj, self.torch.Tensor):
                raise _Unsupported(f"expected a tensor attribute, got {type(obj).__name__}")
            return _Const(_tensor_fractions(self.torch, f"tensor '{node.target}'", obj))
        args = fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
        if node.op == "call_module":
            sub = self.module.get_submodule(node.target)
            kind = next((self.modules[c] for c in type(sub).__mro__ if c in self.modules), None)
            if kind is None:
                raise _Unsupported(
                    "unsupported layer; supported: Linear, Conv1d/2d, BatchNorm1d/2d, AvgPool1d/2d, "
                    "AdaptiveAvgPool1d/2d, MaxPool1d/2d, ReLU, LeakyReLU, Hardtanh, ReLU6, Flatten, Unflatten, "
                    "Dropout, Identity"
                )
            if getattr(sub, "inplace", False):
                self._check_inplace(node)
            return getattr(self, f"_mod_{kind}")(sub, *args, **kwargs)
        if node.op == "call_function":
            handler = self.functions.get(node.target)
            if handler is None:
                raise _Unsupported("unsupported operation (not piecewise affine, or not implemented)")
            if kwargs.get("inplace"):
                self._check_inplace(node)
            return handler(*args, **kwargs)
        if node.op == "call_method":
            name = node.target
            handler = self.methods.get(name)
            if handler is None:
                if name.endswith("_") and name[:-1] in self.methods:
                    self._check_inplace(node)
                    handler = self.methods[name[:-1]]
                else:
                    raise _Unsupported("unsupported tensor method")
            return handler(*args, **kwargs)
        raise _Unsupported("unsupported graph node")

    def _check_inplace(self, node):
        """An in-place operation is lowered as its out-of-place form: only safe if nothing reads its
        input again, nor any tensor it is a view of (or that shares its storage through Identity)."""
        import torch.fx as fx

        first = node.args[0] if node.args else None
        seen = []
        while isinstance(first, fx.Node) and first not in seen:
            seen.append(first)
            if self.net.last_use.get(first, -1) > self.net.position:
                raise _Unsupported(
                    f"in-place operation on '{first.name}', which is read again later (it would see the modified tensor)"
                )
            first = first.args[0] if self._is_alias(first) and first.args else None

    def _is_alias(self, node) -> bool:
        """Whether the node's result shares storage with its first argument (views and pass-throughs)."""
        if node.op == "call_method":
            return node.target in _VIEW_METHODS
        if node.op == "call_function":
            return node.target in self.view_functions
        if node.op == "call_module":
            return self.modules.get(type(self.module.get_submodule(node.target))) in ("identity", "dropout", "flatten", "unflatten")
        return False

    def _output(self, node):
        result = fx_arg = node.args[0]
        import torch.fx as fx

        if isinstance(fx_arg, fx.Node):
            result = self.net.env[fx_arg]
        if not isinstance(result, _Value):
            raise _Unsupported(
                "expected the module to return one tensor computed from its input, got "
                f"{type(fx_arg).__name__ if not isinstance(fx_arg, fx.Node) else type(result).__name__}"
            )
        (result,) = self.net.on_base(result)
        return result

    # -- assembling the dense network ------------------------------------------------------------
    def _assemble(self, output: _Value) -> LoweredNetwork:
        net = self.net
        layers = [list(layer) for layer in net.hidden]
        out_rows, out_consts = list(output.rows), list(output.consts)
        # drop units no later layer reads (they would only add hyperplanes), last layer first
        reads = out_rows
        for k in range(len(layers) - 1, -1, -1):
            rows, consts, slopes = layers[k]
            used = sorted(set().union(*reads)) if reads else []
            if not used:
                used = [0]
            remap = {u: i for i, u in enumerate(used)}
            reads[:] = [{remap[u]: w for u, w in r.items()} for r in reads]
            layers[k] = [[rows[u] for u in used], [consts[u] for u in used], [slopes[u] for u in used]]
            reads = layers[k][0]
        # compose away layers whose units are all identities (an affine map between two others)
        kept = []
        for rows, consts, sl in [*layers, [out_rows, out_consts, None]]:
            if kept and all(x == 1 for x in kept[-1][2]):
                prev_rows, prev_consts, _ = kept.pop()
                rows, consts = _compose(rows, consts, prev_rows, prev_consts)
            kept.append((rows, consts, sl))
        return LoweredNetwork(tuple(kept), self.input_shape, output.shape)

    # -- module handlers -------------------------------------------------------------------------
    def _param(self, sub, name):
        t = getattr(sub, name, None)
        if t is None:
            return None
        return _tensor_fractions(self.torch, f"parameter '{name}' of {type(sub).__name__}", t)

    def _mod_linear(self, sub, x):
        return _linear(x, self._param(sub, "weight"), self._param(sub, "bias"))

    def _mod_conv(self, sub, x):
        if sub.padding_mode != "zeros":
            raise _Unsupported(f"padding_mode={sub.padding_mode!r}; only 'zeros' is supported")
        return _conv(x, self._param(sub, "weight"), self._param(sub, "bias"), sub.stride, sub.padding, sub.dilation, sub.groups)

    def _mod_batch_norm(self, sub, x):
        if sub.running_mean is None or sub.running_var is None:
            raise _Unsupported("track_running_stats=False: it normalises with batch statistics, not a fixed affine map")
        if sub.training:
            raise _Unsupported("in training mode it normalises with batch statistics; call module.eval() first")
        x = _input(x)
        ndims = (1, 2) if isinstance(sub, self.torch.nn.BatchNorm1d) else (3,)
        if len(x.shape) not in ndims:
            raise _Unsupported(f"expected a per-sample input with {' or '.join(map(str, ndims))} dimensions, got {x.shape}")
        if x.shape[0] != sub.num_features:
            raise _Unsupported(f"expected {sub.num_features} channels, got per-sample shape {x.shape}")
        return _batch_norm(
            x, _tensor_fractions(self.torch, "running_mean", sub.running_mean),
            _tensor_fractions(self.torch, "running_var", sub.running_var),
            self._param(sub, "weight") if sub.affine else None, self._param(sub, "bias") if sub.affine else None, sub.eps,
        )

    def _mod_avg_pool(self, sub, x):
        nd = 1 if isinstance(sub, self.torch.nn.AvgPool1d) else 2
        return _avg_pool(x, sub.kernel_size, sub.stride, sub.padding, sub.ceil_mode, sub.count_include_pad,
                         getattr(sub, "divisor_override", None), nd)

    def _mod_adaptive_avg_pool(self, sub, x):
        nd = 1 if isinstance(sub, self.torch.nn.AdaptiveAvgPool1d) else 2
        return _adaptive_avg_pool(x, sub.output_size, nd)

    def _mod_max_pool(self, sub, x):
        if sub.return_indices:
            raise _Unsupported("return_indices=True returns indices, which are not piecewise affine")
        nd = 1 if isinstance(sub, self.torch.nn.MaxPool1d) else 2
        return _max_pool(self.net, x, sub.kernel_size, sub.stride, sub.padding, sub.dilation, sub.ceil_mode, nd)

    def _mod_relu(self, sub, x):
        return _relu_like(self.net, x, _ZERO)

    def _mod_leaky_relu(self, sub, x):
        return _relu_like(self.net, x, _scalar_fraction(sub.negative_slope, "negative_slope"))

    def _mod_hardtanh(self, sub, x):
        return _clamp(self.net, x, sub.min_val, sub.max_val)

    def _mod_flatten(self, sub, x):
        return _flatten(x, sub.start_dim, sub.end_dim)

    def _mod_unflatten(self, sub, x):
        return self._unflatten(x, sub.dim, sub.unflattened_size)

    def _mod_identity(self, sub, x, *args, **kwargs):
        return x

    def _mod_dropout(self, sub, x):
        if sub.training and sub.p > 0:
            raise _Unsupported("in training mode it zeroes random elements; call module.eval() first")
        return x

    # -- function and method handlers ------------------------------------------------------------
    def _f_relu(self, x, inplace=False):
        return _relu_like(self.net, x, _ZERO)

    def _f_relu6(self, x, inplace=False):
        return _clamp(self.net, x, 0, 6)

    def _f_leaky(self, x, negative_slope=0.01, inplace=False):
        return _relu_like(self.net, x, _scalar_fraction(negative_slope, "negative_slope"))

    def _f_hardtanh(self, x, min_val=-1.0, max_val=1.0, inplace=False):
        return _clamp(self.net, x, min_val, max_val)

    def _f_clamp(self, x, min=None, max=None):  # noqa: A002 - torch's argument names
        for bound in (min, max):
            if bound is not None and not isinstance(bound, (int, float)):
                raise _Unsupported("clamp with tensor bounds is not supported; use numbers")
        return _clamp(self.net, x, min, max)

    def _f_abs(self, x):
        return _abs(self.net, x)

    def _f_maximum(self, a, b):
        return _maximum(self.net, a, b, True)

    def _f_minimum(self, a, b):
        return _maximum(self.net, a, b, False)

    def _const_arg(self, c, what):
        if c is None:
            return None
        if not isinstance(c, _Const):
            raise _Unsupported(f"{what}: expected a constant tensor (a parameter or buffer)")
        return c.array

    def _f_linear(self, *args, **kwargs):
        b = _bind(args, kwargs, ["input", "weight", "bias"], {"bias": None})
        weight = self._const_arg(b["weight"], "weight")
        if weight.ndim != 2:
            raise _Unsupported(f"weight: expected a matrix, got shape {weight.shape}")
        bias = self._const_arg(b["bias"], "bias")
        return _linear(b["input"], weight, None if bias is None else bias.ravel())

    def _f_conv(self, *args, **kwargs):
        b = _bind(args, kwargs, ["input", "weight", "bias", "stride", "padding", "dilation", "groups"],
                  {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1})
        weight = self._const_arg(b["weight"], "weight")
        bias = self._const_arg(b["bias"], "bias")
        return _conv(b["input"], weight, None if bias is None else bias.ravel(), b["stride"], b["padding"],
                     b["dilation"], b["groups"])

    def _avg(self, args, kwargs, nd):
        names = ["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"]
        defaults = {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True}
        if nd == 2:
            names.append("divisor_override")
            defaults["divisor_override"] = None
        b = _bind(args, kwargs, names, defaults)
        return _avg_pool(b["input"], b["kernel_size"], b["stride"], b["padding"], b["ceil_mode"],
                         b["count_include_pad"], b.get("divisor_override"), nd)

    def _f_avg_pool1d(self, *args, **kwargs):
        return self._avg(args, kwargs, 1)

    def _f_avg_pool2d(self, *args, **kwargs):
        return self._avg(args, kwargs, 2)

    def _maxp(self, args, kwargs, nd):
        b = _bind(args, kwargs, ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"],
                  {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False})
        if b["return_indices"]:
            raise _Unsupported("return_indices=True returns indices, which are not piecewise affine")
        return _max_pool(self.net, b["input"], b["kernel_size"], b["stride"], b["padding"], b["dilation"],
                         b["ceil_mode"], nd)

    def _f_max_pool1d(self, *args, **kwargs):
        return self._maxp(args, kwargs, 1)

    def _f_max_pool2d(self, *args, **kwargs):
        return self._maxp(args, kwargs, 2)

    def _f_adaptive1d(self, x, output_size):
        return _adaptive_avg_pool(x, output_size, 1)

    def _f_adaptive2d(self, x, output_size):
        return _adaptive_avg_pool(x, output_size, 2)

    def _f_batch_norm(self, *args, **kwargs):
        b = _bind(args, kwargs, ["input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"],
                  {"weight": None, "bias": None, "training": False, "momentum": 0.1, "eps": 1e-5})
        if b["training"]:
            raise _Unsupported("training=True normalises with batch statistics; call module.eval() first")
        mean, var = self._const_arg(b["running_mean"], "running_mean"), self._const_arg(b["running_var"], "running_var")
        if mean is None or var is None:
            raise _Unsupported("needs running statistics (running_mean and running_var)")
        weight, bias = self._const_arg(b["weight"], "weight"), self._const_arg(b["bias"], "bias")
        x = _input(b["input"])
        if not x.shape or any(a is not None and a.shape != (x.shape[0],) for a in (mean, var, weight, bias)):
            raise _Unsupported(f"statistics do not match the channels of per-sample shape {x.shape}")
        return _batch_norm(x, list(mean), list(var), None if weight is None else list(weight),
                           None if bias is None else list(bias), b["eps"])

    def _f_dropout(self, *args, **kwargs):
        b = _bind(args, kwargs, ["input", "p", "training", "inplace"], {"p": 0.5, "training": True, "inplace": False})
        if b["training"] and b["p"] > 0:
            raise _Unsupported("training=True zeroes random elements; pass training=False (or self.training in eval mode)")
        return b["input"]

    def _f_flatten(self, x, start_dim=0, end_dim=-1):
        return _flatten(x, start_dim, end_dim)

    def _f_reshape(self, x, shape):
        return _view(x, shape, "reshape")

    def _m_view(self, x, *sizes):
        return _view(x, sizes, "view/reshape")

    def _unflatten(self, x, dim, sizes):
        x = _input(x)
        axis = _dim(dim, len(x.shape), "unflatten")
        sizes = list(sizes)
        if sizes.count(-1) == 1:
            known = _prod([s for s in sizes if s != -1])
            sizes = [x.shape[axis] // known if s == -1 else s for s in sizes]
        if _prod(sizes) != x.shape[axis]:
            raise _Unsupported(f"cannot unflatten size {x.shape[axis]} into {sizes}")
        return _reshaped(x, (*x.shape[:axis], *sizes, *x.shape[axis + 1:]))

    def _m_size(self, x, dim=None):
        x = _input(x)
        full = (_BATCH, *x.shape)
        if dim is None:
            return full
        return full[_dim(dim, len(x.shape), "size") + 1] if dim not in (0, -len(full)) else _BATCH

    def _m_dim(self, x):
        return 1 + len(_input(x).shape)

    def _m_same(self, x, *args, **kwargs):
        return _input(x)

    def _m_unsqueeze(self, x, dim):
        x = _input(x)
        full = len(x.shape) + 2
        if isinstance(dim, bool) or not isinstance(dim, int) or not -full <= dim < full:
            raise _Unsupported(f"unsqueeze: bad dimension {dim!r}")
        d = dim % full
        if d == 0:
            raise _Unsupported("unsqueeze before the batch dimension is not supported")
        return _reshaped(x, (*x.shape[:d - 1], 1, *x.shape[d - 1:]))

    def _m_squeeze(self, x, dim=None):
        x = _input(x)
        if dim is None:
            return _reshaped(x, tuple(s for s in x.shape if s != 1))
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = {_dim(d, len(x.shape), "squeeze") for d in dims}
        return _reshaped(x, tuple(s for i, s in enumerate(x.shape) if not (i in axes and s == 1)))

    def _m_permute(self, x, *dims):
        x = _input(x)
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        if len(dims) != len(x.shape) + 1:
            raise _Unsupported(f"permute: expected {len(x.shape) + 1} dimensions, got {dims!r}")
        if dims[0] % (len(x.shape) + 1) != 0:
            raise _Unsupported(f"permute{dims!r}: the batch dimension must stay first")
        axes = [_dim(d, len(x.shape), "permute") for d in dims[1:]]
        if sorted(axes) != list(range(len(x.shape))):
            raise _Unsupported(f"permute: {dims!r} is not a permutation")
        return _gather(x, np.transpose(_index_of(x), axes))

    def _m_transpose(self, x, dim0, dim1):
        x = _input(x)
        a, b = _dim(dim0, len(x.shape), "transpose"), _dim(dim1, len(x.shape), "transpose")
        return _gather(x, np.swapaxes(_index_of(x), a, b))

    def _f_cat(self, tensors, dim=0):
        return _cat(self.net, tensors, dim)

    def _f_add(self, a, b, alpha=1):
        return _add(self.net, a, b, _scalar_fraction(alpha, "alpha"))

    def _f_sub(self, a, b, alpha=1):
        return _add(self.net, a, b, -_scalar_fraction(alpha, "alpha"))

    def _f_mul(self, a, b):
        return _mul(a, b)

    def _f_div(self, a, b, rounding_mode=None):
        if rounding_mode is not None:
            raise _Unsupported("rounding division is not piecewise affine")
        if isinstance(b, _Value):
            raise _Unsupported("division by an input-dependent tensor is not piecewise affine")
        return _mul(a, _reciprocal(b))

    def _f_neg(self, x):
        return _mul(x, -1)

    def _f_getitem(self, x, index):
        if isinstance(x, _Value):
            return _getitem(x, index)
        if isinstance(x, (tuple, list)):
            return x[index]
        raise _Unsupported(f"indexing a {type(x).__name__} is not supported")

    def _f_getattr(self, x, name):
        if isinstance(x, _Value):
            if name == "shape":
                return (_BATCH, *x.shape)
            if name == "ndim":
                return 1 + len(x.shape)
        raise _Unsupported(f"attribute {name!r} of a traced tensor is not supported")


def _dense(rows, consts, n_columns: int, exact: bool):
    """A dense weight matrix and bias vector from sparse rows (float64: each entry rounded once)."""
    if exact:
        W = np.empty((len(rows), n_columns), dtype=object)
        W.fill(_ZERO)
        b = np.empty(len(consts), dtype=object)
        b[:] = list(consts)
    else:
        W = np.zeros((len(rows), n_columns))
        b = np.array([float(c) for c in consts], dtype=np.float64)
    for i, row in enumerate(rows):
        for j, w in row.items():
            W[i, j] = w if exact else float(w)
    return W, b


def _compose(rows, consts, prev_rows, prev_consts):
    """The rows of an affine map applied after another one (the previous layer's units are identities)."""
    new_rows = [_combine_rows((w, prev_rows[u]) for u, w in r.items()) for r in rows]
    new_consts = [c + sum((w * prev_consts[u] for u, w in r.items()), _ZERO) for r, c in zip(rows, consts)]
    return new_rows, new_consts


def lower_torch(module, input_shape=None) -> LoweredNetwork:
    """Trace ``module`` with torch.fx and lower it to a dense network in exact rationals.

    Parameters
    ----------
    module : torch.nn.Module
        Built from the supported layers and operations (see :func:`from_torch`).
    input_shape : tuple of int, optional
        The per-sample shape of the input tensor, e.g. ``(C, H, W)`` or ``(n_features,)``;
        inferred as ``(in_features,)`` when the input goes straight into a ``Linear`` layer.

    Returns
    -------
    LoweredNetwork
        Weights, biases and negative slopes as Fractions; inputs are the input tensor flattened in C
        order, outputs the output tensor flattened in C order.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise PolyattrError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    modules = _module_tables(torch)
    _check_module(torch, module, modules)
    nodes = _trace(torch, module, modules)
    shape = _infer_input_shape(torch, module, nodes) if input_shape is None else _normalise_shape(input_shape)
    return _Lowerer(torch, module, nodes, shape, modules).run()


def from_torch(module, input_shape=None, exact: bool = False):
    """Import a PyTorch module as a dense network with ReLU, leaky-ReLU and identity units.

    Supported: ``Linear``, ``Conv1d``/``Conv2d`` (unrolled to dense for ``input_shape``; stride,
    zero padding, dilation, groups, bias), ``BatchNorm1d``/``2d`` in eval mode (folded into the
    affine map), ``AvgPool1d``/``2d``, ``AdaptiveAvgPool1d``/``2d``, ``MaxPool1d``/``2d`` (a tree of
    pairwise maxima), ``ReLU``, ``LeakyReLU``, ``Hardtanh``, ``ReLU6``, abs and clamp (through
    ReLU identities), ``Flatten``, ``Unflatten``, ``Dropout`` and ``Identity`` in eval mode, residual
    additions, and the functional forms (``F.relu``, ``torch.relu``, ``F.linear``, ``F.conv2d``,
    ``torch.add``/``+``/``-``, multiplication and division by constants, ``torch.cat``,
    ``view``/``reshape``/``flatten``, basic slicing, ``torch.maximum``/``minimum``).
    The lowering is exact; see the module documentation of :mod:`polyattr.models.torch_import`.

    Parameters
    ----------
    module : torch.nn.Module
    input_shape : tuple of int, optional
        Per-sample input shape (``(C, H, W)``, ``(C, L)`` or ``(n_features,)``); inferred when the
        input goes straight into a ``Linear`` layer.
    exact : bool
        Return the rational network (otherwise every weight is rounded once to float64).

    Returns
    -------
    ReLUNetwork
        Its inputs are the input tensor flattened in C order (one sample per row), its outputs the
        output tensor flattened in C order.
    """
    lowered = lower_torch(module, input_shape)
    try:
        weights, biases, slopes = lowered.arrays(exact=exact)
    except OverflowError:
        raise PolyattrError("module: a lowered weight exceeds the float64 range; use exact=True") from None
    return ReLUNetwork(weights, biases, negative_slopes=slopes, exact=exact)
