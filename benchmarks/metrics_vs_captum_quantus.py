"""polyattr's exact infidelity and sensitivity_max beside Captum's and Quantus's sampled estimates.

Run:  python benchmarks/metrics_vs_captum_quantus.py [--quick] [--repeats R]

For small ReLU networks (the default 2-16-16-1 model and random 4-16-16-1 and 6-24-1 networks) at
a few inputs, and the attributions IG (baseline 0), Gradient x Input and SmoothGrad (uniform noise
of half-width 0.1, polyattr's ``smoothgrad_uniform``), all computed by polyattr (so that the
*metric* estimate is the only difference between the columns):

* infidelity with I uniform on [-r, r]^d, r = 0.1: polyattr's value -- exact (rational, printed
  as a float) for d <= 4, in floats with its stated bound beyond (exact rationals on float-weight
  networks get slow: the region vertices have huge denominators) -- and the time of its quadratic
  form (computed once per input and shared by the three methods), Captum's ``infidelity`` with a ``perturb_func`` drawing exactly that law (returning I and
  x - I; ``normalize=False``: Captum's normalize=True is Yeh's scale-optimal variant, polyattr's
  ``infidelity_optimal_scale``) at its default n_perturb_samples = 10 and at 1000, repeated R times:
  the first run's value, the standard deviation over the runs, the mean |error| against the exact
  value, and the fraction of runs within 3 standard deviations of the exact value;
* sensitivity_max over the L-infinity ball of radius r, relative to ||phi(x)|| (Captum's and
  Quantus's normalisation): polyattr's exact max for Gradient x Input (a max over the regions of
  the box and their vertices; rationals for d <= 4, floats with a stated bound beyond) and a sampled
  *lower bound* (256 draws) for IG and SmoothGrad, which
  have no exact local rule; Captum's ``sensitivity_max`` (default 10 draws) and Quantus's
  ``MaxSensitivity`` (default 200 draws, uniform noise of half-width r).  A sampled max can only
  be below the true max: its "error" is exact - estimate.
* Quantus's ``Infidelity`` is tried on the same tabular inputs; it fails there (it pads image
  patches), and its perturbation (patch-wise baseline replacement) is not a uniform box anyway:
  the error is printed.

Times are seconds per call (one input).  Quantus draws its noise from numpy's global generator:
the script seeds it (np.random.seed) for repeatability; polyattr and Captum take explicit seeds.
"""

from __future__ import annotations

import argparse
import time
import warnings
from fractions import Fraction

import numpy as np
import torch

from polyattr import attribute, random_network
from polyattr.metrics import infidelity as exact_infidelity
from polyattr.metrics import infidelity_quadratic_form
from polyattr.metrics import sensitivity
from polyattr.models.io import default_model_path, load_model

RADIUS = Fraction(1, 10)
METHODS = (("ig", "IG"), ("gradient_x_input", "GxI"), ("smoothgrad_uniform", "SmoothGrad"))


def torch_module(net, dtype=torch.float64):
    layers = []
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).to(dtype)
        lin.weight.data = torch.tensor(np.asarray(W, float), dtype=dtype)
        lin.bias.data = torch.tensor(np.asarray(b, float), dtype=dtype)
        layers.append(lin)
        if i < len(net.weights) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def box_perturbation(radius: float, generator: torch.Generator):
    """Captum perturb_func: I uniform on [-r, r]^d, returns (I, x - I) as infidelity expects."""

    def perturb(inputs):
        I = (torch.rand(inputs.shape, generator=generator, dtype=inputs.dtype) * 2 - 1) * radius
        return I, inputs - I

    return perturb


def explanation(net, method, domain):
    """An explanation function for Captum and Quantus: polyattr's attribution at every row."""

    def explain(inputs=None, model=None, targets=None, **kwargs):
        if isinstance(inputs, tuple):
            inputs = inputs[0]
        X = inputs.detach().cpu().numpy() if torch.is_tensor(inputs) else np.asarray(inputs)
        X = np.asarray(X, float).reshape(len(X), -1)
        return np.array([attribute(net, row, method, domain=domain).values for row in X])

    return explain


def captum_infidelity_runs(module, x, phi, n, repeats, seed):
    from captum.metrics import infidelity

    gen = torch.Generator().manual_seed(seed)
    perturb = box_perturbation(float(RADIUS), gen)
    xt, pt = torch.tensor(x[None, :]), torch.tensor(phi[None, :])
    values, times = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        values.append(float(infidelity(module, perturb, xt, pt, n_perturb_samples=n)[0]))
        times.append(time.perf_counter() - t)
    return np.array(values), float(np.median(times))


def captum_sensitivity(explain, x, n, seed):
    from captum.metrics import sensitivity_max

    torch.manual_seed(seed)  # Captum's default perturb_func draws from torch's global generator
    t = time.perf_counter()
    v = float(sensitivity_max(lambda inp: (torch.tensor(explain(inp)),), torch.tensor(x[None, :]),
                              perturb_radius=float(RADIUS), n_perturb_samples=n)[0])
    return v, time.perf_counter() - t


def quantus_max_sensitivity(module, explain, x, phi, seed):
    import quantus

    np.random.seed(seed)
    metric = quantus.MaxSensitivity(lower_bound=float(RADIUS), disable_warnings=True)
    t = time.perf_counter()
    v = metric(model=module, x_batch=x[None, :], y_batch=np.array([0]), a_batch=phi[None, :],
               explain_func=lambda model, inputs, targets, **kw: explain(inputs), device="cpu")
    return float(v[0]), time.perf_counter() - t, metric.nr_samples


def quantus_infidelity_error(net, x, phi) -> str:
    import quantus

    module = torch_module(net, torch.float32)
    try:
        quantus.Infidelity(disable_warnings=True)(model=module, x_batch=x[None, :].astype(np.float32),
                                                  y_batch=np.array([0]), a_batch=phi[None, :].astype(np.float32),
                                                  device="cpu")
    except Exception as exc:  # noqa: BLE001 - the point is to report how it fails
        return f"{type(exc).__name__}: {exc}"
    return "ran (unexpected)"


def cases(quick: bool):
    nets = [("default 2-16-16-1", load_model(default_model_path())),
            ("random 4-16-16-1", random_network([4, 16, 16, 1], rng=1))]
    if not quick:
        nets.append(("random 6-24-1", random_network([6, 24, 1], rng=2)))
    rng = np.random.default_rng(0)
    for name, net in nets:
        d = net.n_inputs
        for _ in range(1 if quick else 2):
            x = np.array([Fraction(int(v), 16) for v in rng.integers(3, 14, size=d)], dtype=object)
            yield name, net, x


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer networks and inputs")
    parser.add_argument("--repeats", type=int, default=20, help="Captum infidelity runs per cell (for its spread)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    print(__doc__.split("\n\n")[0])
    print(f"perturbation: uniform box, r = {RADIUS}; times in seconds per input\n")
    head = (f"{'network':<18} {'x':<22} {'method':<10} | {'exact INFD':>11} {'s':>6} | {'Captum N':>8} {'first':>11} "
            f"{'sd':>9} {'mean|err|':>9} {'in 3sd':>6} {'s/call':>7}")
    print("INFIDELITY")
    print(head)
    sens_rows, first_net = [], None
    for name, net, x in cases(args.quick):
        xf = np.array([float(v) for v in x])
        module = torch_module(net)
        lo, hi = np.minimum(0, xf - 2 * float(RADIUS)), np.maximum(1, xf + 2 * float(RADIUS))
        use_exact = net.n_inputs <= 4
        t = time.perf_counter()
        form = infidelity_quadratic_form(net, x if use_exact else xf, RADIUS, exact=use_exact)
        t_form = time.perf_counter() - t
        for method, label in METHODS:
            phi = np.asarray(attribute(net, xf, method).values, float)
            ex = exact_infidelity(net, x, phi, form=form)
            t_exact = t_form
            for n in (10, 1000):
                vals, t_call = captum_infidelity_runs(module, xf, phi, n, args.repeats, seed=n)
                exact_value = float(ex.value)
                sd = float(vals.std(ddof=1))
                within = float(np.mean(np.abs(vals - exact_value) <= 3 * sd)) if sd > 0 else float("nan")
                tag = "" if ex.exact else f"±{ex.error_bound:.0e}"
                print(f"{name:<18} {','.join(str(v) for v in x):<22} {label:<10} | {exact_value:11.4e}{tag} {t_exact:6.3f} | "
                      f"{n:8d} {vals[0]:11.4e} {sd:9.2e} {np.mean(np.abs(vals - exact_value)):9.2e} {within:6.2f} {t_call:7.4f}")
            sens_rows.append((name, net, x, xf, module, method, label, phi, lo, hi))
        first_net = first_net or net
    print("\nSENSITIVITY_MAX (relative: ||phi(x) - phi(x+delta)|| / ||phi(x)||)")
    print(f"{'network':<18} {'x':<22} {'method':<10} | {'polyattr':>10} {'kind':<11} {'s':>6} | {'Captum(10)':>10} "
          f"{'gap':>9} {'s':>6} | {'Quantus(200)':>12} {'gap':>9} {'s':>6}")
    for name, net, x, xf, module, method, label, phi, lo, hi in sens_rows:
        t = time.perf_counter()
        exact_mode = method == "gradient_x_input" and net.n_inputs <= 4
        res = sensitivity(net, x if exact_mode else xf, [method], RADIUS if exact_mode else float(RADIUS),
                          exact=exact_mode, relative=True, n_samples=256, rng=0)
        t_poly = time.perf_counter() - t
        m = res.maximum(0)
        explain = explanation(net, method, (lo, hi))
        cap, t_cap = captum_sensitivity(explain, xf, 10, seed=0)
        qua, t_qua, n_qua = quantus_max_sensitivity(module, explain, xf, phi, seed=0)
        kind = ("exact" if exact_mode else f"±{m.error_bound:.0e}") if m.kind == "deterministic" else ">= (256)"
        print(f"{name:<18} {','.join(str(v) for v in x):<22} {label:<10} | {m.value:10.4f} {kind:<11} {t_poly:6.3f} | "
              f"{cap:10.4f} {m.value - cap:9.2e} {t_cap:6.3f} | {qua:12.4f} {m.value - qua:9.2e} {t_qua:6.3f}")
    net = first_net
    x = np.array([0.3, 0.7])
    phi = np.asarray(attribute(net, x, "gradient_x_input").values, float)
    print(f"\nQuantus Infidelity on tabular input (d = 2): {quantus_infidelity_error(net, x, phi)}")


if __name__ == "__main__":
    main()
