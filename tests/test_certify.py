"""Certificates and the independent verifier.

Valid certificates of every exact method are accepted; each kind of tampering (a region dropped,
a vertex moved, a value, a pattern, a mass, a contribution, a feature's measure, a breakpoint or
the model file changed) is rejected with exit code 1 naming the item; certificates are
byte-identical across runs; ``polyattr attribute ... --certificate`` then ``polyattr verify`` end
to end; and the verifier really does not load the enumeration or attribution code.
"""

import ast
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from polyattr import ReLUNetwork, attribute, random_network, save_model
from polyattr.certify.certificate import write_certificate
from polyattr.certify.verify import CertificateInvalid, verify_certificate
from polyattr.cli import main

VERIFY_PY = Path(__file__).resolve().parents[1] / "polyattr" / "certify" / "verify.py"

ALL_METHODS = ["pdp", "shapley_uniform", "occlusion", "shapley", "ice", "fafp_local", "fafp_global", "gradient",
               "gradient_x_input", "ig", "smoothgrad_uniform", "lime_uniform", "deeplift", "epsilon_lrp",
               "expected_gradients"]


def dyadic_network(sizes, seed, denominator=32):
    net = random_network(sizes, rng=seed)
    return ReLUNetwork([np.round(W * denominator) / denominator for W in net.weights],
                       [np.round(b * denominator) / denominator for b in net.biases])


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cert") / "model.npz"
    save_model(dyadic_network([2, 8, 8, 1], seed=7), path)
    return path


def _certify(model_path, tmp_path, method, x=(0.25, 0.625), name="c.json", **options):
    from polyattr import load_model

    model = load_model(model_path, exact=True)
    res = attribute(model, list(x), method, certify=True, **options)
    path = tmp_path / name
    write_certificate(path, result=res, model_path=model_path)
    return path, res


def _options(method):
    if method == "expected_gradients":
        return {"background": np.array([[0.125, 0.5], [1.0, 0.0]])}
    if method in ("smoothgrad_uniform", "lime_uniform"):
        return {"radius": 0.25}
    return {}


def _tamper(path, edit):
    cert = json.loads(path.read_text())
    edit(cert)
    path.write_text(json.dumps(cert))


def _verify_exit(model_path, cert_path):
    return main(["verify", str(model_path), str(cert_path)])


def _first_density(cert):
    return next(p for p in cert["trace"]["pieces"] if p["type"] == "density" and len(p["regions"]) > 1)


def _bump(q, delta=Fraction(1, 1024)):
    v = Fraction(q) + delta
    return f"{v.numerator}/{v.denominator}"


# ------------------------------------------------------------------------------------ valid
@pytest.mark.parametrize("method", ALL_METHODS)
def test_valid_certificate_is_accepted(model_file, tmp_path, method, capsys):
    path, res = _certify(model_file, tmp_path, method, **_options(method))
    assert verify_certificate(model_file, path)
    assert _verify_exit(model_file, path) == 0
    assert capsys.readouterr().out.startswith("valid")
    cert = json.loads(path.read_text())
    assert cert["values"] == [f"{v.numerator}/{v.denominator}" for v in res.values]
    assert "seconds" not in path.read_text()


def test_three_inputs(tmp_path):
    model_path = tmp_path / "m3.npz"
    save_model(dyadic_network([3, 8, 8, 1], seed=9), model_path)
    for method in ("shapley_uniform", "ig"):
        path, _ = _certify(model_path, tmp_path, method, x=(0.25, 0.5, 0.875))
        assert verify_certificate(model_path, path)


# ---------------------------------------------------------------------------------- tampering
def _drop_region(cert):
    _first_density(cert)["regions"].pop(0)


def _move_vertex(cert):
    reg = _first_density(cert)["regions"][0]
    reg["vertices"][0] = [_bump(v, Fraction(-1, 4096)) for v in reg["vertices"][0]]


def _change_value(cert):
    cert["values"][0] = _bump(cert["values"][0])


def _change_pattern(cert):
    reg = _first_density(cert)["regions"][0]
    p = reg["pattern"]
    i = next(i for i in range(len(p)))
    reg["pattern"] = p[:i] + ("0" if p[i] == "1" else "1") + p[i + 1:]


def _change_mass(cert):
    reg = _first_density(cert)["regions"][0]
    reg["mass"] = _bump(reg["mass"])


def _change_contribution(cert):
    reg = _first_density(cert)["regions"][0]
    reg["contribution"] = _bump(reg["contribution"])


def _change_moment(cert):
    reg = _first_density(cert)["regions"][0]
    reg["moment"][0] = _bump(reg["moment"][0])


def _swap_features(cert):
    f = cert["trace"]["features"]
    f[0], f[1] = f[1], f[0]
    cert["values"][0], cert["values"][1] = cert["values"][1], cert["values"][0]


def _duplicate_region(cert):
    piece = _first_density(cert)
    piece["regions"].append(piece["regions"][0])


def _drop_facet(cert):
    reg = _first_density(cert)["regions"][0]
    reg["facets"].pop()


@pytest.mark.parametrize("edit,where", [
    (_drop_region, "regions"), (_move_vertex, "vertices"), (_change_value, "values[0]"),
    (_change_pattern, "regions[0]"), (_change_mass, "mass"), (_change_contribution, "contribution"),
    (_change_moment, "moment"), (_swap_features, "features[0]"), (_duplicate_region, "pattern"),
    (_drop_facet, "regions"),
])
@pytest.mark.parametrize("method", ["pdp", "shapley_uniform"])
def test_tampered_measure_certificate_is_rejected(model_file, tmp_path, method, edit, where, capsys):
    path, _ = _certify(model_file, tmp_path, method)
    _tamper(path, edit)
    with pytest.raises(CertificateInvalid, match=where.replace("[", r"\[").replace("]", r"\]")):
        verify_certificate(model_file, path)
    assert _verify_exit(model_file, path) == 1
    assert capsys.readouterr().out.startswith("invalid:")


@pytest.mark.parametrize("method,edit,where", [
    ("ig", lambda c: c["trace"]["paths"][0]["pieces"][0].update(t1=_bump(c["trace"]["paths"][0]["pieces"][0]["t1"])),
     "pieces"),
    ("ig", lambda c: c["trace"]["paths"][0]["pieces"].pop(), "pieces"),
    ("ig", _change_value, "values"),
    ("gradient", lambda c: c["trace"].update(pattern="".join("1" if ch == "0" else "0" for ch in c["trace"]["pattern"])),
     "trace"),
    ("gradient", _change_value, "values"),
    ("smoothgrad_uniform", lambda c: c["trace"]["piece"]["regions"].pop(), "regions"),
    ("lime_uniform", lambda c: c["trace"]["piece"]["regions"][0]["moment2"][0].__setitem__(
        0, _bump(c["trace"]["piece"]["regions"][0]["moment2"][0][0])), "moment2"),
    ("deeplift", lambda c: c["trace"]["factors"][0].__setitem__(0, _bump(c["trace"]["factors"][0][0])), "factors"),
    # the certificate records the options the run used (defaults included), so a changed stabiliser
    # contradicts options.epsilon before it changes the values
    ("epsilon_lrp", lambda c: c["trace"].update(epsilon="1/3"), "epsilon|values"),
    ("occlusion", lambda c: c["trace"]["pieces"][0]["values"].__setitem__(0, _bump(c["trace"]["pieces"][0]["values"][0])),
     "values"),
    ("fafp_global", lambda c: [p.update(mass=_bump(p["mass"])) for p in c["trace"]["pieces"]], "mass"),
])
def test_tampered_certificates_of_other_methods_are_rejected(model_file, tmp_path, method, edit, where):
    path, _ = _certify(model_file, tmp_path, method, **_options(method))
    _tamper(path, edit)
    with pytest.raises(CertificateInvalid, match=where):
        verify_certificate(model_file, path)


def test_changed_model_file_is_rejected(model_file, tmp_path):
    path, _ = _certify(model_file, tmp_path, "pdp")
    other = tmp_path / "model.npz"
    net = dyadic_network([2, 8, 8, 1], seed=7)
    b = [v.copy() for v in net.biases]
    b[-1][0] += 1 / 32  # shifts every value: no region can keep its contribution
    save_model(ReLUNetwork(net.weights, b), other)
    with pytest.raises(CertificateInvalid, match="sha256"):
        verify_certificate(other, path)
    assert _verify_exit(other, path) == 1
    # even with the hash rewritten to match, the changed weights break the regions or values
    import hashlib

    _tamper(path, lambda c: c["model"].update(sha256=hashlib.sha256(other.read_bytes()).hexdigest()))
    with pytest.raises(CertificateInvalid):
        verify_certificate(other, path)


def test_unreadable_inputs_exit_2(model_file, tmp_path, capsys):
    path, _ = _certify(model_file, tmp_path, "pdp")
    assert main(["verify", str(tmp_path / "missing.npz"), str(path)]) == 2
    (tmp_path / "junk.json").write_text("{not json")
    assert main(["verify", str(model_file), str(tmp_path / "junk.json")]) == 1


# ------------------------------------------------------------------------- determinism, CLI
def test_cli_end_to_end_and_determinism(model_file, tmp_path, capsys):
    c1, c2 = tmp_path / "c1.json", tmp_path / "c2.json"
    for c in (c1, c2):
        rc = main(["attribute", str(model_file), "--x", "0.25,5/8", "--method", "pdp", "--exact",
                   "--certificate", str(c)])
        assert rc == 0
    assert c1.read_bytes() == c2.read_bytes()
    assert main(["verify", str(model_file), str(c1)]) == 0
    assert "valid" in capsys.readouterr().out
    # ig with an explicit baseline, through the CLI
    c3 = tmp_path / "c3.json"
    assert main(["attribute", str(model_file), "--x", "0.25,5/8", "--method", "ig", "--baseline", "1/2,0",
                 "--certificate", str(c3)]) == 0
    assert main(["verify", str(model_file), str(c3)]) == 0
    _tamper(c3, _change_value)
    assert main(["verify", str(model_file), str(c3)]) == 1


def test_certificate_of_a_float_result_is_refused(model_file, tmp_path):
    from polyattr import PolyattrError, load_model

    model = load_model(model_file)
    res = attribute(model, [0.25, 0.5], "pdp")
    with pytest.raises(PolyattrError, match="not exact"):
        write_certificate(tmp_path / "c.json", model_path=model_file, model=model, domain=None, result=res)


# --------------------------------------------------------------------------- independence
def test_verifier_imports_no_polyattr_code(model_file, tmp_path):
    tree = ast.parse(VERIFY_PY.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not any(m.startswith("polyattr") for m in imported), imported
    # run it standalone, loaded from its file: it must not pull in any polyattr module
    path, _ = _certify(model_file, tmp_path, "shapley_uniform")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('standalone_verify', {str(VERIFY_PY)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"rc = m.main([{str(model_file)!r}, {str(path)!r}])\n"
        "bad = sorted(k for k in sys.modules if k.startswith('polyattr'))\n"
        "print('MODULES', bad)\n"
        "sys.exit(rc if not bad else 3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout and "MODULES []" in out.stdout


def test_verifier_model_reader_matches_load_model(model_file, tmp_path):
    from polyattr import load_model
    from polyattr.certify.verify import load_exact_model

    ref = load_model(model_file, exact=True)
    mine = load_exact_model(model_file)
    for W, W2 in zip(ref.weights, mine.W):
        assert [[Fraction(v) for v in row] for row in W] == W2
    json_path = tmp_path / "m.json"
    save_model(ref, json_path)
    assert load_exact_model(json_path).W == mine.W


def test_user_measure_family_certificate(model_file, tmp_path):
    from polyattr import Box, load_model
    from polyattr.measures.core import Dirac, Uniform

    model = load_model(model_file, exact=True)
    box = Box.unit(2, exact=True)
    family = [Uniform(box) - Dirac([Fraction(1, 2), Fraction(1, 4)], exact=True), 2 * Dirac([0, 1], exact=True)]
    res = attribute(model, [0.25, 0.5], "measure", exact=True, measures=family)
    path = tmp_path / "m.json"
    write_certificate(path, model_path=model_file, model=model, domain=None, result=res, options={"measures": family})
    assert "user family" in verify_certificate(model_file, path)
    _tamper(path, _change_value)
    with pytest.raises(CertificateInvalid, match="values"):
        verify_certificate(model_file, path)


# ------------------------------------------------------------------ certificates from the run
@pytest.mark.parametrize("method", ["shapley_uniform", "ig", "smoothgrad_uniform", "expected_gradients", "pdp"])
def test_certificate_is_written_from_the_run_without_recomputing(model_file, tmp_path, monkeypatch, method):
    """With certify=True the writer only reads what the run recorded: enumeration, exact region
    confirmation and the segment walk are not called again."""
    from polyattr import load_model
    import polyattr.attribution.integrals as integrals
    import polyattr.geometry.exact_regions as exact_regions
    import polyattr.geometry.segment_walk as segment_walk

    model = load_model(model_file, exact=True)
    res = attribute(model, [0.25, 0.625], method, certify=True, **_options(method))

    def forbidden(*args, **kwargs):
        raise AssertionError("the certificate writer recomputed part of the attribution")

    monkeypatch.setattr(integrals, "enumerate_regions", forbidden)
    monkeypatch.setattr(exact_regions, "exact_region_set", forbidden)
    monkeypatch.setattr(segment_walk, "segment_breakpoints", forbidden)
    monkeypatch.setattr(integrals.Integrator, "_integrate_density", forbidden)
    path = write_certificate(tmp_path / "c.json", result=res, model_path=model_file)
    monkeypatch.undo()
    assert verify_certificate(model_file, path)


def test_in_memory_model_is_named_by_its_canonical_weights(tmp_path):
    from polyattr import PolyattrError

    net = dyadic_network([2, 6, 1], seed=3)  # never written before certifying
    res = attribute(net, [0.5, 0.25], "shapley_uniform", certify=True)
    cert_path = write_certificate(tmp_path / "c.json", result=res)
    cert = json.loads(cert_path.read_text())
    assert "sha256" not in cert["model"] and cert["model"]["canonical_sha256"] == net.canonical_hash()
    # the same weights in either file format verify; the certificate names no file
    for name in ("m.npz", "m.json"):
        save_model(net.to_exact() if name.endswith("json") else net, tmp_path / name)
        assert verify_certificate(tmp_path / name, cert_path)
    # other weights do not
    other = ReLUNetwork(net.weights, [net.biases[0], net.biases[1] + 1 / 32])
    save_model(other, tmp_path / "other.npz")
    with pytest.raises(CertificateInvalid, match="canonical_sha256"):
        verify_certificate(tmp_path / "other.npz", cert_path)
    # a float result cannot be certified, and a result without a record needs the model
    with pytest.raises(PolyattrError, match="no record"):
        write_certificate(tmp_path / "d.json", result=attribute(net, [0.5, 0.25], "pdp", exact=True))


def test_tampered_canonical_hash_is_rejected(model_file, tmp_path):
    path, _ = _certify(model_file, tmp_path, "pdp")
    _tamper(path, lambda c: c["model"].update(canonical_sha256="0" * 64))
    with pytest.raises(CertificateInvalid, match="canonical_sha256"):
        verify_certificate(model_file, path)


def test_result_without_record_is_certified_through_the_same_code_path(model_file, tmp_path):
    from polyattr import load_model

    model = load_model(model_file, exact=True)
    res = attribute(model, [0.25, 0.625], "ice", exact=True)
    path = write_certificate(tmp_path / "c.json", result=res, model=model, model_path=model_file)
    assert verify_certificate(model_file, path)


def _write_leaky_json(net, path):
    """The model file in the version-2 JSON format (slopes as "p/q"), written here by hand."""
    ex = net.to_exact()

    def enc(v):
        return f"{v.numerator}/{v.denominator}"

    doc = {"format": "polyattr-relu", "version": 2,
           "layers": [{"W": [[enc(v) for v in row] for row in W], "b": [enc(v) for v in b]}
                      for W, b in zip(ex.weights, ex.biases)],
           "negative_slopes": [[enc(v) for v in a] for a in ex.negative_slopes]}
    path.write_text(json.dumps(doc))
    return doc


@pytest.mark.parametrize("method", ALL_METHODS)
def test_leaky_and_identity_networks_certify_and_verify(tmp_path, method):
    base = dyadic_network([2, 6, 5, 1], seed=11)
    net = ReLUNetwork(base.weights, base.biases, [["0", "1/4", "1", "0", "1/8", "1"], ["1", "0", "1/2", "0", "1"]],
                      exact=True)
    res = attribute(net, [Fraction(1, 4), Fraction(5, 8)], method, certify=True, **_options(method))
    cert_path = write_certificate(tmp_path / "c.json", result=res)
    model_path = tmp_path / "leaky.json"
    doc = _write_leaky_json(net, model_path)
    assert verify_certificate(model_path, cert_path)
    tampered = tmp_path / "t.json"
    tampered.write_text(cert_path.read_text())
    _tamper(tampered, lambda c: c["values"].__setitem__(0, _bump(c["values"][0])))
    with pytest.raises(CertificateInvalid):
        verify_certificate(model_path, tampered)
    # the same weights read as plain ReLU units are another model
    doc["negative_slopes"][0][1] = "0/1"
    model_path.write_text(json.dumps(doc))
    with pytest.raises(CertificateInvalid, match="canonical_sha256"):
        verify_certificate(model_path, cert_path)
