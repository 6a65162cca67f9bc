"""The method registry: a method registered in this file alone appears everywhere specs are read.

A toy method (``toy_drop``: phi_j = scale * (f(x) - f(x with x_j := lower_j)), a measure method) is
registered here and nowhere else; the tests find it in ``polyattr attribute`` (its ``--scale``
flag), ``polyattr methods``, the axioms table and the demo, and check its values against the
formula evaluated directly with the network's forward pass.  Other tests: options are validated
before any computation, and the verifier's independent table agrees with the specs.
"""

import json
from fractions import Fraction

import numpy as np
import pytest

from polyattr import PolyattrError, attribute, random_network, save_model
from polyattr.attribution.api import AttributionContext, MethodResult, integrate_family
from polyattr.attribution.approximate import SamplingProblem
from polyattr.attribution.registry import MethodSpec, OptionSpec, get_method, method_specs, register, unregister
from polyattr.cli import main
from polyattr.measures.core import Dirac

CALLS = {"toy_drop": 0}


def _drop_point(x, lower, j):
    z = np.array(x, dtype=object if isinstance(x[0], Fraction) else float).copy()
    z[j] = lower[j]
    return z


def _toy_family(x, baseline, domain, options):
    scale = options.get("scale", 1)
    return [scale * (Dirac(x, domain.exact) - Dirac(_drop_point(x, domain.lower, j), domain.exact))
            for j in range(len(x))]


def _toy(ctx: AttributionContext) -> MethodResult:
    CALLS["toy_drop"] += 1
    return integrate_family(ctx, _toy_family(ctx.x, ctx.baseline, ctx.domain, ctx.options))


def _toy_sampled(p: SamplingProblem):
    Z = np.repeat(p.x[None, :], p.d, axis=0)
    Z[np.arange(p.d), np.arange(p.d)] = p.lo
    return p.done(float(p.options.get("scale", 1.0)) * (p.f(p.x[None, :])[0] - p.f(Z)), "evaluation", p.d + 1,
                  how="direct evaluation")


def _positive(v, ctx):
    if not v > 0:
        raise PolyattrError(f"scale: expected a positive number, got {v}")
    return v


TOY = MethodSpec(
    name="toy_drop", function=_toy, certificate="measure", family=_toy_family, completeness="lower_corner",
    options=(OptionSpec("scale", "number", 1, "factor of every score", _positive),),
    axioms=dict(completeness=False, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=_toy_sampled, doc="toy: scale times the drop of f when feature j goes to the lower corner")


@pytest.fixture
def toy():
    register(TOY)
    CALLS["toy_drop"] = 0
    yield TOY
    unregister(TOY.name)


@pytest.fixture(scope="module")
def net():
    return random_network([2, 8, 8, 1], rng=3)


def _direct(net, x, scale):
    f = net.to_float()
    x = np.asarray(x, float)
    return np.array([scale * (f(x) - f(_drop_point(x, [0.0, 0.0], j))) for j in range(len(x))], float)


def test_toy_method_through_the_api(toy, net):
    x = [0.3, 0.6]
    res = attribute(net, x, "toy_drop", scale=2.5)
    np.testing.assert_allclose(res.values, _direct(net, x, 2.5), rtol=0, atol=1e-12)
    exact = attribute(net, [Fraction(3, 10), Fraction(3, 5)], "toy_drop", scale="5/2", exact=True)
    fx = net.to_exact()
    xq = np.array([Fraction(3, 10), Fraction(3, 5)], dtype=object)
    expect = [Fraction(5, 2) * (fx(xq) - fx(_drop_point(xq, [0, 0], j))) for j in range(2)]
    assert list(exact.values) == expect


def test_toy_method_in_the_cli(toy, net, tmp_path, capsys):
    path = tmp_path / "m.npz"
    save_model(net, path)
    with pytest.raises(SystemExit):
        main(["attribute", "--help"])
    assert "--scale" in capsys.readouterr().out
    assert main(["attribute", str(path), "--x", "0.3,0.6", "--method", "toy_drop", "--scale", "2.5", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(doc["values"], _direct(net, [0.3, 0.6], 2.5), atol=1e-12)
    # a flag of another method is refused before anything runs
    calls = CALLS["toy_drop"]
    assert main(["attribute", str(path), "--x", "0.3,0.6", "--method", "toy_drop", "--radius", "0.2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("polyattr: error: --radius") and err.count("\n") == 1
    assert CALLS["toy_drop"] == calls


def test_toy_method_in_polyattr_methods(toy, capsys):
    assert main(["methods", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    entry = {m["name"]: m for m in doc["methods"]}["toy_drop"]
    assert entry == {"name": "toy_drop", "exact": True, "needs_baseline": False, "doc": TOY.doc,
                     "options": [{"name": "scale", "type": "number", "default": 1, "help": "factor of every score"}]}
    assert main(["methods"]) == 0
    assert "toy_drop" in capsys.readouterr().out


def test_toy_method_in_the_axioms_table(toy, capsys):
    from polyattr.theory import axioms as ax

    assert "toy_drop" in ax.table_methods()
    assert ax.PREDICTIONS["toy_drop"]["completeness"] is False
    assert ax.COMPLETENESS_REFERENCE["toy_drop"] == "lower_corner"
    reports = ax.axiom_table(methods=["toy_drop"], n_models=2, rng=0)
    assert not reports["toy_drop"].mismatches(), {a: str(c) for a, c in reports["toy_drop"].checks.items()}
    assert "toy_drop" in capsys.readouterr().out
    # and from the command line
    assert main(["axioms", "--methods", "toy_drop", "--models", "1"]) == 0
    assert "toy_drop" in capsys.readouterr().out


def test_toy_method_in_the_demo(toy, net):
    from polyattr.attribution.demo import print_demo_attributions

    lines = []
    rows = print_demo_attributions(net, print=lines.append)
    row = {r["method"]: r for r in rows}["toy_drop"]
    assert row["error"] < 1e-12  # the sampled reference is a direct evaluation
    assert any(line.lstrip().startswith("toy_drop") for line in lines)


def test_options_are_validated_before_any_computation(toy, net):
    for bad in [dict(scal=2.0), dict(scale="two"), dict(scale=-1.0), dict(scale=True)]:
        with pytest.raises(PolyattrError, match="scal"):
            attribute(net, [0.3, 0.6], "toy_drop", **bad)
    assert CALLS["toy_drop"] == 0


def test_builtin_options_are_validated_up_front(net, monkeypatch):
    from polyattr.attribution import integrals

    def no_enumeration(self, domain):
        raise AssertionError("regions were enumerated before the options were checked")

    monkeypatch.setattr(integrals.Integrator, "regions_on", no_enumeration)
    cases = [("smoothgrad_uniform", dict(radus=0.1), "radus"), ("smoothgrad_uniform", dict(radius=-0.1), "radius"),
             ("lime_uniform", dict(radius="wide"), "radius"), ("epsilon_lrp", dict(epsilon="abc"), "epsilon"),
             ("expected_gradients_uniform", dict(samples=1.5), "samples"),
             ("expected_gradients_uniform", dict(samples=1), "samples"),
             ("expected_gradients", dict(background=[[0.1, 2.0]]), "background"),
             ("gradient", dict(direction=[1.0]), "direction"), ("ice", dict(curves="yes"), "curves"),
             ("pdp", dict(radius=0.1), "radius"), ("shapley_uniform", dict(rng=0), "rng")]
    for method, options, name in cases:
        with pytest.raises(PolyattrError, match=name):
            attribute(net, [0.3, 0.6], method, **options)


def test_unknown_method_and_duplicate_registration(toy):
    with pytest.raises(PolyattrError, match="unknown method"):
        get_method("toy_dorp")
    with pytest.raises(PolyattrError, match="already registered"):
        register(MethodSpec(name="toy_drop", function=_toy, doc="again"))
    with pytest.raises(PolyattrError, match="type"):  # one CLI flag per option name: types must agree
        register(MethodSpec(name="toy_two", function=_toy, doc="x", options=(OptionSpec("radius", "int"),)))
    with pytest.raises(PolyattrError, match="reserved"):
        OptionSpec("baseline", "vector")
    with pytest.raises(PolyattrError, match="axiom"):
        MethodSpec(name="toy_three", function=_toy, doc="x", axioms={"completeness": True})


def test_verifier_table_agrees_with_the_specs():
    """The verifier keeps its own table (independence); it must say what the specs say."""
    from polyattr.certify import verify

    specs = method_specs()
    kinds = {}
    for s in specs:
        if s.certificate is not None:
            kinds.setdefault(s.certificate, set()).add(s.name)
    assert kinds == {k: set(v) for k, v in verify.CERTIFICATE_KINDS.items()}
    assert {s.name for s in specs if s.needs_baseline} == set(verify.NEEDS_BASELINE)
    assert {s.name for s in specs if s.certificate is None} == {s.name for s in specs if not s.exact}


def test_no_method_name_keys_outside_the_specs():
    """No module but the verifier (independent) and the method modules keys on method-name strings."""
    import pathlib
    import re

    import polyattr

    root = pathlib.Path(polyattr.__file__).parent
    names = [s.name for s in method_specs()]
    # the method modules hold the specs; the verifier keeps its own table on purpose (independence);
    # theorem21's ``method`` is its own choice of rule (ig | shapley) on smooth models, not a registry name;
    # the polynomial model's closed forms are sympy rules per method (they cannot live in the
    # attribution layer's specs); symbolic curves read everything from the specs
    allowed = {"attribution/gradient_methods.py", "attribution/measure_methods.py", "attribution/propagation.py",
               "certify/verify.py", "theory/theorem21.py", "symbolic/polynomial_model.py"}
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel in allowed:
            continue
        text = path.read_text()
        for name in names:
            # a method name used as a key: method == "name", method in ("name", ...), {"name": ...}, ["name"]
            pattern = rf'(method\w*\s*==\s*"{name}"|method\w*\s+in\s+\([^)]*"{name}"|[{{,]\s*"{name}"\s*:|\["{name}"\])'
            if re.search(pattern, text):
                offenders.append((rel, name))
    assert not offenders, offenders


def test_methods_json_lists_every_builtin_method_with_its_options(capsys):
    from polyattr.attribution.api import available_methods

    assert main(["methods", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_name = {m["name"]: m for m in doc["methods"]}
    assert sorted(by_name) == available_methods()
    assert {"gradient", "ig", "shapley_uniform", "lime_uniform", "epsilon_lrp", "measure"} <= set(by_name)
    for m in doc["methods"]:
        assert set(m) == {"name", "exact", "needs_baseline", "options", "doc"} and m["doc"]
        for o in m["options"]:
            assert set(o) == {"name", "type", "default", "help"} and o["help"]
    options = {m["name"]: {o["name"]: o["default"] for o in m["options"]} for m in doc["methods"]}
    # the radius default is the decimal 1/10 (exactly 1/10 in exact mode), written "p/q" like exact values
    assert options["smoothgrad_uniform"] == {"radius": "1/10"} and options["epsilon_lrp"] == {"epsilon": 1e-6}
    assert options["expected_gradients_uniform"] == {"samples": 256, "rng": None}
    assert by_name["ig"]["needs_baseline"] and not by_name["pdp"]["needs_baseline"]
    assert not by_name["expected_gradients_uniform"]["exact"] and by_name["shapley"]["exact"]
