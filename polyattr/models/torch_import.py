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

import operator

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.models import lowering as lw
from polyattr.models.lowering import LoweredNetwork
from polyattr.models.relu import ReLUNetwork

def _torch():
    try:
        import torch
        import torch.fx  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the optional extra
        raise PolyattrError("torch: PyTorch is not installed; pip install 'polyattr[torch]'") from None
    return torch


def _module_tables(torch) -> dict:
    """Supported layer classes -> the name of their handler (``_mod_<name>`` of :class:`_Lowerer`)."""
    nn = torch.nn
    return {
        nn.Linear: "linear", nn.Conv1d: "conv", nn.Conv2d: "conv", nn.BatchNorm1d: "batch_norm",
        nn.BatchNorm2d: "batch_norm", nn.AvgPool1d: "avg_pool", nn.AvgPool2d: "avg_pool",
        nn.AdaptiveAvgPool1d: "adaptive_avg_pool", nn.AdaptiveAvgPool2d: "adaptive_avg_pool",
        nn.MaxPool1d: "max_pool", nn.MaxPool2d: "max_pool", nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu",
        nn.Hardtanh: "hardtanh", nn.ReLU6: "hardtanh", nn.Flatten: "flatten", nn.Unflatten: "unflatten",
        nn.Identity: "identity", nn.Dropout: "dropout", nn.Dropout1d: "dropout", nn.Dropout2d: "dropout",
        nn.AlphaDropout: "dropout",
    }


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
    """The exact values of a real tensor (floats and integers up to 2**53) as Fractions."""
    _check_tensor(torch, name, t)
    if t.dtype == torch.bool:
        raise PolyattrError(f"module: {name} has dtype {t.dtype}; expected real numbers")
    arr = t.detach().to(device="cpu", dtype=torch.float64).numpy()
    if not t.is_floating_point() and not np.array_equal(arr, t.detach().cpu().numpy()):
        raise PolyattrError(f"module: {name}: integers too large to convert exactly")
    if not np.all(np.isfinite(arr)):
        raise PolyattrError(f"module: {name} contains NaN or infinite values")
    return lw.fractions_of(arr)


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


def _trace(module, modules):
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


def _attribute(module, target: str):
    """The object at a dotted attribute path of the module (a get_attr node's target)."""
    obj = module
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


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
        if user.op == "call_function" and user.target is torch.nn.functional.linear and len(user.args) > 1:
            weight = user.args[1]  # a bare Linear traces to F.linear(input, self.weight, self.bias)
            tensor = _attribute(module, weight.target) if getattr(weight, "op", None) == "get_attr" else None
            if isinstance(tensor, torch.Tensor) and tensor.ndim == 2:
                return (int(tensor.shape[1]),)
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
    """Walks the fx graph once, turning each node into values of a :class:`lw.LayerBuilder`."""

    def __init__(self, torch, module, nodes, input_shape, modules):
        self.torch, self.module, self.nodes, self.modules = torch, module, nodes, modules
        self.input_shape = input_shape
        self.net = lw.LayerBuilder()
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
            operator.getitem: self._f_getitem, getattr: self._f_getattr, torch.sum: self._f_sum,
            torch.mean: self._f_mean,
        }
        self.view_functions = {torch.flatten, torch.reshape, operator.getitem}
        self.methods = {
            "relu": self._f_relu, "abs": self._f_abs, "clamp": self._f_clamp, "clip": self._f_clamp,
            "view": self._m_view, "reshape": self._m_view, "flatten": self._f_flatten, "size": self._m_size,
            "add": self._f_add, "sub": self._f_sub, "mul": self._f_mul, "div": self._f_div, "neg": self._f_neg,
            "contiguous": self._m_same, "clone": self._m_same, "unsqueeze": self._m_unsqueeze,
            "squeeze": self._m_squeeze, "permute": self._m_permute, "transpose": self._m_transpose,
            "maximum": self._f_maximum, "minimum": self._f_minimum, "dim": self._m_dim,
            "sum": self._f_sum, "mean": self._f_mean,
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
            except lw.Unsupported as exc:
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
                raise lw.Unsupported("expected a forward with one tensor input")
            n = lw.prod(self.input_shape)
            return lw.Value(tuple({i: lw.ONE} for i in range(n)), (lw.ZERO,) * n, self.input_shape, 0)
        if node.op == "get_attr":
            obj = _attribute(self.module, node.target)
            if not isinstance(obj, self.torch.Tensor):
                raise lw.Unsupported(f"expected a tensor attribute, got {type(obj).__name__}")
            return lw.Const(_tensor_fractions(self.torch, f"tensor '{node.target}'", obj))
        args = fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
        if node.op == "call_module":
            sub = self.module.get_submodule(node.target)
            kind = next((self.modules[c] for c in type(sub).__mro__ if c in self.modules), None)
            if kind is None:
                raise lw.Unsupported(
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
                raise lw.Unsupported("unsupported operation (not piecewise affine, or not implemented)")
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
                    raise lw.Unsupported("unsupported tensor method")
            return handler(*args, **kwargs)
        raise lw.Unsupported("unsupported graph node")

    def _check_inplace(self, node):
        """An in-place operation is lowered as its out-of-place form: only safe if nothing reads its
        input again, nor any tensor it is a view of (or that shares its storage through Identity)."""
        import torch.fx as fx

        first = node.args[0] if node.args else None
        seen = []
        while isinstance(first, fx.Node) and first not in seen:
            seen.append(first)
            if self.net.last_use.get(first, -1) > self.net.position:
                raise lw.Unsupported(
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
        if not isinstance(result, lw.Value):
            raise lw.Unsupported(
                "expected the module to return one tensor computed from its input, got "
                f"{type(fx_arg).__name__ if not isinstance(fx_arg, fx.Node) else type(result).__name__}"
            )
        (result,) = self.net.on_base(result)
        return result

    # -- assembling the dense network ------------------------------------------------------------
    def _assemble(self, output: lw.Value) -> LoweredNetwork:
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
                rows, consts = lw.compose(rows, consts, prev_rows, prev_consts)
            kept.append((rows, consts, sl))
        return LoweredNetwork(tuple(kept), self.input_shape, output.shape)

    # -- module handlers -------------------------------------------------------------------------
    def _param(self, sub, name):
        t = getattr(sub, name, None)
        if t is None:
            return None
        return _tensor_fractions(self.torch, f"parameter '{name}' of {type(sub).__name__}", t)

    def _mod_linear(self, sub, x):
        return lw.linear(x, self._param(sub, "weight"), self._param(sub, "bias"))

    def _mod_conv(self, sub, x):
        if sub.padding_mode != "zeros":
            raise lw.Unsupported(f"padding_mode={sub.padding_mode!r}; only 'zeros' is supported")
        return lw.conv(x, self._param(sub, "weight"), self._param(sub, "bias"), sub.stride, sub.padding, sub.dilation, sub.groups)

    def _mod_batch_norm(self, sub, x):
        if sub.running_mean is None or sub.running_var is None:
            raise lw.Unsupported("track_running_stats=False: it normalises with batch statistics, not a fixed affine map")
        if sub.training:
            raise lw.Unsupported("in training mode it normalises with batch statistics; call module.eval() first")
        x = lw.require_value(x)
        ndims = (1, 2) if isinstance(sub, self.torch.nn.BatchNorm1d) else (3,)
        if len(x.shape) not in ndims:
            raise lw.Unsupported(f"expected a per-sample input with {' or '.join(map(str, ndims))} dimensions, got {x.shape}")
        if x.shape[0] != sub.num_features:
            raise lw.Unsupported(f"expected {sub.num_features} channels, got per-sample shape {x.shape}")
        return lw.batch_norm(
            x, _tensor_fractions(self.torch, "running_mean", sub.running_mean),
            _tensor_fractions(self.torch, "running_var", sub.running_var),
            self._param(sub, "weight") if sub.affine else None, self._param(sub, "bias") if sub.affine else None, sub.eps,
        )

    def _mod_avg_pool(self, sub, x):
        nd = 1 if isinstance(sub, self.torch.nn.AvgPool1d) else 2
        return lw.avg_pool(x, sub.kernel_size, sub.stride, sub.padding, sub.ceil_mode, sub.count_include_pad,
                         getattr(sub, "divisor_override", None), nd)

    def _mod_adaptive_avg_pool(self, sub, x):
        nd = 1 if isinstance(sub, self.torch.nn.AdaptiveAvgPool1d) else 2
        return lw.adaptive_avg_pool(x, sub.output_size, nd)

    def _mod_max_pool(self, sub, x):
        if sub.return_indices:
            raise lw.Unsupported("return_indices=True returns indices, which are not piecewise affine")
        nd = 1 if isinstance(sub, self.torch.nn.MaxPool1d) else 2
        return lw.max_pool(self.net, x, sub.kernel_size, sub.stride, sub.padding, sub.dilation, sub.ceil_mode, nd)

    def _mod_relu(self, sub, x):
        return lw.relu_like(self.net, x, lw.ZERO)

    def _mod_leaky_relu(self, sub, x):
        return lw.relu_like(self.net, x, lw.scalar_fraction(sub.negative_slope, "negative_slope"))

    def _mod_hardtanh(self, sub, x):
        return lw.clamp(self.net, x, sub.min_val, sub.max_val)

    def _mod_flatten(self, sub, x):
        return lw.flatten(x, sub.start_dim, sub.end_dim)

    def _mod_unflatten(self, sub, x):
        return self._unflatten(x, sub.dim, sub.unflattened_size)

    def _mod_identity(self, sub, x, *args, **kwargs):
        return x

    def _mod_dropout(self, sub, x):
        if sub.training and sub.p > 0:
            raise lw.Unsupported("in training mode it zeroes random elements; call module.eval() first")
        return x

    # -- function and method handlers ------------------------------------------------------------
    def _f_relu(self, x, inplace=False):
        return lw.relu_like(self.net, x, lw.ZERO)

    def _f_relu6(self, x, inplace=False):
        return lw.clamp(self.net, x, 0, 6)

    def _f_leaky(self, x, negative_slope=0.01, inplace=False):
        return lw.relu_like(self.net, x, lw.scalar_fraction(negative_slope, "negative_slope"))

    def _f_hardtanh(self, x, min_val=-1.0, max_val=1.0, inplace=False):
        return lw.clamp(self.net, x, min_val, max_val)

    def _f_clamp(self, x, min=None, max=None):  # noqa: A002 - torch's argument names
        for bound in (min, max):
            if bound is not None and not isinstance(bound, (int, float)):
                raise lw.Unsupported("clamp with tensor bounds is not supported; use numbers")
        return lw.clamp(self.net, x, min, max)

    def _f_abs(self, x):
        return lw.absolute(self.net, x)

    def _f_maximum(self, a, b):
        return lw.maximum(self.net, a, b, True)

    def _f_minimum(self, a, b):
        return lw.maximum(self.net, a, b, False)

    def _const_arg(self, c, what):
        if c is None:
            return None
        if not isinstance(c, lw.Const):
            raise lw.Unsupported(f"{what}: expected a constant tensor (a parameter or buffer)")
        return c.array

    def _f_linear(self, *args, **kwargs):
        b = lw.bind(args, kwargs, ["input", "weight", "bias"], {"bias": None})
        weight = self._const_arg(b["weight"], "weight")
        if weight.ndim != 2:
            raise lw.Unsupported(f"weight: expected a matrix, got shape {weight.shape}")
        bias = self._const_arg(b["bias"], "bias")
        return lw.linear(b["input"], weight, None if bias is None else bias.ravel())

    def _f_conv(self, *args, **kwargs):
        b = lw.bind(args, kwargs, ["input", "weight", "bias", "stride", "padding", "dilation", "groups"],
                  {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1})
        weight = self._const_arg(b["weight"], "weight")
        bias = self._const_arg(b["bias"], "bias")
        return lw.conv(b["input"], weight, None if bias is None else bias.ravel(), b["stride"], b["padding"],
                     b["dilation"], b["groups"])

    def _avg(self, args, kwargs, nd):
        names = ["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"]
        defaults = {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True}
        if nd == 2:
            names.append("divisor_override")
            defaults["divisor_override"] = None
        b = lw.bind(args, kwargs, names, defaults)
        return lw.avg_pool(b["input"], b["kernel_size"], b["stride"], b["padding"], b["ceil_mode"],
                         b["count_include_pad"], b.get("divisor_override"), nd)

    def _f_avg_pool1d(self, *args, **kwargs):
        return self._avg(args, kwargs, 1)

    def _f_avg_pool2d(self, *args, **kwargs):
        return self._avg(args, kwargs, 2)

    def _maxp(self, args, kwargs, nd):
        b = lw.bind(args, kwargs, ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"],
                  {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False})
        if b["return_indices"]:
            raise lw.Unsupported("return_indices=True returns indices, which are not piecewise affine")
        return lw.max_pool(self.net, b["input"], b["kernel_size"], b["stride"], b["padding"], b["dilation"],
                         b["ceil_mode"], nd)

    def _f_max_pool1d(self, *args, **kwargs):
        return self._maxp(args, kwargs, 1)

    def _f_max_pool2d(self, *args, **kwargs):
        return self._maxp(args, kwargs, 2)

    def _f_adaptive1d(self, x, output_size):
        return lw.adaptive_avg_pool(x, output_size, 1)

    def _f_adaptive2d(self, x, output_size):
        return lw.adaptive_avg_pool(x, output_size, 2)

    def _f_batch_norm(self, *args, **kwargs):
        b = lw.bind(args, kwargs, ["input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"],
                  {"weight": None, "bias": None, "training": False, "momentum": 0.1, "eps": 1e-5})
        if b["training"]:
            raise lw.Unsupported("training=True normalises with batch statistics; call module.eval() first")
        mean, var = self._const_arg(b["running_mean"], "running_mean"), self._const_arg(b["running_var"], "running_var")
        if mean is None or var is None:
            raise lw.Unsupported("needs running statistics (running_mean and running_var)")
        weight, bias = self._const_arg(b["weight"], "weight"), self._const_arg(b["bias"], "bias")
        x = lw.require_value(b["input"])
        if not x.shape or any(a is not None and a.shape != (x.shape[0],) for a in (mean, var, weight, bias)):
            raise lw.Unsupported(f"statistics do not match the channels of per-sample shape {x.shape}")
        return lw.batch_norm(x, list(mean), list(var), None if weight is None else list(weight),
                           None if bias is None else list(bias), b["eps"])

    def _f_dropout(self, *args, **kwargs):
        b = lw.bind(args, kwargs, ["input", "p", "training", "inplace"], {"p": 0.5, "training": True, "inplace": False})
        if b["training"] and b["p"] > 0:
            raise lw.Unsupported("training=True zeroes random elements; pass training=False (or self.training in eval mode)")
        return b["input"]

    def _f_flatten(self, x, start_dim=0, end_dim=-1):
        return lw.flatten(x, start_dim, end_dim)

    def _f_reshape(self, x, shape):
        return lw.view(x, shape, "reshape")

    def _m_view(self, x, *sizes):
        return lw.view(x, sizes, "view/reshape")

    def _unflatten(self, x, dim, sizes):
        x = lw.require_value(x)
        axis = lw.sample_axis(dim, len(x.shape), "unflatten")
        sizes = list(sizes)
        if sizes.count(-1) == 1:
            known = lw.prod([s for s in sizes if s != -1])
            sizes = [x.shape[axis] // known if s == -1 else s for s in sizes]
        if lw.prod(sizes) != x.shape[axis]:
            raise lw.Unsupported(f"cannot unflatten size {x.shape[axis]} into {sizes}")
        return lw.reshaped(x, (*x.shape[:axis], *sizes, *x.shape[axis + 1:]))

    def _m_size(self, x, dim=None):
        x = lw.require_value(x)
        full = (lw.BATCH, *x.shape)
        if dim is None:
            return full
        return full[lw.sample_axis(dim, len(x.shape), "size") + 1] if dim not in (0, -len(full)) else lw.BATCH

    def _m_dim(self, x):
        return 1 + len(lw.require_value(x).shape)

    def _m_same(self, x, *args, **kwargs):
        return lw.require_value(x)

    def _m_unsqueeze(self, x, dim):
        x = lw.require_value(x)
        full = len(x.shape) + 2
        if isinstance(dim, bool) or not isinstance(dim, int) or not -full <= dim < full:
            raise lw.Unsupported(f"unsqueeze: bad dimension {dim!r}")
        d = dim % full
        if d == 0:
            raise lw.Unsupported("unsqueeze before the batch dimension is not supported")
        return lw.reshaped(x, (*x.shape[:d - 1], 1, *x.shape[d - 1:]))

    def _m_squeeze(self, x, dim=None):
        x = lw.require_value(x)
        if dim is None:
            return lw.reshaped(x, tuple(s for s in x.shape if s != 1))
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = {lw.sample_axis(d, len(x.shape), "squeeze") for d in dims}
        return lw.reshaped(x, tuple(s for i, s in enumerate(x.shape) if not (i in axes and s == 1)))

    def _m_permute(self, x, *dims):
        x = lw.require_value(x)
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        if len(dims) != len(x.shape) + 1:
            raise lw.Unsupported(f"permute: expected {len(x.shape) + 1} dimensions, got {dims!r}")
        if dims[0] % (len(x.shape) + 1) != 0:
            raise lw.Unsupported(f"permute{dims!r}: the batch dimension must stay first")
        axes = [lw.sample_axis(d, len(x.shape), "permute") for d in dims[1:]]
        if sorted(axes) != list(range(len(x.shape))):
            raise lw.Unsupported(f"permute: {dims!r} is not a permutation")
        return lw.gather(x, np.transpose(lw.index_of(x), axes))

    def _m_transpose(self, x, dim0, dim1):
        x = lw.require_value(x)
        a, b = lw.sample_axis(dim0, len(x.shape), "transpose"), lw.sample_axis(dim1, len(x.shape), "transpose")
        return lw.gather(x, np.swapaxes(lw.index_of(x), a, b))

    def _f_cat(self, tensors, dim=0):
        return lw.cat(self.net, tensors, dim)

    def _f_add(self, a, b, alpha=1):
        return lw.add(self.net, a, b, lw.scalar_fraction(alpha, "alpha"))

    def _f_sub(self, a, b, alpha=1):
        return lw.add(self.net, a, b, -lw.scalar_fraction(alpha, "alpha"))

    def _f_mul(self, a, b):
        return lw.mul(a, b)

    def _f_div(self, a, b, rounding_mode=None):
        if rounding_mode is not None:
            raise lw.Unsupported("rounding division is not piecewise affine")
        if isinstance(b, lw.Value):
            raise lw.Unsupported("division by an input-dependent tensor is not piecewise affine")
        return lw.mul(a, lw.reciprocal(b))

    def _f_sum(self, x, dim=None, keepdim=False, dtype=None):
        if dtype is not None:
            raise lw.Unsupported("a dtype argument is not supported")
        return lw.reduce_sum(x, dim, keepdim, mean=False)

    def _f_mean(self, x, dim=None, keepdim=False, dtype=None):
        if dtype is not None:
            raise lw.Unsupported("a dtype argument is not supported")
        return lw.reduce_sum(x, dim, keepdim, mean=True)

    def _f_neg(self, x):
        return lw.mul(x, -1)

    def _f_getitem(self, x, index):
        if isinstance(x, lw.Value):
            return lw.getitem(x, index)
        if isinstance(x, (tuple, list)):
            return x[index]
        raise lw.Unsupported(f"indexing a {type(x).__name__} is not supported")

    def _f_getattr(self, x, name):
        if isinstance(x, lw.Value):
            if name == "shape":
                return (lw.BATCH, *x.shape)
            if name == "ndim":
                return 1 + len(x.shape)
        raise lw.Unsupported(f"attribute {name!r} of a traced tensor is not supported")


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
    nodes = _trace(module, modules)
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
    ``view``/``reshape``/``flatten``, basic slicing, ``sum``/``mean`` over non-batch dimensions,
    ``torch.maximum``/``minimum``).
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
