"""The exact algebra behind model import: traced tensors as affine maps of a layer's units.

A :class:`Value` is an input-dependent tensor held as one sparse row ``{unit: coefficient}`` plus a
constant per element, affine in the outputs of one layer of the network being built; a
:class:`Const` is an input-independent tensor.  Affine operations (dense and convolutional layers
unrolled for a given shape, batch normalisation, pooling, reshapes, arithmetic with constants)
compose rows in exact rational arithmetic; piecewise-linear ones (ReLU, leaky ReLU, clamp, abs,
max) add units ``max(z, 0) + alpha * min(z, 0)`` to the open layer of a :class:`LayerBuilder`,
which carries still-needed tensors across a layer boundary with identity units (alpha = 1).  The
result is a :class:`LoweredNetwork`.  Nothing here knows about torch: :mod:`torch_import` maps a
traced graph onto these operations.  Operations raise :class:`Unsupported` with a message; the
caller names the graph node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

ZERO = Fraction(0)
ONE = Fraction(1)
# BatchNorm's 1/sqrt(var + eps) is irrational in general; it is replaced by a rational this close.
_INV_SQRT_BITS = 100


# ------------------------------------------------------------------------------------------ values
class _Batch:
    """The batch size: symbolic, since the lowered network takes any number of rows."""

    def __repr__(self) -> str:
        return "<batch size>"


BATCH = _Batch()


class Unsupported(Exception):
    """Raised inside a handler; turned into a PolyattrError naming the node."""


@dataclass(frozen=True)
class Value:
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
class Const:
    """An input-independent tensor (a parameter, buffer or arithmetic on them): exact Fractions."""

    array: np.ndarray  # dtype object, Fractions, full shape (no batch dimension)


def fractions_of(array) -> np.ndarray:
    arr = np.asarray(array, dtype=np.float64)
    flat = [Fraction(v) for v in arr.ravel().tolist()]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(arr.shape)


def scalar_fraction(v, what: str) -> Fraction:
    if isinstance(v, bool):
        return Fraction(int(v))
    if isinstance(v, (int, Fraction)):
        return Fraction(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise Unsupported(f"{what} must be finite, got {v!r}")
        return Fraction(v)
    raise Unsupported(f"{what}: expected a number, got {type(v).__name__}")


def gather(v: Value, index: np.ndarray) -> Value:
    """Elements of ``v`` at the flat indices ``index`` (an int array of the new per-sample shape)."""
    flat = index.ravel().tolist()
    return Value(tuple(v.rows[i] for i in flat), tuple(v.consts[i] for i in flat), tuple(index.shape), v.level)


def reshaped(v: Value, shape) -> Value:
    return Value(v.rows, v.consts, tuple(shape), v.level)


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


def _linear_map(v: Value, taps, biases, shape) -> Value:
    """Output element o = biases[o] + sum of coefficient * v[i] over ``taps[o]`` (pairs (i, coefficient))."""
    rows, consts = [], []
    for tap, bias in zip(taps, biases):
        rows.append(_combine_rows((c, v.rows[i]) for i, c in tap))
        consts.append(bias + sum((c * v.consts[i] for i, c in tap), ZERO))
    return Value(tuple(rows), tuple(consts), tuple(shape), v.level)


def elementwise(a: Value, b: Value, coef_b: Fraction) -> Value:
    """a + coef_b * b for two values of the same shape and level."""
    rows = tuple(_combine_rows(((ONE, ra), (coef_b, rb))) for ra, rb in zip(a.rows, b.rows))
    consts = tuple(ca + coef_b * cb for ca, cb in zip(a.consts, b.consts))
    return Value(rows, consts, a.shape, a.level)


def affine_scale(v: Value, scale, offset) -> Value:
    """scale * v + offset elementwise (flat lists of Fractions of v's size)."""
    rows = tuple({u: s * w for u, w in r.items()} if s != 0 else {} for r, s in zip(v.rows, scale))
    consts = tuple(s * c + o for c, s, o in zip(v.consts, scale, offset))
    return Value(rows, consts, v.shape, v.level)


def inverse_sqrt(q: Fraction) -> Fraction:
    """A rational within a relative 2**-_INV_SQRT_BITS of 1/sqrt(q), for q > 0."""
    p_num, p_den = q.numerator, q.denominator  # 1/sqrt(q) = sqrt(p_den / p_num)
    shift = max(0, (2 * _INV_SQRT_BITS + 4 - (p_den.bit_length() - p_num.bit_length()) + 1) // 2)
    root = math.isqrt((p_den << (2 * shift)) // p_num)
    return Fraction(root, 1 << shift)


# ------------------------------------------------------------------------------- the lowering state
class LayerBuilder:
    """The layers built so far, the open layer, and the operations that move values between them."""

    def __init__(self):
        self.hidden: list[tuple[list, list, list]] = []  # closed layers: (rows, consts, slopes)
        self.level = 0  # the base layer: 0 is the input, k the k-th closed hidden layer
        self._reset_open()
        # the caller's live values by graph node, the position of each node's last reader and the
        # current position: closing a layer carries across exactly the values still to be read
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

    def check_level(self, v: Value) -> None:
        if v.level not in (self.level, self.level + 1):  # pragma: no cover - a liveness bug, not user input
            raise AssertionError(f"internal error: a value of layer {v.level} used at layer {self.level}")

    # -- moving values up -------------------------------------------------------------------------
    def lift(self, v: Value) -> Value:
        """``v`` (on the base) as a value of the open layer, carried by identity units."""
        if v.level == self.level + 1:
            return v
        self.check_level(v)
        cached = self.lifted.get(id(v))
        if cached is not None and cached[0] is v:
            return cached[1]
        columns = set().union(*v.rows) if v.rows else set()
        new_columns = [c for c in columns if ((( c, ONE),), ZERO, ONE) not in self.open_index]
        if len(new_columns) <= len(v.rows):
            # carry the base units the value reads: its rows keep their coefficients
            carried = {c: self._unit({c: ONE}, ZERO, ONE) for c in sorted(columns)}
            rows = tuple({carried[c]: w for c, w in r.items()} for r in v.rows)
            out = Value(rows, v.consts, v.shape, self.level + 1)
        else:
            # carry the value's elements themselves
            units = [self._unit(r, c, ONE) for r, c in zip(v.rows, v.consts)]
            out = Value(tuple({u: ONE} for u in units), (ZERO,) * len(units), v.shape, self.level + 1)
        self.lifted[id(v)] = (v, out)
        return out

    def _touches_open_layer(self, values) -> bool:
        """Whether any of the values lives on the open layer (each checked to be on a live layer)."""
        tensors = [v for v in values if isinstance(v, Value)]
        for v in tensors:
            self.check_level(v)
        return any(v.level == self.level + 1 for v in tensors)

    def align(self, *values):
        """The values on one common layer (lifting base values when any lives on the open layer)."""
        if self._touches_open_layer(values):
            return [self.lift(v) if isinstance(v, Value) else v for v in values]
        return list(values)

    def close(self, keep=()):
        """Make the open layer the base; live base values (and ``keep``) are carried across first."""
        if not self.open_rows:
            return list(keep)
        for node, v in list(self.env.items()):
            if isinstance(v, Value) and v.level == self.level and self.last_use.get(node, -1) > self.position:
                self.env[node] = self.lift(v)
        keep = [self.lift(v) if isinstance(v, Value) and v.level == self.level else v for v in keep]
        self.hidden.append((self.open_rows, self.open_consts, self.open_slopes))
        self.level += 1
        self._reset_open()
        return keep

    def on_base(self, *values):
        """The values with every one on the base layer (closing the open layer if one is on it)."""
        if self._touches_open_layer(values):
            values = self.close(values)
        return list(values)

    def activate(self, v: Value, slope: Fraction, sign: Fraction = ONE, shift: Fraction = ZERO) -> Value:
        """Units max(z, 0) + slope * min(z, 0) with z = sign * v + shift; ``v`` must be on the base."""
        units = []
        for r, c in zip(v.rows, v.consts):
            row = {u: sign * w for u, w in r.items()} if sign != 1 else r
            units.append(self._unit(row, sign * c + shift, slope))
        return Value(tuple({u: ONE} for u in units), (ZERO,) * len(units), v.shape, self.level + 1)


# --------------------------------------------------------------------------------- shape utilities
def prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def sample_axis(d, ndim: int, what: str) -> int:
    """A per-sample axis from a full-tensor dimension ``d`` (the batch is dimension 0)."""
    if isinstance(d, bool) or not isinstance(d, int):
        raise Unsupported(f"{what}: expected an integer dimension, got {d!r}")
    full = ndim + 1
    if not -full <= d < full:
        raise Unsupported(f"{what}: dimension {d} out of range for a {full}-dimensional tensor")
    d = d % full
    if d == 0:
        raise Unsupported(f"{what}: operating across the batch dimension is not supported")
    return d - 1


def _broadcast(a_shape, b_shape):
    """Per-sample index arrays of two operands broadcast against each other (both batched)."""
    ia = np.arange(prod(a_shape)).reshape(a_shape)
    ib = np.arange(prod(b_shape)).reshape(b_shape)
    try:
        ia, ib = np.broadcast_arrays(ia, ib)
    except ValueError:
        raise Unsupported(f"shapes {a_shape} and {b_shape} do not broadcast") from None
    return ia, ib


def _with_constant(v: Value, c: Const):
    """``v`` broadcast against the constant ``c`` (torch's rules, v batched) and c's flat entries per element."""
    arr = c.array
    while arr.ndim > len(v.shape):  # a constant's leading axes may only meet the batch as size 1
        if arr.shape[0] != 1:
            raise Unsupported(f"a constant of shape {c.array.shape} does not broadcast over the batch")
        arr = arr[0]
    try:
        shape = np.broadcast_shapes(arr.shape, v.shape)
    except ValueError:
        raise Unsupported(f"a constant of shape {c.array.shape} does not broadcast with per-sample shape {v.shape}") from None
    v = gather(v, np.broadcast_to(index_of(v), shape))
    return v, np.broadcast_to(arr, shape).ravel().tolist()


def as_tuple(v, n: int, what: str) -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            v = tuple(v) * n
        if len(v) != n or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise Unsupported(f"{what}: expected {n} integers, got {v!r}")
        return tuple(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise Unsupported(f"{what}: expected an integer, got {v!r}")
    return (v,) * n


def bind(args, kwargs, names, defaults=None):
    """Positional and keyword arguments bound to ``names`` (a minimal inspect.signature.bind)."""
    if len(args) > len(names):
        raise Unsupported(f"expected at most {len(names)} arguments, got {len(args)}")
    bound = dict(defaults or {})
    bound.update(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise Unsupported(f"unsupported argument {key!r}")
        bound[key] = value
    missing = [n for n in names if n not in bound]
    if missing:
        raise Unsupported(f"missing arguments {missing}")
    return bound


def require_value(x, what: str = "input") -> Value:
    if not isinstance(x, Value):
        raise Unsupported(f"{what}: expected a tensor computed from the model's input, got {type(x).__name__}")
    return x


# ------------------------------------------------------------------------------ affine operations
def linear(v: Value, weight: np.ndarray, bias) -> Value:
    """x @ weight.T + bias over the last axis; weight an object array (out, in) of Fractions."""
    v = require_value(v)
    out_f, in_f = weight.shape
    if not v.shape or v.shape[-1] != in_f:
        raise Unsupported(f"expected an input whose last dimension is {in_f}, got per-sample shape {v.shape}")
    lead = prod(v.shape[:-1])
    bias = [ZERO] * out_f if bias is None else list(bias)
    w_rows = [[(k, w) for k, w in enumerate(row) if w != 0] for row in weight.tolist()]
    taps, biases = [], []
    for p in range(lead):
        base = p * in_f
        for j in range(out_f):
            taps.append([(base + k, w) for k, w in w_rows[j]])
            biases.append(bias[j])
    return _linear_map(v, taps, biases, (*v.shape[:-1], out_f))


def conv(v: Value, weight: np.ndarray, bias, stride, padding, dilation, groups) -> Value:
    """An N-d convolution (cross-correlation, zero padding) unrolled for ``v``'s shape."""
    v = require_value(v)
    nd = weight.ndim - 2
    if len(v.shape) != nd + 1:
        raise Unsupported(f"expected a per-sample input of shape (C, {'L' if nd == 1 else 'H, W'}), got {v.shape}")
    c_in, *spatial = v.shape
    c_out, c_group, *kernel = weight.shape
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or c_in != c_group * groups or c_out % groups:
        raise Unsupported(f"{c_in} input channels do not match a weight {weight.shape} with groups={groups}")
    stride = as_tuple(stride, nd, "stride")
    dilation = as_tuple(dilation, nd, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pad_lo = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise Unsupported("padding='same' needs stride 1")
            pad_lo = tuple((d * (k - 1)) // 2 for d, k in zip(dilation, kernel))
        else:
            raise Unsupported(f"padding: expected 'same', 'valid' or integers, got {padding!r}")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)] if padding == "same" else [0] * nd
        pad_hi = tuple(t - lo for t, lo in zip(total, pad_lo))
    else:
        pad_lo = pad_hi = as_tuple(padding, nd, "padding")
    out_spatial = [
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, lo, hi, d, k, st in zip(spatial, pad_lo, pad_hi, dilation, kernel, stride)
    ]
    if any(o < 1 for o in out_spatial):
        raise Unsupported(f"the kernel {tuple(kernel)} is larger than the padded input {tuple(spatial)}")
    opos = np.indices(out_spatial).reshape(nd, -1).T
    kpos = np.indices(kernel).reshape(nd, -1).T
    ipos = opos[:, None, :] * np.array(stride) - np.array(pad_lo) + kpos[None, :, :] * np.array(dilation)
    valid = np.all((ipos >= 0) & (ipos < np.array(spatial)), axis=2)
    in_strides = np.array([prod(spatial[i + 1:]) for i in range(nd)])
    iflat = (ipos * in_strides).sum(axis=2)
    n_space, n_taps = prod(spatial), kpos.shape[0]
    w_flat = weight.ravel().tolist()
    bias = [ZERO] * c_out if bias is None else list(bias)
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
            raise Unsupported(f"padding {tuple(padding)} must be at most half the kernel {tuple(kernel)}")
    out_sizes, per_dim = [], []
    for s, k, st, p, d in zip(spatial, kernel, stride, padding, dilation):
        if st < 1 or k < 1 or d < 1:
            raise Unsupported("kernel, stride and dilation must be positive")
        span = s + 2 * p - d * (k - 1) - 1  # torch's output size (floor division, as its div_rtn)
        o = (span + (st - 1 if ceil_mode else 0)) // st + 1
        if ceil_mode and (o - 1) * st >= s + p:
            o -= 1
        if o < 1:
            raise Unsupported(f"the kernel {tuple(kernel)} is larger than the padded input {tuple(spatial)}")
        out_sizes.append(o)
        dims = []
        for i in range(o):
            start = i * st - p
            members = [start + j * d for j in range(k) if 0 <= start + j * d < s]
            end_padded = min(start + (k - 1) * d + 1, s + p)  # torch's count_include_pad extent
            dims.append((members, end_padded - start, len(members)))
        per_dim.append(dims)
    strides = [prod(spatial[i + 1:]) for i in range(nd)]
    windows = []
    for pos in np.ndindex(*out_sizes):
        parts = [per_dim[i][pos[i]] for i in range(nd)]
        members = [0]
        for (mem, _, _), st in zip(parts, strides):
            members = [m + x * st for m in members for x in mem]
        windows.append((members, prod([pad for _, pad, _ in parts]), prod([n for _, _, n in parts])))
    return out_sizes, windows


def avg_pool(v, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, nd) -> Value:
    v = require_value(v)
    if len(v.shape) != nd + 1:
        raise Unsupported(f"expected a per-sample input with {nd + 1} dimensions (C, ...), got {v.shape}")
    kernel = as_tuple(kernel, nd, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else as_tuple(stride, nd, "stride")
    padding = as_tuple(padding, nd, "padding")
    c, *spatial = v.shape
    out_sizes, windows = _pool_windows(spatial, kernel, stride, padding, (1,) * nd, ceil_mode)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(divisor_override, int) or divisor_override < 1):
        raise Unsupported(f"divisor_override: expected a positive integer, got {divisor_override!r}")
    n_space = prod(spatial)
    taps, biases = [], []
    for ch in range(c):
        for members, padded_count, count in windows:
            divisor = divisor_override or (padded_count if count_include_pad else count)
            weight = Fraction(1, divisor)
            taps.append([(ch * n_space + m, weight) for m in members])
            biases.append(ZERO)
    return _linear_map(v, taps, biases, (c, *out_sizes))


def adaptive_avg_pool(v, output_size, nd) -> Value:
    v = require_value(v)
    if len(v.shape) != nd + 1:
        raise Unsupported(f"expected a per-sample input with {nd + 1} dimensions (C, ...), got {v.shape}")
    c, *spatial = v.shape
    if not isinstance(output_size, (tuple, list)):
        output_size = (output_size,) * nd
    output_size = tuple(s if o is None else o for o, s in zip(output_size, spatial))
    output_size = as_tuple(output_size, nd, "output_size")
    ranges = [
        [((i * s) // o, -((-(i + 1) * s) // o)) for i in range(o)] for s, o in zip(spatial, output_size)
    ]  # torch: start = floor(i*s/o), end = ceil((i+1)*s/o)
    strides = [prod(spatial[i + 1:]) for i in range(nd)]
    n_space = prod(spatial)
    taps, biases = [], []
    for ch in range(c):
        for pos in np.ndindex(*output_size):
            members = [0]
            for d in range(nd):
                lo, hi = ranges[d][pos[d]]
                members = [m + x * strides[d] for m in members for x in range(lo, hi)]
            weight = Fraction(1, len(members))
            taps.append([(ch * n_space + m, weight) for m in members])
            biases.append(ZERO)
    return _linear_map(v, taps, biases, (c, *output_size))


def batch_norm(v, mean, var, weight, bias, eps) -> Value:
    """Eval-mode batch normalisation folded into an affine map over channel axis 0."""
    v = require_value(v)
    if not v.shape:
        raise Unsupported("expected an input with a channel dimension")
    channels = v.shape[0]
    inner = prod(v.shape[1:])
    eps = scalar_fraction(eps, "eps")
    scale, offset = [], []
    for ch in range(channels):
        variance = var[ch] + eps
        if variance <= 0:
            raise Unsupported(f"running_var + eps must be positive, got {float(variance)} for channel {ch}")
        s = inverse_sqrt(variance) * (weight[ch] if weight is not None else ONE)
        o = (bias[ch] if bias is not None else ZERO) - mean[ch] * s
        scale.extend([s] * inner)
        offset.extend([o] * inner)
    return affine_scale(v, scale, offset)


def view(v: Value, sizes, what: str) -> Value:
    """Reshape of a batched tensor to full shape ``sizes`` (the batch size symbolic or -1)."""
    v = require_value(v)
    sizes = list(sizes)
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = list(sizes[0])
    if not sizes:
        raise Unsupported(f"{what}: cannot drop the batch dimension")
    first, rest = sizes[0], sizes[1:]
    for s in rest:
        if s is BATCH or isinstance(s, bool) or not isinstance(s, int):
            raise Unsupported(f"{what}: expected integer sizes after the batch dimension, got {sizes!r}")
    if first is not BATCH:
        if first != -1 or -1 in rest:
            raise Unsupported(
                f"{what}: the first size must be the batch size (x.size(0)) or -1 with the other sizes given; got {sizes!r}"
            )
    if rest.count(-1) > 1:
        raise Unsupported(f"{what}: at most one -1 allowed, got {sizes!r}")
    if -1 in rest:
        known = prod([s for s in rest if s != -1])
        if known == 0 or v.size % known:
            raise Unsupported(f"{what}: cannot reshape per-sample shape {v.shape} to {sizes!r}")
        rest = [v.size // known if s == -1 else s for s in rest]
    if prod(rest) != v.size:
        raise Unsupported(f"{what}: cannot reshape per-sample shape {v.shape} ({v.size} elements) to {sizes!r}")
    return reshaped(v, rest)


def flatten(v: Value, start_dim=1, end_dim=-1, what="flatten") -> Value:
    v = require_value(v)
    nd = len(v.shape)
    if nd == 0:
        raise Unsupported(f"{what}: flattening a batch of scalars would merge the batch dimension")
    start = sample_axis(start_dim, nd, what)
    end = sample_axis(end_dim, nd, what)
    if start > end:
        raise Unsupported(f"{what}: start_dim after end_dim")
    shape = (*v.shape[:start], prod(v.shape[start:end + 1]), *v.shape[end + 1:])
    return reshaped(v, shape)


def index_of(v: Value) -> np.ndarray:
    return np.arange(v.size).reshape(v.shape)


def reduce_sum(v: Value, dims, keepdim: bool, mean: bool) -> Value:
    """Sum (or mean) over per-sample axes given as full-tensor dimensions (never the batch)."""
    v = require_value(v)
    if dims is None:
        raise Unsupported("reducing over every dimension would mix the batch; pass dim=")
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    axes = sorted({sample_axis(d, len(v.shape), "sum/mean") for d in dims})
    index = np.moveaxis(index_of(v), axes, list(range(len(v.shape) - len(axes), len(v.shape))))
    kept_shape = index.shape[: len(v.shape) - len(axes)]
    groups = index.reshape(*kept_shape, -1).reshape(-1, prod(index.shape[len(kept_shape):]))
    weight = Fraction(1, groups.shape[1]) if mean else ONE
    taps = [[(int(i), weight) for i in group] for group in groups]
    shape = tuple(1 if i in axes else s for i, s in enumerate(v.shape)) if keepdim else kept_shape
    return _linear_map(v, taps, [ZERO] * len(taps), shape)


def getitem(v: Value, index) -> Value:
    if not isinstance(index, tuple):
        index = (index,)
    for item in index:
        if not (item is None or item is Ellipsis or isinstance(item, (int, slice))) or isinstance(item, bool):
            raise Unsupported(f"indexing with {type(item).__name__} is not supported (basic slices and integers only)")
    if Ellipsis in index:
        per_sample = index  # the ellipsis covers the batch dimension
        if sum(i is not None and i is not Ellipsis for i in index) > len(v.shape):
            raise Unsupported(f"too many indices for per-sample shape {v.shape}")
    else:
        if index[0] != slice(None):
            raise Unsupported("indexing the batch dimension is not supported; index as x[:, ...]")
        per_sample = index[1:]
    try:
        return gather(v, np.asarray(index_of(v)[per_sample]))
    except IndexError as exc:
        raise Unsupported(f"index {index!r}: {exc}") from None


def cat(net: LayerBuilder, tensors, dim) -> Value:
    tensors = list(tensors)
    if not tensors:
        raise Unsupported("expected at least one tensor")
    for t in tensors:
        require_value(t, "cat")
    tensors = net.align(*tensors)
    nd = len(tensors[0].shape)
    axis = sample_axis(dim, nd, "cat")
    for t in tensors:
        if len(t.shape) != nd or t.shape[:axis] != tensors[0].shape[:axis] or t.shape[axis + 1:] != tensors[0].shape[axis + 1:]:
            raise Unsupported(f"cannot concatenate per-sample shapes {[t.shape for t in tensors]} along dimension {dim}")
    offsets = np.cumsum([0] + [t.size for t in tensors])
    rows = tuple(r for t in tensors for r in t.rows)
    consts = tuple(c for t in tensors for c in t.consts)
    joined = np.concatenate([index_of(t) + off for t, off in zip(tensors, offsets[:-1])], axis=axis)
    level = tensors[0].level
    return gather(Value(rows, consts, (len(rows),), level), joined)


# ------------------------------------------------------------------------- arithmetic on operands
def add(net: LayerBuilder, a, b, coef_b: Fraction) -> Value | Const:
    """a + coef_b * b for tensors, constants and Python numbers."""
    if isinstance(a, Value) and isinstance(b, Value):
        a, b = net.align(a, b)
        ia, ib = _broadcast(a.shape, b.shape)
        return elementwise(gather(a, ia), gather(b, ib), coef_b)
    if isinstance(a, Value) or isinstance(b, Value):
        v, other, sign_v = (a, b, ONE) if isinstance(a, Value) else (b, a, coef_b)
        other_coef = coef_b if v is a else ONE
        if isinstance(other, Const):
            v, offsets = _with_constant(v, other)
        else:
            c = scalar_fraction(other, "operand")
            offsets = [c] * v.size
        return affine_scale(v, [sign_v] * v.size, [other_coef * o for o in offsets])
    return Const(const_array(a) + coef_b * const_array(b))


def const_array(x) -> np.ndarray:
    if isinstance(x, Const):
        return x.array
    return np.array(scalar_fraction(x, "operand"), dtype=object)


def mul(a, b) -> Value | Const:
    if isinstance(a, Value) and isinstance(b, Value):
        raise Unsupported("the product of two input-dependent tensors is not piecewise affine")
    if not isinstance(a, Value) and not isinstance(b, Value):
        return Const(const_array(a) * const_array(b))
    v, other = (a, b) if isinstance(a, Value) else (b, a)
    if isinstance(other, Const):
        v, scale = _with_constant(v, other)
    else:
        scale = [scalar_fraction(other, "factor")] * v.size
    return affine_scale(v, list(scale), [ZERO] * v.size)


def reciprocal(x) -> Const:
    arr = const_array(x)
    if np.any(arr == 0):
        raise Unsupported("division by zero")
    return Const(np.vectorize(lambda f: 1 / f, otypes=[object])(arr))


# --------------------------------------------------------------------------- piecewise operations
def relu_like(net: LayerBuilder, v, slope: Fraction) -> Value:
    (v,) = net.on_base(require_value(v))
    return net.activate(v, slope)


def clamp(net: LayerBuilder, v, lo, hi) -> Value:
    """clamp(z, lo, hi) = lo + relu(z - lo) - relu(z - hi); one-sided forms with one ReLU."""
    (v,) = net.on_base(require_value(v))
    lo = None if lo is None else scalar_fraction(lo, "min")
    hi = None if hi is None else scalar_fraction(hi, "max")
    if lo is None and hi is None:
        raise Unsupported("clamp needs min or max")
    if lo is not None and hi is not None:
        if lo >= hi:
            raise Unsupported(f"expected min < max, got {lo} and {hi}")
        above_lo = net.activate(v, ZERO, ONE, -lo)
        above_hi = net.activate(v, ZERO, ONE, -hi)
        out = elementwise(above_lo, above_hi, -ONE)
        return affine_scale(out, [ONE] * out.size, [lo] * out.size)
    if lo is not None:
        out = net.activate(v, ZERO, ONE, -lo)
        return affine_scale(out, [ONE] * out.size, [lo] * out.size)
    below_hi = net.activate(v, ZERO, -ONE, hi)  # relu(hi - z)
    return affine_scale(below_hi, [-ONE] * below_hi.size, [hi] * below_hi.size)


def absolute(net: LayerBuilder, v) -> Value:
    (v,) = net.on_base(require_value(v))
    return elementwise(net.activate(v, ZERO), net.activate(v, ZERO, -ONE), ONE)


def maximum(net: LayerBuilder, a, b, take_max: bool = True) -> Value:
    """max(a, b) = b + relu(a - b); min(a, b) = a - relu(a - b), elementwise with broadcasting."""
    if not isinstance(a, Value) and not isinstance(b, Value):
        raise Unsupported("expected at least one input-dependent tensor")
    if not isinstance(a, Value) or not isinstance(b, Value):
        v, c = (a, b) if isinstance(a, Value) else (b, a)
        if not isinstance(c, (int, float)):
            raise Unsupported("maximum/minimum with a constant tensor is not supported; use clamp")
        return clamp(net, v, c, None) if take_max else clamp(net, v, None, c)
    a, b = net.on_base(a, b)
    ia, ib = _broadcast(a.shape, b.shape)
    a, b = gather(a, ia), gather(b, ib)
    gap = net.activate(elementwise(a, b, -ONE), ZERO)
    if take_max:
        return elementwise(net.lift(b), gap, ONE)
    return elementwise(net.lift(a), gap, -ONE)


def max_pool(net: LayerBuilder, v, kernel, stride, padding, dilation, ceil_mode, nd) -> Value:
    """Max pooling as a tree of pairwise maxima, all windows one tree level per layer."""
    v = require_value(v)
    if len(v.shape) != nd + 1:
        raise Unsupported(f"expected a per-sample input with {nd + 1} dimensions (C, ...), got {v.shape}")
    kernel = as_tuple(kernel, nd, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else as_tuple(stride, nd, "stride")
    padding = as_tuple(padding, nd, "padding")
    dilation = as_tuple(dilation, nd, "dilation")
    c, *spatial = v.shape
    out_sizes, windows = _pool_windows(spatial, kernel, stride, padding, dilation, ceil_mode)
    n_space = prod(spatial)
    groups = [[ch * n_space + m for m in members] for ch in range(c) for members, _, _ in windows]
    current = v
    while any(len(g) > 1 for g in groups):
        (current,) = net.on_base(current)
        first = [g[i] for g in groups for i in range(0, len(g) - 1, 2)]
        second = [g[i + 1] for g in groups for i in range(0, len(g) - 1, 2)]
        single = [g[-1] for g in groups if len(g) % 2]
        a = gather(current, np.array(first, dtype=np.int64))
        b = gather(current, np.array(second, dtype=np.int64))
        pair_max = elementwise(net.lift(b), net.activate(elementwise(a, b, -ONE), ZERO), ONE)
        leftover = net.lift(gather(current, np.array(single, dtype=np.int64)))
        current = Value(pair_max.rows + leftover.rows, pair_max.consts + leftover.consts,
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
    return gather(current, np.array([g[0] for g in groups], dtype=np.int64).reshape(c, *out_sizes))


# ------------------------------------------------------------------------------------ the result
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
        n_columns = prod(self.input_shape)
        for rows, consts, sl in self.layers:
            W, b = _dense(rows, consts, n_columns, exact)
            weights.append(W)
            biases.append(b)
            if sl is not None:
                slopes.append(np.array(sl, dtype=object) if exact else np.array([float(x) for x in sl]))
            n_columns = len(rows)
        return weights, biases, slopes


def _dense(rows, consts, n_columns: int, exact: bool):
    """A dense weight matrix and bias vector from sparse rows (float64: each entry rounded once)."""
    if exact:
        W = np.empty((len(rows), n_columns), dtype=object)
        W.fill(ZERO)
        b = np.empty(len(consts), dtype=object)
        b[:] = list(consts)
    else:
        W = np.zeros((len(rows), n_columns))
        b = np.array([float(c) for c in consts], dtype=np.float64)
    for i, row in enumerate(rows):
        for j, w in row.items():
            W[i, j] = w if exact else float(w)
    return W, b


def compose(rows, consts, prev_rows, prev_consts):
    """The rows of an affine map applied after another one (the previous layer's units are identities)."""
    new_rows = [_combine_rows((w, prev_rows[u]) for u, w in r.items()) for r in rows]
    new_consts = [c + sum((w * prev_consts[u] for u, w in r.items()), ZERO) for r, c in zip(rows, consts)]
    return new_rows, new_consts


