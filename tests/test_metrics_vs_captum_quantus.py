"""Captum's and Quantus's sampled metrics against polyattr's exact values.

Their estimates must fall inside their own confidence intervals around the exact value: for
Captum's infidelity the interval comes from repeated runs (the spread of its estimator), with the
same perturbation law (a perturb_func drawing I uniform on [-r, r]^d and returning (I, x - I));
a sampled max (Captum's sensitivity_max, Quantus's MaxSensitivity) is one-sided: it can never
exceed the true max.
"""

from __future__ import annotations

from fractions import Fraction

import captum.metrics as captum_metrics
import numpy as np
import pytest
import quantus
import torch

from polyattr import attribute
from polyattr.metrics import infidelity, infidelity_optimal_scale, sensitivity
from polyattr.models.io import default_model_path, load_model

R = Fraction(1, 10)
X = [Fraction(3, 4), Fraction(5, 8)]


def torch_module(net):
    layers = []
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        lin.weight.data = torch.tensor(np.asarray(W, float))
        lin.bias.data = torch.tensor(np.asarray(b, float))
        layers.append(lin)
        if i < len(net.weights) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


@pytest.fixture(scope="module")
def setup():
    net = load_model(default_model_path())
    xf = np.array([float(v) for v in X])
    return net, xf, torch_module(net)


def _runs(module, xf, phi, normalize, n=200, repeats=12):
    gen = torch.Generator().manual_seed(2024)

    def perturb(inputs):
        I = (torch.rand(inputs.shape, generator=gen, dtype=inputs.dtype) * 2 - 1) * float(R)
        return I, inputs - I

    xt, pt = torch.tensor(xf[None, :]), torch.tensor(phi[None, :])
    return np.array([float(captum_metrics.infidelity(module, perturb, xt, pt, n_perturb_samples=n,
                                                     normalize=normalize)[0]) for _ in range(repeats)])


@pytest.mark.parametrize("method", ["gradient_x_input", "ig"])
def test_captum_infidelity_inside_its_interval_around_the_exact_value(setup, method):
    net, xf, module = setup
    phi = np.asarray(attribute(net, xf, method).values, float)
    for normalize, metric in ((False, infidelity), (True, infidelity_optimal_scale)):
        exact = metric(net, X, phi, R, exact=True)
        assert exact.exact
        runs = _runs(module, xf, phi, normalize)
        sd = runs.std(ddof=1)
        assert sd > 0
        assert np.all(np.abs(runs - float(exact.value)) <= 5 * sd)
        assert abs(runs.mean() - float(exact.value)) <= 5 * sd / np.sqrt(len(runs))


def test_sampled_max_sensitivities_never_exceed_the_exact_max(setup):
    net, xf, module = setup
    exact = sensitivity(net, X, ["gradient_x_input"], R, exact=True, relative=True).maximum(0)
    assert exact.kind == "deterministic"

    def explain(inputs):
        if isinstance(inputs, tuple):
            inputs = inputs[0]
        arr = np.asarray(inputs.detach().numpy() if torch.is_tensor(inputs) else inputs, float).reshape(len(inputs), -1)
        return np.array([attribute(net, row, "gradient_x_input", domain=([0, 0], [1, 1])).values for row in arr])

    torch.manual_seed(0)
    captum = float(captum_metrics.sensitivity_max(lambda inp: (torch.tensor(explain(inp)),), torch.tensor(xf[None, :]),
                                                  perturb_radius=float(R), n_perturb_samples=50)[0])
    assert 0 < captum <= exact.value + exact.error_bound
    np.random.seed(0)  # Quantus draws from numpy's global generator
    q = quantus.MaxSensitivity(lower_bound=float(R), nr_samples=50, disable_warnings=True)(
        model=module, x_batch=xf[None, :], y_batch=np.array([0]),
        a_batch=np.asarray(attribute(net, xf, "gradient_x_input").values, float)[None, :],
        explain_func=lambda model, inputs, targets, **kw: explain(inputs), device="cpu")
    assert 0 < q[0] <= exact.value + exact.error_bound
