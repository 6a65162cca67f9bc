"""The Attribution result: shap export, bar plot, the measures package, and no process-wide side effects."""

import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from polyattr import PolyattrError, attribute, random_network
from polyattr.attribution.result import Attribution


@pytest.fixture(scope="module")
def net():
    return random_network([3, 8, 1], rng=5)


def test_to_shap_gives_an_explanation_shap_plots_can_draw(net):
    import shap

    x = [0.2, 0.5, 0.7]
    res = attribute(net, x, "ig", baseline=[0.0, 0.0, 0.0], feature_names=["a", "b", "c"])
    ex = res.to_shap()
    assert isinstance(ex, shap.Explanation)
    np.testing.assert_array_equal(ex.values, res.values)
    np.testing.assert_array_equal(ex.data, res.data)
    assert ex.feature_names == ["a", "b", "c"]
    # completeness of IG: base value + sum of scores = f(x), as shap's waterfall assumes
    assert abs(ex.base_values + ex.values.sum() - float(net(np.array(x)))) < 1e-12
    batch = attribute(net, np.array([x, [0.9, 0.1, 0.3]]), "shapley", baseline=[0, 0, 0]).to_shap()
    assert batch.values.shape == (2, 3) and batch.base_values.shape == (2,)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shap.plots.bar(batch, show=False)
    shap.plots.waterfall(ex, show=False)
    plt.close("all")
    exact = attribute(net, [Fraction(1, 5), Fraction(1, 2), Fraction(7, 10)], "pdp", exact=True).to_shap()
    assert exact.values.dtype == float and exact.base_values == 0.0  # pdp has no base value


def test_to_shap_without_shap_is_a_clear_error(net, monkeypatch):
    monkeypatch.setitem(sys.modules, "shap", None)  # import shap now raises ImportError
    with pytest.raises(PolyattrError, match="shap"):
        attribute(net, [0.2, 0.5, 0.7], "pdp").to_shap()


def _bars(ax):
    from matplotlib.container import BarContainer

    return next(c for c in ax.containers if isinstance(c, BarContainer))


def test_plot_draws_bars_with_error_bars(net, tmp_path, exact_radii):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = attribute(net, [0.2, 0.5, 0.7], "smoothgrad_uniform")
    path = tmp_path / "bars.png"
    ax = res.plot(path=path)
    assert path.stat().st_size > 0
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, res.values)
    # one error bar per score, of half-length error_bound
    segments = _bars(ax).errorbar.lines[2][0].get_segments()
    assert len(segments) == 3
    # (drawn from v - e to v + e in floats: the length is 2 e up to the rounding of v +- e)
    np.testing.assert_allclose([s[1][1] - s[0][1] for s in segments], 2 * res.error_bound, rtol=0,
                               atol=8 * np.finfo(float).eps * max(1.0, float(np.max(np.abs(res.values)))))
    assert res.error_bound > 0
    plt.close("all")
    exact = attribute(net, [Fraction(1, 5), Fraction(1, 2), Fraction(7, 10)], "ig", exact=True)
    ax = exact.plot()
    assert _bars(ax).errorbar is None  # exact: no error bars
    assert "exact" in ax.get_title()
    batch = attribute(net, np.array([[0.2, 0.5, 0.7], [0.9, 0.1, 0.3]]), "pdp")
    np.testing.assert_allclose([p.get_height() for p in batch.plot(row=1).patches], batch.values[1])
    with pytest.raises(PolyattrError, match="row"):
        batch.plot(row=5)
    plt.close("all")


def test_measures_package_exports_the_measure_types():
    import polyattr.measures as measures
    from polyattr.measures import core

    for name in ["Measure", "Dirac", "Discrete", "Empirical", "Uniform", "Lebesgue", "ProductDensity",
                 "TruncatedGaussian", "PointPiece", "DensityPiece"]:
        assert getattr(measures, name) is getattr(core, name)
    mu = measures.Dirac([0.1, 0.2]) - measures.Uniform(__import__("polyattr").Box.unit(2))
    assert isinstance(mu, measures.Measure)


def test_long_rationals_print_without_changing_the_process_limit():
    """Printing, serialising, certifying and verifying leave sys.get_int_max_str_digits alone."""
    code = textwrap.dedent("""
        import sys, json, tempfile, pathlib
        from fractions import Fraction
        import numpy as np
        before = sys.get_int_max_str_digits()
        import polyattr, polyattr.certify, polyattr.certify.verify
        from polyattr.attribution.result import Attribution
        from polyattr.certify.certificate import write_certificate
        from polyattr.certify.verify import verify_certificate
        from polyattr.cli import main
        assert sys.get_int_max_str_digits() == before, "import"
        big = Fraction(7 ** 6000, 3)
        res = Attribution(values=np.array([big], dtype=object), base_values=None, data=np.array([Fraction(1, 2)], dtype=object),
                          method="pdp", exact=True, error_bound=0.0, regions=1, seconds=0.0)
        text = repr(res)
        doc = res.to_dict()
        assert len(doc["values"][0]) > 5000 and len(text) > 5000
        from polyattr.numbers import long_integer_strings
        with long_integer_strings():
            assert doc["values"][0] == f"{7 ** 6000}/3" and str(7 ** 6000) in text
        assert sys.get_int_max_str_digits() == before, "print"
        net = polyattr.random_network([2, 4, 1], rng=0)
        tmp = pathlib.Path(tempfile.mkdtemp())
        polyattr.save_model(net, tmp / "m.npz")
        exact = polyattr.attribute(net, [Fraction(1, 3), Fraction(1, 2)], "pdp", exact=True)
        write_certificate(tmp / "c.json", model_path=tmp / "m.npz", model=net, domain=None, result=exact)
        verify_certificate(tmp / "m.npz", tmp / "c.json")
        main(["attribute", str(tmp / "m.npz"), "--x", "1/3,1/2", "--method", "pdp", "--exact", "--json"])
        assert sys.get_int_max_str_digits() == before, "certify"
        print("ok", before)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "ok 4300"


def test_huge_rational_round_trips_through_to_dict():
    big = Fraction(3 ** 12000 + 1, 2 ** 9000)
    res = Attribution(values=np.array([big], dtype=object), base_values=big, data=np.array([Fraction(1)], dtype=object),
                      method="pdp", exact=True, error_bound=0.0, regions=1, seconds=0.0)
    p, q = res.to_dict()["values"][0].split("/")
    assert len(p) > 4300
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        assert Fraction(int(p), int(q)) == big
    finally:
        sys.set_int_max_str_digits(old)


def test_an_unproven_bound_is_null_in_json_not_infinity(tmp_path):
    """pdp on an 8-input model integrates over 7-dimensional slices, where region integrals have no
    proven float bound (inf); the JSON says null and stays strict JSON (no Infinity token)."""
    import json

    from polyattr.models.io import save_model

    model = random_network([8, 2, 1], rng=np.random.default_rng(0))
    result = attribute(model, np.full(8, 0.5), "pdp")
    assert result.error_bound == float("inf")
    assert result.to_dict()["error_bound"] is None
    path = tmp_path / "m.npz"
    save_model(model, path)
    out = subprocess.run([sys.executable, "-m", "polyattr.cli", "attribute", str(path), "--x", ",".join(["0.5"] * 8),
                          "--method", "pdp", "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "Infinity" not in out.stdout
    parsed = json.loads(out.stdout, parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    assert parsed["error_bound"] is None
    assert np.allclose(parsed["values"], result.values)
