"""PyTorch import (polyattr.from_torch): the lowered network against torch itself.

Independent references: torch's own float64 forward pass and autograd gradients (the module in
``.double()``), torch's exact float64 arithmetic on dyadic weights and inputs (where no rounding
occurs), a grid of activation patterns and the box volume for the partitions, and exact rational
identities for the BatchNorm square root.
"""

from __future__ import annotations

import copy
import zlib
from fractions import Fraction

import numpy as np
import pytest

import polyattr
from polyattr import PolyattrError, from_torch, load_model, save_model
from polyattr.models.lowering import inverse_sqrt
from polyattr.models.torch_import import lower_torch

import torch  # the torch extra: scripts/setup.sh installs it (a missing torch must fail, not skip)
nn = torch.nn
F = torch.nn.functional


def _randomise(module, rng, dyadic: bool = False):
    """Set every parameter (and BatchNorm statistics) from ``rng``: no global torch seed.

    ``dyadic``: weights are multiples of 1/8 in [-1, 1], so that float64 arithmetic on them is exact.
    """
    with torch.no_grad():
        for p in module.parameters():
            if dyadic:
                vals = rng.integers(-8, 9, size=p.shape) / 8
            else:
                vals = rng.normal(0.0, 0.7, size=p.shape)
            p.copy_(torch.tensor(vals, dtype=p.dtype))
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                if dyadic:
                    m.running_mean.copy_(torch.tensor(rng.integers(-4, 5, size=n) / 4))
                    m.running_var.copy_(torch.tensor(rng.choice([0.25, 1.0, 4.0], size=n)))
                    m.eps = 0.0
                else:
                    m.running_mean.copy_(torch.tensor(rng.normal(0.0, 0.3, size=n)))
                    m.running_var.copy_(torch.tensor(rng.uniform(0.5, 2.0, size=n)))
    return module.eval()


class SkipMLP(nn.Module):
    """Residual additions, a concatenation, torch.add with alpha, a view and functional ReLUs."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, 6)
        self.mid = nn.Linear(6, 6)
        self.proj = nn.Linear(3, 6)
        self.out = nn.Linear(12, 2)

    def forward(self, x):
        h = F.relu(self.inp(x))
        h = h + torch.relu(self.mid(h))  # a residual block
        s = torch.add(h, self.proj(x), alpha=0.5) - x[:, :1]  # broadcast over the features
        z = torch.cat([h, s * 2], dim=1)
        return self.out(z.view(z.size(0), -1))


class SmallCNN(nn.Sequential):
    """Conv2d + BatchNorm2d + ReLU + MaxPool2d, a strided grouped conv, Flatten, Dropout, Linear on 1x8x8."""

    def __init__(self):
        super().__init__(
            nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2, 2, 3, stride=2, padding=1, groups=2), nn.BatchNorm2d(2), nn.ReLU(),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(8, 3),
        )


class HardtanhMLP(nn.Module):
    """Hardtanh, ReLU6 and one-sided clamps."""

    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3, self.l4 = nn.Linear(2, 5), nn.Linear(5, 5), nn.Linear(5, 4), nn.Linear(4, 1)
        self.act = nn.Hardtanh(-0.5, 0.75)
        self.six = nn.ReLU6()

    def forward(self, x):
        h = self.act(self.l1(x))
        h = self.six(self.l2(h) * 4)
        h = torch.clamp(self.l3(h), min=-0.25)
        return self.l4(h.clamp(max=1.5))


class AbsPoolConv1d(nn.Module):
    """Conv1d, abs, AvgPool1d and Flatten on a 1x3 input."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 2, padding=1)
        self.avg = nn.AvgPool1d(2, stride=1)
        self.out = nn.Linear(6, 1)

    def forward(self, x):
        h = torch.abs(self.conv(x))
        return self.out(torch.flatten(self.avg(h), 1))


def _leaky():
    return nn.Sequential(nn.Linear(2, 5), nn.LeakyReLU(0.125), nn.Linear(5, 5), nn.LeakyReLU(0.375), nn.Linear(5, 1))


ARCHITECTURES = {
    "skip_mlp": (SkipMLP, (3,)),
    "cnn_bn_maxpool": (SmallCNN, (1, 8, 8)),
    "leaky_mlp": (_leaky, (2,)),
    "hardtanh_relu6_mlp": (HardtanhMLP, (2,)),
    "abs_avgpool_conv1d": (AbsPoolConv1d, (1, 3)),
}


def _build(name, rng, dyadic=False):
    factory, shape = ARCHITECTURES[name]
    return _randomise(factory(), rng, dyadic), shape


def _torch_reference(module, X, shape):
    """torch's float64 outputs (n, k) and gradients (n, k, d) of the module at the rows of X."""
    ref = copy.deepcopy(module).double()
    Xt = torch.tensor(X.reshape(len(X), *shape), dtype=torch.float64, requires_grad=True)
    out = ref(Xt).reshape(len(X), -1)
    grads = [torch.autograd.grad(out[:, k].sum(), Xt, retain_graph=True)[0].reshape(len(X), -1)
             for k in range(out.shape[1])]
    return out.detach().numpy(), torch.stack(grads, dim=1).numpy()


def _assert_close(got, ref):
    scale = np.max(np.abs(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_outputs_and_gradients_match_torch_float64(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # a fixed seed per architecture
    module, shape = _build(name, rng)
    net = from_torch(module, input_shape=shape)
    d = int(np.prod(shape))
    assert net.n_inputs == d
    X = rng.uniform(-1.5, 1.5, size=(1000, d))
    ref_out, ref_grad = _torch_reference(module, X, shape)
    assert net.n_outputs == ref_out.shape[1]
    out = net(X) if net.n_outputs > 1 else net(X)[:, None]
    _assert_close(out, ref_out)
    patterns = net.activation_pattern(X)
    grads = net.pattern_gradients(patterns)  # (n, k, d)
    _assert_close(grads, ref_grad)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_exact_lowering_equals_torch_on_dyadic_weights(name):
    """Dyadic weights and inputs: torch's float64 arithmetic is exact there, and so must the import be."""
    rng = np.random.default_rng(7)
    module, shape = _build(name, rng, dyadic=True)
    net = from_torch(module, input_shape=shape, exact=True)
    assert net.exact
    d = int(np.prod(shape))
    X = rng.integers(-16, 17, size=(12, d)) / 16
    ref, _ = _torch_reference(module, X, shape)
    got = net([[Fraction(v) for v in row] for row in X])
    got = np.asarray(got, dtype=object).reshape(len(X), -1)
    assert all(g == Fraction(float(r)) for g, r in zip(got.ravel(), ref.ravel()))
    # the float import is the exact one rounded once per entry
    flt = from_torch(module, input_shape=shape)
    for We, Wf in zip(net.weights, flt.weights):
        assert np.array_equal(We.astype(float), Wf)


def test_lowered_structure_uses_identity_units_for_skips():
    module, _ = _build("skip_mlp", np.random.default_rng(0))
    low = lower_torch(module, (3,))
    _, _, low_slopes = low.arrays(exact=True)
    slopes = [set(a.tolist()) for a in low_slopes]
    assert all(s <= {0, 1} for s in slopes) and any(1 in s for s in slopes)
    net = from_torch(module, (3,))
    # identity units are no part of an activation pattern
    assert net.n_neurons == sum(int(np.count_nonzero(a != 1)) for a in low_slopes)


def _box_partition_checks(net, d, rng, radius, backends=("lp", "split")):
    lower, upper = [-radius] * d, [radius] * d
    volume = (2 * radius) ** d
    sets = {}
    for backend in backends:
        regions = polyattr.enumerate_regions(net, polyattr.Box(lower, upper), backend=backend)
        assert abs(regions.total_volume - volume) <= 1e-9 * volume
        sets[backend] = {np.asarray(p, dtype=bool).tobytes() for p in regions.patterns}
        assert len(sets[backend]) == len(regions)
    found = sets[backends[0]]
    assert all(other == found for other in sets.values())
    # every pattern seen at random points is a region found by the enumeration
    X = rng.uniform(-radius, radius, size=(4000, d))
    seen = {p.tobytes() for p in net.activation_pattern(X)}
    assert seen <= found
    return len(found)


@pytest.mark.parametrize("name", ["skip_mlp", "leaky_mlp", "hardtanh_relu6_mlp", "abs_avgpool_conv1d"])
def test_partition_invariants_on_small_inputs(name):
    rng = np.random.default_rng(3)
    module, shape = _build(name, rng)
    net = from_torch(module, shape)
    assert _box_partition_checks(net, int(np.prod(shape)), rng, radius=0.5) > 1


def test_cnn_partition_on_a_plane_through_the_input_space():
    """The 64-input CNN restricted to a random 2-D plane: a 2-input network to enumerate."""
    rng = np.random.default_rng(5)
    module, shape = _build("cnn_bn_maxpool", rng)
    net = from_torch(module, shape)
    E = rng.normal(size=(64, 2))
    z0 = rng.normal(size=64) * 0.2
    plane = net.compose_affine(E, z0)
    U = rng.uniform(-1, 1, size=(200, 2))
    np.testing.assert_allclose(plane(U), net(U @ E.T + z0), rtol=1e-12, atol=1e-12)
    # split backend only: the lp one takes seconds per region with ~300 cutting units
    assert _box_partition_checks(plane.select_output(0), 2, rng, radius=0.02, backends=("split",)) > 1


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_save_load_round_trip(name, suffix, tmp_path):
    module, shape = _build(name, np.random.default_rng(11))
    for exact in (False, True):
        net = from_torch(module, shape, exact=exact)
        if exact and suffix == ".npz":
            continue  # npz stores float64; the exact model's entries are not all floats
        path = save_model(net, tmp_path / f"m{suffix}")
        back = load_model(path)
        assert back.exact == net.exact
        for a, b in zip((*net.weights, *net.biases, *net.negative_slopes),
                        (*back.weights, *back.biases, *back.negative_slopes)):
            assert a.shape == b.shape and all(x == y for x, y in zip(a.ravel(), b.ravel()))


def test_exact_model_round_trips_through_npz_as_its_float_rounding(tmp_path):
    module, shape = _build("leaky_mlp", np.random.default_rng(1))
    net = from_torch(module, shape, exact=True)
    back = load_model(save_model(net, tmp_path / "m.npz"))
    for a, b in zip((*net.weights, *net.negative_slopes), (*back.weights, *back.negative_slopes)):
        assert np.array_equal(a.astype(float), b)


def test_old_files_without_slopes_still_load(tmp_path):
    rng = np.random.default_rng(0)
    W0, b0, W1, b1 = rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=(1, 3)), rng.normal(size=1)
    np.savez(tmp_path / "old.npz", W0=W0, b0=b0, W1=W1, b1=b1)
    net = load_model(tmp_path / "old.npz")
    assert net.is_relu and np.array_equal(net.weights[0], W0)
    (tmp_path / "old.json").write_text(
        '{"format": "polyattr-relu", "version": 1, "layers": [{"W": [[1, "1/2"]], "b": [0]}, {"W": [[2]], "b": [1]}]}'
    )
    net = load_model(tmp_path / "old.json")
    assert net.exact and net.is_relu and net.weights[0][0, 1] == Fraction(1, 2)
    # an all-ReLU model is still written in version 1
    save_model(net, tmp_path / "again.json")
    assert '"version": 1' in (tmp_path / "again.json").read_text()
    assert "negative_slopes" not in (tmp_path / "again.json").read_text()


def test_slope_fields_are_validated(tmp_path):
    doc = '{"version": %s, "layers": [{"W": [[1, 2]], "b": [0]}, {"W": [[2]], "b": [1]}], "negative_slopes": %s}'
    (tmp_path / "a.json").write_text(doc % ("2", '[["1/3"]]'))
    net = load_model(tmp_path / "a.json")
    assert net.exact and net.negative_slopes[0][0] == Fraction(1, 3)
    (tmp_path / "b.json").write_text(doc % ("1", "[[0.5]]"))
    with pytest.raises(PolyattrError, match="version"):
        load_model(tmp_path / "b.json")
    (tmp_path / "c.json").write_text(doc % ("2", "[[0.5], [1]]"))
    with pytest.raises(PolyattrError, match="one per hidden layer"):
        load_model(tmp_path / "c.json")
    (tmp_path / "d.json").write_text(doc % ("7", "[[0.5]]"))
    with pytest.raises(PolyattrError, match="version"):
        load_model(tmp_path / "d.json")
    arrays = dict(W0=np.ones((1, 2)), b0=np.zeros(1), W1=np.ones((1, 1)), b1=np.zeros(1), a0=np.array([0.5]))
    np.savez(tmp_path / "e.npz", **arrays)
    with pytest.raises(PolyattrError, match="version"):
        load_model(tmp_path / "e.npz")
    np.savez(tmp_path / "f.npz", version=np.array(2), **arrays)
    assert load_model(tmp_path / "f.npz").negative_slopes[0][0] == 0.5
    np.savez(tmp_path / "g.npz", version=np.array(2), **{**arrays, "a0": np.array([0.5, 1.0])})
    with pytest.raises(PolyattrError, match=r"negative_slopes\[0\]"):
        load_model(tmp_path / "g.npz")


# ------------------------------------------------------------------------- single operations
def _check_module(module, shape, rng, n=64):
    module = _randomise(module, rng)
    net = from_torch(module, input_shape=shape)
    X = rng.uniform(-2, 2, size=(n, int(np.prod(shape))))
    ref, ref_grad = _torch_reference(module, X, shape)
    out = net(X)
    _assert_close(np.asarray(out).reshape(n, -1), ref)
    _assert_close(net.pattern_gradients(net.activation_pattern(X)).reshape(n, ref.shape[1], -1), ref_grad)
    return net


class _Lambda(nn.Module):
    def __init__(self, fn, *layers):
        super().__init__()
        self.fn = fn
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        return self.fn(x, *self.layers)


@pytest.mark.parametrize("layer, shape", [
    (nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2), (2, 6, 5)),
    (nn.Conv2d(1, 2, 3, padding="same", dilation=2, bias=False), (1, 5, 5)),
    (nn.Conv1d(2, 2, 3, stride=2, padding=2, groups=1), (2, 7)),
    (nn.Conv1d(1, 1, 2, padding="valid"), (1, 4)),
    (nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (1, 6, 5)),
    (nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=True), (2, 5, 6)),
    (nn.AvgPool2d(2, divisor_override=3), (1, 4, 4)),
    (nn.AvgPool1d(3, stride=2, padding=1), (2, 6)),
    (nn.MaxPool2d(3, stride=2, padding=1, dilation=1, ceil_mode=True), (1, 6, 5)),
    (nn.MaxPool2d(2, stride=1, dilation=2), (1, 5, 4)),
    (nn.MaxPool1d(3, stride=2, padding=1), (2, 6)),
    (nn.AdaptiveAvgPool2d((2, 3)), (1, 5, 7)),
    (nn.AdaptiveAvgPool1d(3), (2, 5)),
    (nn.BatchNorm1d(3), (3,)),
    (nn.Linear(3, 2), (4, 3)),
    (nn.Unflatten(1, (2, 2)), (4,)),
    (nn.BatchNorm1d(2), (2, 3)),
    (nn.LeakyReLU(-0.5), (4,)),
    (nn.Hardtanh(-1.0, 0.25), (4,)),
])
def test_single_layers_match_torch(layer, shape):
    _check_module(nn.Sequential(layer, nn.Flatten()), shape, np.random.default_rng(2))


@pytest.mark.parametrize("fn, shape", [
    (lambda x: torch.maximum(x[:, :2], x[:, 2:]) - torch.minimum(x[:, 1:3], x[:, :2] * 2), (4,)),
    (lambda x: torch.maximum(x, -x) + torch.minimum(x, x[:, :1]), (3,)),
    (lambda x: x.permute(0, 2, 1).reshape(-1, 6) + x.transpose(1, 2).flatten(1), (2, 3)),
    (lambda x: F.relu(x.unsqueeze(1)).squeeze(1)[..., 1:] / 3, (4,)),
    (lambda x: F.hardtanh(x, -0.5, 0.5) + F.relu6(x * 5) + F.leaky_relu(x, 0.2), (3,)),
    (lambda x: torch.clamp(x, -0.3, 0.4) - x.clamp(min=0.1) + torch.clip(x, max=0.2), (3,)),
    (lambda x: torch.cat((x, -x, x.abs()), 1).reshape(x.shape[0], 3, 2)[:, 1:, :], (2,)),
    (lambda x: 1 - x + 2 * x - torch.sub(x, 0.5, alpha=2) + torch.neg(x), (2,)),
    (lambda x: x.mean((2, 3)) + torch.sum(x, dim=-1, keepdim=True)[:, :, 0, 0] - x.sum(1).mean(1)[:, :3], (3, 2, 4)),
], ids=["max_min", "maximum", "permute", "unsqueeze", "functional", "clamp", "cat", "arith", "sum_mean"])
def test_functional_forms_match_torch(fn, shape):
    _check_module(_Lambda(lambda x: fn(x)), shape, np.random.default_rng(4))


def test_functional_layers_with_parameters_match_torch():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, 2, 2, 2))
            self.b = nn.Parameter(torch.randn(3))
            self.lw = nn.Parameter(torch.randn(2, 12))
            self.bn = nn.BatchNorm2d(3)
            self.register_buffer("shift", torch.randn(3, 1, 1))

        def forward(self, x):
            h = F.conv2d(x, self.w, self.b, stride=1, padding=1)
            h = F.batch_norm(h, self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias, False)
            h = F.max_pool2d(F.relu(h + self.shift), 2)
            h = F.avg_pool2d(h, 1) * self.shift
            h = F.dropout(h, 0.5, training=False)
            return F.linear(h.flatten(1), self.lw)

    _check_module(Functional(), (2, 3, 4), np.random.default_rng(6))


def test_training_mode_is_accepted_when_it_changes_nothing():
    module = _randomise(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Dropout(0.0), nn.Linear(3, 1)),
                        np.random.default_rng(8)).train()
    net = from_torch(module)
    assert module.training  # from_torch never switches the caller's module
    X = np.random.default_rng(9).uniform(-1, 1, size=(50, 2))
    _assert_close(net(X)[:, None], _torch_reference(module, X, (2,))[0])


def test_input_shape_is_inferred_for_a_leading_linear():
    module = _randomise(nn.Sequential(nn.Flatten(), nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), np.random.default_rng(0))
    assert from_torch(module).n_inputs == 3
    assert from_torch(nn.Linear(5, 2)).n_inputs == 5
    with pytest.raises(PolyattrError, match="input_shape"):
        from_torch(nn.Sequential(nn.Conv2d(1, 1, 3)))


def test_inverse_sqrt_is_within_its_stated_bound():
    for q in (Fraction(2), Fraction(1, 3), Fraction(10**-12), Fraction(7 * 10**15), Fraction(4), Fraction(1, 4)):
        r = inverse_sqrt(q)
        assert abs(r * r * q - 1) < Fraction(1, 2**99)
    assert inverse_sqrt(Fraction(4)) == Fraction(1, 2)


# ------------------------------------------------------------------------ refusals, each named
class _MyReLU(nn.ReLU):
    def forward(self, x):
        return super().forward(x) * 2


class _MyLinear(nn.Linear):
    def forward(self, x):
        return super().forward(x) + 1


class _PlainSubclass(nn.ReLU):
    """A subclass that keeps ReLU's forward: accepted."""


class _Branching(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


class _InplaceReuse(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.lin(x)
        return self.act(h) + h


class _InplaceOnView(nn.Module):
    def forward(self, x):
        v = x.view(x.size(0), -1)
        y = F.relu(v, inplace=True)
        return y + x


class _Product(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        return self.lin(x) * x


class _TupleOut(nn.Module):
    def forward(self, x):
        return x, x


def _hooked(kind):
    m = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    if kind == "hook":
        m[1].register_forward_hook(lambda mod, inp, out: out * 2)
    else:
        m[0].register_forward_pre_hook(lambda mod, inp: None)
    return m


def _meta():
    with torch.device("meta"):
        return nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))


def _complex():
    m = nn.Sequential(nn.Linear(2, 2))
    m[0].weight = nn.Parameter(torch.randn(2, 2, dtype=torch.complex64))
    return m


def _bn(training=False, track=True):
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, track_running_stats=track), nn.ReLU(), nn.Linear(3, 1))
    return m.train(training)


@pytest.mark.parametrize("make, shape, pattern", [
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)), (2,), r"layer '1' \(Tanh\) at graph node 2"),
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.Sigmoid()), (2,), r"layer '1' \(Sigmoid\)"),
    (lambda: _Lambda(lambda x: torch.tanh(x)), (2,), r"operation .*tanh at graph node 1"),
    (lambda: _Lambda(lambda x: x.exp()), (2,), r"method Tensor.exp\(\)"),
    (lambda: _Product(), (2,), r"product of two input-dependent tensors"),
    (lambda: nn.Sequential(_MyReLU()), (2,), r"'0' \(_MyReLU\) subclasses ReLU and overrides forward"),
    (lambda: nn.Sequential(_MyLinear(2, 2)), (2,), r"_MyLinear\) subclasses Linear and overrides forward"),
    (lambda: _hooked("hook"), (2,), r"layer '1' \(ReLU\) has forward hooks"),
    (lambda: _hooked("pre"), (2,), r"layer '0' \(Linear\) has forward hooks"),
    (lambda: nn.Sequential(nn.LazyLinear(2)), (2,), r"uninitialised .*LazyLinear"),
    (_meta, (2,), r"meta device"),
    (_complex, (2,), r"complex"),
    (lambda: _bn(training=True), (2,), r"layer '1' \(BatchNorm1d\) .*training mode"),
    (lambda: _bn(track=False).eval(), (2,), r"layer '1' \(BatchNorm1d\) .*track_running_stats"),
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train(), (2,), r"layer '1' \(Dropout\) .*training mode"),
    (lambda: _Lambda(lambda x: F.dropout(x, 0.2)), (2,), r"dropout .*training=True"),
    (lambda: _Branching(), (2,), r"torch.fx could not trace _Branching"),
    (lambda: _InplaceReuse(), (2,), r"layer 'act' \(ReLU\) .*in-place operation on 'lin'"),
    (lambda: _InplaceOnView(), (2,), r"relu at graph node \d+.*in-place operation on 'x'"),
    (lambda: nn.Sequential(nn.Conv1d(1, 1, 2, padding=1, padding_mode="reflect")), (1, 4), r"Conv1d.*padding_mode"),
    (lambda: nn.Sequential(nn.MaxPool1d(2, return_indices=True)), (1, 4), r"MaxPool1d.*return_indices"),
    (lambda: _TupleOut(), (2,), r"output .*one tensor"),
    (lambda: _Lambda(lambda x: x[0]), (2,), r"batch dimension"),
    (lambda: _Lambda(lambda x: x.sum()), (2,), r"method Tensor.sum\(\).*mix the batch"),
    (lambda: _Lambda(lambda x: x.view(4, -1)), (2,), r"method Tensor.view\(\).*batch size"),
    (lambda: nn.Sequential(nn.Linear(3, 2)), (2,), r"layer '0' \(Linear\).*last dimension is 3"),
    (lambda: nn.Sequential(nn.Conv2d(1, 1, 3)), (1, 2, 2), r"Conv2d.*larger than"),
])
def test_unsupported_and_refused_modules_are_named(make, shape, pattern):
    with pytest.raises(PolyattrError, match=pattern):
        from_torch(make(), input_shape=shape)


def test_plain_subclasses_and_bad_arguments():
    net = from_torch(nn.Sequential(nn.Linear(2, 2), _PlainSubclass(), nn.Linear(2, 1)))
    assert net.n_neurons == 2
    with pytest.raises(PolyattrError, match="torch.nn.Module"):
        from_torch([1, 2, 3])
    for bad in ((), (0, 3), (2.5,), "abc", (True,)):
        with pytest.raises(PolyattrError, match="input_shape"):
            from_torch(nn.Sequential(nn.Linear(2, 1)), input_shape=bad)


def test_global_forward_hooks_are_refused():
    handle = nn.modules.module.register_module_forward_hook(lambda mod, inp, out: out)
    try:
        with pytest.raises(PolyattrError, match="global forward hooks"):
            from_torch(nn.Sequential(nn.Linear(2, 1)))
    finally:
        handle.remove()


def test_consecutive_affine_layers_merge_into_one_map():
    rng = np.random.default_rng(12)
    module = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Identity(),
                           nn.Linear(2, 2), nn.ReLU())
    net = _check_module(module, (2,), rng)
    assert len(net.weights) == 3 and net.hidden_sizes == (4, 2)  # Linear-Linear composed; ends in ReLU
    assert len(_check_module(nn.Linear(3, 2), (3,), rng).weights) == 1  # a bare Linear: one affine map


def _random_stack(rng):
    """A random valid Sequential of supported layers on a small random input (resampled until torch accepts it)."""
    while True:
        nd = int(rng.integers(1, 3))
        channels, size = int(rng.integers(1, 3)), int(rng.integers(4, 8))
        shape = (channels, *([size] * nd))
        layers, c = [], channels
        for _ in range(int(rng.integers(1, 3))):
            k, s, p, dl = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2)), int(rng.integers(1, 3))
            groups = c if c > 1 and rng.random() < 0.3 else 1
            out = groups * int(rng.integers(1, 3))
            Conv = nn.Conv1d if nd == 1 else nn.Conv2d
            layers.append(Conv(c, out, k, stride=s, padding=p, dilation=dl, groups=groups, bias=bool(rng.random() < 0.8)))
            c = out
            if rng.random() < 0.5:
                layers.append((nn.BatchNorm1d if nd == 1 else nn.BatchNorm2d)(c))
            layers.append([nn.ReLU(), nn.LeakyReLU(float(rng.uniform(-0.5, 0.5))), nn.Hardtanh(-0.5, 1.0),
                           nn.ReLU6(), nn.Identity(), nn.Dropout(0.2)][int(rng.integers(0, 6))])
            if rng.random() < 0.5:
                pk = int(rng.integers(1, 4))
                pool = [nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d][2 * int(rng.random() < 0.5) + nd - 1]
                layers.append(pool(pk, stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, pk // 2 + 1)),
                                   ceil_mode=bool(rng.random() < 0.3)))
        layers += [nn.Flatten(), nn.LazyLinear(2)]
        module = nn.Sequential(*layers).eval()
        try:
            with torch.no_grad():
                module(torch.zeros(1, *shape))  # materialises the LazyLinear
        except (RuntimeError, ValueError):
            continue
        return module, shape


def test_random_stacks_of_supported_layers_match_torch():
    rng = np.random.default_rng(21)
    for _ in range(15):
        module, shape = _random_stack(rng)
        _check_module(module, shape, rng, n=32)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_weights_of_every_float_dtype_convert_exactly(dtype):
    module = _randomise(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), np.random.default_rng(13))
    module = module.to(getattr(torch, dtype))
    net = from_torch(module, exact=True)
    for layer, W, b in ((module[0], net.weights[0], net.biases[0]), (module[2], net.weights[1], net.biases[1])):
        want_W = [Fraction(v) for v in layer.weight.detach().double().numpy().ravel().tolist()]
        want_b = [Fraction(v) for v in layer.bias.detach().double().numpy().tolist()]
        assert list(W.ravel()) == want_W and list(b) == want_b
