"""A catalogue of hostile and malformed inputs (issue 12, "Why" items 3-6, plus our own).

Every command-line case asserts the contract: exit code 2, exactly one line ``polyattr: error: ...``
on stderr, no traceback, nothing on stdout; ``polyattr verify`` answers a malformed certificate with
one line ``invalid: ...`` and exit code 1 (its documented answer for a certificate that does not
check).  Every API case asserts a :class:`polyattr.PolyattrError` naming the input.  Each case runs
under a time limit so that a hang fails the test: in-process cases under ``signal.setitimer``, and
the cases that used to hang inside C code (a Fraction expanding a billion-digit exponent, a
100k-deep JSON) or to exhaust memory in a subprocess with a timeout and an address-space limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import polyattr
from polyattr import MemoryBudgetExceeded, PolyattrError, random_network, save_model
from polyattr.cli import main

CASE_SECONDS = 60  # generous: the machine is shared; a hang runs forever
REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def time_limit(seconds: float = CASE_SECONDS):
    """Fail (raise TimeoutError) when the body runs longer than ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"case still running after {seconds} s (a hang)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def assert_one_line_error(code, out, err, expect=None):
    lines = err.splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("polyattr: error: "), err
    assert "Traceback" not in err and "Traceback" not in out
    assert out == "", out
    if expect is not None:
        assert expect.lower() in lines[0].lower(), lines[0]


def cli(capsys, argv):
    with time_limit():
        code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def cli_subprocess(argv, timeout=CASE_SECONDS * 3, address_space=None):
    """Run ``python -m polyattr.cli`` in a child (hangs and memory exhaustion stay contained)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    prefix = []
    if address_space is not None:
        prefix = ["-c", (
            "import resource, runpy, sys; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({address_space}, {address_space})); "
            "sys.argv = ['polyattr'] + sys.argv[1:]; runpy.run_module('polyattr.cli', run_name='__main__')"
        )]
    else:
        prefix = ["-m", "polyattr.cli"]
    proc = subprocess.run([sys.executable, *prefix, *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    return proc.returncode, proc.stdout, proc.stderr


# ------------------------------------------------------------------------------------- files
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A directory of good and bad model files, by name."""
    d = tmp_path_factory.mktemp("bad_input")
    good = random_network([2, 3, 1], rng=np.random.default_rng(0))
    save_model(good, d / "good.npz")
    save_model(random_network([3, 4, 1], rng=np.random.default_rng(1)), d / "three.npz")
    W0, b0, W1, b1 = good.weights[0], good.biases[0], good.weights[1], good.biases[1]

    def npz(name, **arrays):
        base = dict(W0=W0, b0=b0, W1=W1, b1=b1)
        base.update(arrays)
        np.savez(d / name, **{k: v for k, v in base.items() if v is not None})

    npz("complex.npz", W0=W0 + 1j)
    npz("timedelta.npz", W0=W0.astype(np.int64).astype("timedelta64[s]"))
    npz("datetime.npz", b0=np.zeros(3, dtype="datetime64[s]"))
    npz("bool.npz", W1=W1 > 0)
    npz("strings.npz", b1=np.array(["1.0"]))
    npz("structured.npz", b1=np.zeros(1, dtype=[("a", float)]))
    npz("nan.npz", W0=np.where(np.arange(6).reshape(3, 2) == 0, np.nan, W0))
    npz("inf.npz", b0=np.array([0.0, np.inf, 0.0]))
    npz("missing_bias.npz", b1=None)
    npz("extra.npz", X=np.zeros(2))
    npz("three_d.npz", W0=W0[None])
    npz("mismatch.npz", W1=np.ones((1, 5)))
    npz("empty_layer.npz", W0=np.zeros((0, 2)), b0=np.zeros(0))
    npz("huge.npz", W0=np.full((3, 2), 1e308), W1=np.full((1, 3), 1e308))
    if np.dtype(np.longdouble).itemsize > 8:
        npz("longdouble.npz", W0=W0.astype(np.longdouble))
    np.savez(d / "no_arrays.npz", A=np.zeros(2))
    (d / "not_zip.npz").write_bytes(b"PK\x03\x04 definitely not a zip archive")
    (d / "model.txt").write_text("W0 = 1")
    (d / "a_directory.npz").mkdir()

    def js(name, doc=None, text=None):
        (d / name).write_text(text if text is not None else json.dumps(doc))

    layers = [{"W": [[1, -1], [0.5, 1]], "b": [0.1, -0.2]}, {"W": [[1, 1]], "b": [0]}]
    js("good.json", {"format": "polyattr-relu", "version": 1, "layers": layers})
    js("w_string.json", {"layers": [{"W": "12", "b": [0]}]})
    js("dup_top.json", text='{"layers": [{"W": [[1, 2]], "b": [0]}], "layers": [{"W": [[3, 4]], "b": [0]}]}')
    js("dup_layer.json", text='{"layers": [{"W": [[1, 2]], "W": [[3, 4]], "b": [0]}]}')
    js("format.json", {"format": "keras", "version": 1, "layers": layers})
    js("version.json", {"format": "polyattr-relu", "version": 7, "layers": layers})
    js("version_bool.json", {"format": "polyattr-relu", "version": True, "layers": layers})
    js("sigmoid.json", {"layers": [dict(layers[0], activation="sigmoid"), layers[1]]})
    js("relu_out.json", {"layers": [layers[0], dict(layers[1], activation="relu")]})
    js("ragged.json", {"layers": [{"W": [[1, 2], [3]], "b": [0, 0]}, {"W": [[1, 1]], "b": [0]}]})
    js("deep.json", text="[" * 100_000 + "]" * 100_000)
    js("deep_object.json", text='{"a":' * 50_000 + "1" + "}" * 50_000)
    js("bigint.json", text='{"layers": [{"W": [[1' + "0" * 5000 + ', 2]], "b": [0]}]}')
    js("exp_string.json", {"layers": [{"W": [["1e999999999", 2]], "b": [0]}]})
    js("exp_number.json", text='{"layers": [{"W": [[1e999999999, 2]], "b": [0]}]}')
    js("exp_number_neg.json", text='{"layers": [{"W": [[1e-999999999, 2]], "b": [0]}]}')
    js("nan.json", text='{"layers": [{"W": [[NaN, 2]], "b": [0]}]}')
    js("infinity.json", text='{"layers": [{"W": [[Infinity, 2]], "b": [0]}]}')
    js("unknown_top.json", {"layers": layers, "activations": ["relu"]})
    js("unknown_layer.json", {"layers": [dict(layers[0], slope=0.1), layers[1]]})
    js("empty_layers.json", {"layers": []})
    js("array.json", [1, 2, 3])
    js("null_entry.json", {"layers": [{"W": [[None, 1]], "b": [0]}]})
    js("bool_entry.json", {"layers": [{"W": [[True, 1]], "b": [0]}]})
    js("nested_entry.json", {"layers": [{"W": [[[1], 1]], "b": [0]}]})
    js("zero_den.json", {"layers": [{"W": [["1/0", 1]], "b": [0]}]})
    js("chain.json", {"layers": [{"W": [[1, 2]], "b": [0]}, {"W": [[1, 1]], "b": [0]}]})
    js("overflow_float.json", text='{"layers": [{"W": [[1e400, 1]], "b": [0]}]}')
    js("not_json.json", text="{layers: [}")
    (d / "latin1.json").write_bytes(b'{"layers": [{"W": [[1, 2]], "b": [0]}], "metadata": "\xe9"}')
    np.save(d / "complex_background.npy", np.ones((2, 2)) + 1j)
    return d


# ---------------------------------------------------------------------- command-line catalogue
# (case id, argv with {d} for the file directory, a word the message must contain)
CLI_CASES = [
    # model files: npz dtypes and structure ("Why" 5)
    ("npz-complex", ["regions", "{d}/complex.npz"], "complex"),
    ("npz-timedelta", ["regions", "{d}/timedelta.npz"], "timedelta"),
    ("npz-datetime", ["regions", "{d}/datetime.npz"], "datetime"),
    ("npz-bool", ["regions", "{d}/bool.npz"], "boolean"),
    ("npz-strings", ["regions", "{d}/strings.npz"], "string"),
    ("npz-structured", ["regions", "{d}/structured.npz"], "structured"),
    ("npz-nan", ["regions", "{d}/nan.npz"], "NaN"),
    ("npz-inf", ["regions", "{d}/inf.npz"], "infinite"),
    ("npz-missing-bias", ["regions", "{d}/missing_bias.npz"], "b1"),
    ("npz-extra-array", ["regions", "{d}/extra.npz"], "unexpected"),
    ("npz-3d", ["regions", "{d}/three_d.npz"], "W0"),
    ("npz-mismatch", ["regions", "{d}/mismatch.npz"], "W1"),
    ("npz-empty-layer", ["regions", "{d}/empty_layer.npz"], "W0"),
    ("npz-no-arrays", ["regions", "{d}/no_arrays.npz"], "W0"),
    ("npz-not-zip", ["regions", "{d}/not_zip.npz"], "npz"),
    ("npz-directory", ["regions", "{d}/a_directory.npz"], "not found"),
    ("model-missing", ["regions", "{d}/nowhere.npz"], "not found"),
    ("model-suffix", ["regions", "{d}/model.txt"], ".npz or .json"),
    # overflow is an error, not an infinite bound ("Why" 5)
    ("overflow-attribute", ["attribute", "{d}/huge.npz", "--x", "0.5,0.5", "--method", "gradient", "--json"], "overflow"),
    ("overflow-ig", ["attribute", "{d}/huge.npz", "--x", "0.5,0.5", "--method", "ig"], "overflow"),
    ("overflow-shapley", ["attribute", "{d}/huge.npz", "--x", "0.5,0.5", "--method", "shapley_uniform"], "overflow"),
    ("overflow-regions", ["regions", "{d}/huge.npz"], "overflow"),
    # JSON models ("Why" 5 and 6)
    ("json-W-string", ["regions", "{d}/w_string.json"], "matrix"),
    ("json-duplicate-top", ["regions", "{d}/dup_top.json"], "duplicate key 'layers'"),
    ("json-duplicate-layer", ["regions", "{d}/dup_layer.json"], "duplicate key 'W'"),
    ("json-format", ["regions", "{d}/format.json"], "format"),
    ("json-version", ["regions", "{d}/version.json"], "version"),
    ("json-version-bool", ["regions", "{d}/version_bool.json"], "version"),
    ("json-sigmoid", ["regions", "{d}/sigmoid.json"], "sigmoid"),
    ("json-relu-output", ["regions", "{d}/relu_out.json"], "output layer"),
    ("json-ragged", ["regions", "{d}/ragged.json"], "ragged"),
    ("json-deep-object", ["regions", "{d}/deep_object.json"], "deep"),
    ("json-bigint", ["regions", "{d}/bigint.json"], "digits"),
    ("json-nan", ["regions", "{d}/nan.json"], "NaN"),
    ("json-infinity", ["regions", "{d}/infinity.json"], "Infinity"),
    ("json-unknown-top-key", ["regions", "{d}/unknown_top.json"], "unknown keys"),
    ("json-unknown-layer-key", ["regions", "{d}/unknown_layer.json"], "unknown keys"),
    ("json-empty-layers", ["regions", "{d}/empty_layers.json"], "layers"),
    ("json-array", ["regions", "{d}/array.json"], "object"),
    ("json-null-entry", ["regions", "{d}/null_entry.json"], "null"),
    ("json-bool-entry", ["regions", "{d}/bool_entry.json"], "True"),
    ("json-nested-entry", ["regions", "{d}/nested_entry.json"], "number"),
    ("json-zero-denominator", ["regions", "{d}/zero_den.json"], "zero denominator"),
    ("json-layer-chain", ["regions", "{d}/chain.json"], "W1"),
    ("json-float-overflow", ["regions", "{d}/overflow_float.json"], "float64"),
    ("json-tiny-exponent", ["regions", "{d}/exp_number_neg.json"], "exponent"),
    ("json-not-json", ["regions", "{d}/not_json.json"], "JSON"),
    ("json-not-utf8", ["regions", "{d}/latin1.json"], "UTF-8"),
    # number literals on the command line ("Why" 4 and 6)
    ("x-1e400", ["attribute", "{d}/good.npz", "--x", "1e400,0.5", "--method", "ig"], "float64"),
    ("x-nan", ["attribute", "{d}/good.npz", "--x", "nan,0.5", "--method", "ig"], "--x"),
    ("x-inf", ["attribute", "{d}/good.npz", "--x", "inf,0.5", "--method", "ig"], "--x"),
    ("x-hex", ["attribute", "{d}/good.npz", "--x", "0x10,0.5", "--method", "ig"], "--x"),
    ("x-zero-den", ["attribute", "{d}/good.npz", "--x", "1/0,0.5", "--method", "ig"], "zero denominator"),
    ("x-5000-digits", ["attribute", "{d}/good.npz", "--x", "1" + "0" * 5000 + ",0.5", "--method", "ig"], "digits"),
    ("x-empty-entry", ["attribute", "{d}/good.npz", "--x", "0.5,,0.5", "--method", "ig"], "empty"),
    ("x-only-commas", ["attribute", "{d}/good.npz", "--x", ",,", "--method", "ig"], "--x"),
    ("x-wrong-length", ["attribute", "{d}/good.npz", "--x", "0.5", "--method", "ig"], "x"),
    ("x-outside-domain", ["attribute", "{d}/good.npz", "--x", "2,0.5", "--method", "ig"], "x"),
    ("x-exact-huge-exponent", ["attribute", "{d}/good.npz", "--x", "1e5000,0.5", "--method", "ig", "--exact"], "exponent"),
    ("baseline-length", ["attribute", "{d}/good.npz", "--x", "0.5,0.5", "--method", "ig", "--baseline", "0"], "baseline"),
    ("box-flipped", ["regions", "{d}/good.npz", "--lower", "1,1", "--upper", "0,0"], "lower"),
    ("box-length", ["regions", "{d}/good.npz", "--lower", "0,0,0"], "--lower"),
    ("box-huge-float", ["regions", "{d}/good.npz", "--upper", "1e309,1"], "float64"),
    # output files, options ("Why" 6)
    ("plot-missing-dir", ["regions", "{d}/good.npz", "--plot", "{d}/no/such/dir/p.png"], "does not exist"),
    ("plot-3-inputs", ["regions", "{d}/three.npz", "--plot", "{d}/p.png"], "2-input"),
    ("plot-is-directory", ["regions", "{d}/good.npz", "--plot", "{d}"], "directory"),
    ("certificate-missing-dir", ["attribute", "{d}/good.npz", "--x", "0.5,0.5", "--method", "pdp",
                                 "--certificate", "{d}/no/such/c.json"], "does not exist"),
    ("demo-out-missing-dir", ["demo", "--out", "{d}/no/such/demo.png"], "does not exist"),
    ("output-index", ["attribute", "{d}/good.npz", "--x", "0.5,0.5", "--method", "ig", "--output", "5"], "output"),
    ("radius-negative", ["attribute", "{d}/good.npz", "--x", "0.5,0.5", "--method", "smoothgrad_uniform",
                         "--radius", "-1"], "radius"),
    ("radius-nan", ["attribute", "{d}/good.npz", "--x", "0.5,0.5", "--method", "smoothgrad_uniform",
                    "--radius", "nan"], "radius"),
    ("option-not-of-method", ["attribute", "{d}/good.npz", "--x", "0.5,0.5", "--method", "ig", "--radius", "0.1"],
     "radius"),
    ("background-complex", ["attribute", "{d}/good.npz", "--x", "0.5,0.5", "--method", "expected_gradients",
                            "--background", "{d}/complex_background.npy"], "complex"),
    ("max-regions-zero", ["regions", "{d}/good.npz", "--max-regions", "0"], "max_regions"),
    # argparse's own errors, one line ("Why" 6)
    ("unknown-subcommand", ["frobnicate"], "invalid choice"),
    ("unknown-option", ["regions", "{d}/good.npz", "--bogus"], "unrecognized"),
    ("bad-int", ["regions", "{d}/good.npz", "--max-regions", "abc"], "invalid int"),
    ("bad-number-option", ["attribute", "{d}/good.npz", "--x", "0.5,0.5", "--method", "smoothgrad_uniform",
                           "--radius", "wide"], "--radius"),
    ("bad-int-option", ["attribute", "{d}/good.npz", "--x", "0.5,0.5", "--method", "ig", "--output", "1.5"],
     "invalid int"),
    ("unknown-method", ["attribute", "{d}/good.npz", "--x", "0.5,0.5", "--method", "sigmoid_magic"], "invalid choice"),
    ("bad-backend", ["regions", "{d}/good.npz", "--backend", "gpu"], "invalid choice"),
    ("missing-required", ["attribute", "{d}/good.npz"], "required"),
    ("no-command", [], "required"),
    ("option-without-value", ["regions", "{d}/good.npz", "--lower"], "expected one argument"),
    # the memory budget ("Why" 3)
    ("max-memory-garbage", ["--max-memory", "lots", "regions", "{d}/good.npz"], "--max-memory"),
    ("max-memory-missing-value", ["regions", "{d}/good.npz", "--max-memory"], "--max-memory"),
    ("max-memory-too-small", ["regions", "{d}/good.npz", "--max-memory", "100"], "max_memory"),
]


@pytest.mark.parametrize("argv, expect", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_line(files, capsys, argv, expect):
    argv = [a.replace("{d}", str(files)) for a in argv]
    code, out, err = cli(capsys, argv)
    assert_one_line_error(code, out, err, expect)


def test_catalogue_is_large_enough():
    assert len(CLI_CASES) + len(API_CASES) + len(SUBPROCESS_CASES) + len(CERTIFICATE_EDITS) >= 60


# Cases that used to hang in C code (a Fraction expanding 10^999999999) or overflow the C stack: a
# child process with a timeout contains them if they regress.
SUBPROCESS_CASES = [
    ("x-1e999999999", ["attribute", "{d}/good.npz", "--x", "1e999999999,0.5", "--method", "ig"], "exponent"),
    ("json-exponent-string", ["regions", "{d}/exp_string.json"], "exponent"),
    ("json-exponent-number", ["regions", "{d}/exp_number.json"], "exponent"),
    ("json-100k-deep", ["regions", "{d}/deep.json"], "deep"),
    ("lower-1e-999999999", ["regions", "{d}/good.npz", "--lower", "1e-999999999,0"], "exponent"),
]


@pytest.mark.parametrize("argv, expect", [c[1:] for c in SUBPROCESS_CASES], ids=[c[0] for c in SUBPROCESS_CASES])
def test_cli_former_hangs_are_one_line(files, argv, expect):
    argv = [a.replace("{d}", str(files)) for a in argv]
    code, out, err = cli_subprocess(argv)
    assert_one_line_error(code, out, err, expect)


def test_help_still_works(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["regions", "--help"])
    assert exc.value.code == 0
    assert "--max-regions" in capsys.readouterr().out


def test_good_files_still_load(files, capsys):
    """The strict reader accepts what save_model writes and the documented JSON format."""
    for name in ("good.npz", "good.json"):
        code, out, err = cli(capsys, ["regions", str(files / name), "--json"])
        assert code == 0, err
        assert json.loads(out)["volume"] == pytest.approx(1.0)


def test_json_decimals_are_the_rationals_they_denote(files):
    from fractions import Fraction

    exact = polyattr.load_model(files / "good.json", exact=True)
    assert exact.weights[0][1, 0] == Fraction(1, 2) and exact.biases[0][0] == Fraction(1, 10)
    floating = polyattr.load_model(files / "good.json")
    assert floating.biases[0][0] == 0.1  # the float nearest 1/10, as before


# ---------------------------------------------------------------------------- certificates
def _drop_duplicate_values(text: str, cert: dict) -> str:
    # a second "values" key with other numbers: the last one would win in a lax reader
    fake = json.dumps(["1/1"] * len(cert["values"]))
    text = text.rstrip()
    assert text.endswith("}")
    return text[:-1] + f', "values": {fake}' + "}"


def _edit(fn):
    def apply(text, cert):
        fn(cert)
        return json.dumps(cert)

    return apply


def _vertices_null(cert):
    def walk(o):
        if isinstance(o, dict):
            if "vertices" in o:
                o["vertices"] = None
                return True
            return any(walk(v) for v in o.values())
        if isinstance(o, list):
            return any(walk(v) for v in o)
        return False

    assert walk(cert)


def _raw_version(raw: str):
    """Put raw JSON text (not expressible through json.dumps) in the "version" field."""

    def apply(text, cert):
        cert["version"] = "@@RAW@@"
        return json.dumps(cert).replace('"@@RAW@@"', raw)

    return apply


CERTIFICATE_EDITS = [
    ("duplicate-values-key", _drop_duplicate_values, "duplicate key 'values'"),
    ("vertices-null", _edit(_vertices_null), "vertices"),
    ("method-renamed", _edit(lambda c: c.update(method="PDP")), "kind"),
    ("method-list", _edit(lambda c: c.update(method=["pdp"])), "method"),
    ("method-other", _edit(lambda c: c.update(method="ig")), "kind"),
    ("kind-null", _edit(lambda c: c.update(kind=None)), "kind"),
    ("trace-list", _edit(lambda c: c.update(trace=[])), "trace"),
    ("regions-string", _edit(lambda c: c["trace"]["pieces"][0].update(regions="all")), "regions"),
    ("output-bool", _edit(lambda c: c.update(output=True)), "output"),
    ("values-number", _edit(lambda c: c.update(values=[1.5, 2])), "values"),
    ("deep-nesting", lambda text, cert: "[" * 100_000 + "]" * 100_000, "deep"),
    ("nan", _raw_version("NaN"), "NaN"),
    ("huge-integer", _raw_version("1" + "0" * 300_000), "digits"),
    ("long-rational", _edit(lambda c: c["values"].__setitem__(0, "1" * 1_100_000 + "/1")), "values"),
    ("not-json", lambda text, cert: text[: len(text) // 2], "JSON"),
]


@pytest.fixture(scope="module")
def certificate(files):
    path = files / "cert.json"
    with time_limit(CASE_SECONDS * 4):
        code = main(["attribute", str(files / "good.npz"), "--x", "1/4,5/8", "--method", "pdp", "--certificate", str(path)])
    assert code == 0
    return path


@pytest.mark.parametrize("edit, expect", [c[1:] for c in CERTIFICATE_EDITS], ids=[c[0] for c in CERTIFICATE_EDITS])
def test_malformed_certificate_is_one_line_invalid(files, certificate, capsys, tmp_path, edit, expect):
    capsys.readouterr()
    text = certificate.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text(edit(text, json.loads(text)))
    code, out, err = cli(capsys, ["verify", files / "good.npz", bad])
    assert code == 1, (out, err)
    assert err == "" and "Traceback" not in out
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("invalid: "), out
    assert expect.lower() in lines[0].lower(), lines[0]


def test_certificate_still_verifies(files, certificate, capsys):
    code, out, err = cli(capsys, ["verify", files / "good.npz", certificate])
    assert code == 0 and out.startswith("valid"), (out, err)


@pytest.mark.parametrize("model", ["complex.npz", "dup_top.json", "sigmoid.json", "bigint.json"])
def test_verifier_refuses_bad_model_files_in_one_line(files, certificate, capsys, model):
    code, out, err = cli(capsys, ["verify", files / model, certificate])
    if code == 1:  # the model's hash differs from the certificate's: that alone makes it invalid
        assert out.startswith("invalid: model.sha256") and err == ""
        from polyattr.certify.verify import VerifierInputError, load_exact_model

        with pytest.raises(VerifierInputError):
            load_exact_model(files / model)
    else:
        assert_one_line_error(code, out, err)


# ------------------------------------------------------------------------------------- API
def _model():
    return random_network([2, 3, 1], rng=np.random.default_rng(0))


API_CASES = [
    ("method-list", lambda: polyattr.attribute(_model(), [0.5, 0.5], ["ig"]), "method"),
    ("method-none", lambda: polyattr.attribute(_model(), [0.5, 0.5], None), "method"),
    ("method-unknown", lambda: polyattr.attribute(_model(), [0.5, 0.5], "sigmoid_magic"), "method"),
    ("load-none", lambda: polyattr.load_model(None), "path"),
    ("load-int", lambda: polyattr.load_model(3), "path"),
    ("random-zero-width", lambda: polyattr.random_network([2, 0, 1]), "sizes"),
    ("random-string", lambda: polyattr.random_network("abc"), "sizes"),
    ("random-float-size", lambda: polyattr.random_network([2.5, 1]), "sizes"),
    ("random-negative", lambda: polyattr.random_network([2, -1, 1]), "sizes"),
    ("random-none", lambda: polyattr.random_network(None), "sizes"),
    ("random-one-size", lambda: polyattr.random_network([2]), "sizes"),
    ("random-scale-nan", lambda: polyattr.random_network([2, 1], scale=float("nan")), "scale"),
    ("random-rng", lambda: polyattr.random_network([2, 1], rng="seed"), "rng"),
    ("x-wrong-length", lambda: polyattr.attribute(_model(), [0.5, 0.5, 0.5], "ig"), "x"),
    ("x-3d", lambda: polyattr.attribute(_model(), [[[0.5, 0.5]]], "gradient"), "x"),
    ("x-nan", lambda: polyattr.attribute(_model(), [np.nan, 0.5], "ig"), "x"),
    ("x-text", lambda: polyattr.attribute(_model(), "abc", "ig"), "x"),
    ("x-huge-fraction", lambda: polyattr.attribute(_model(), ["1e400", "1/2"], "ig"), "x"),
    ("x-complex", lambda: polyattr.attribute(_model(), np.array([0.5 + 1j, 0.5]), "ig"), "x"),
    ("weights-nan", lambda: polyattr.ReLUNetwork([np.array([[np.nan, 1.0]])], [np.zeros(1)]), "W0"),
    ("weights-text", lambda: polyattr.ReLUNetwork([[["a", 1.0]]], [[0.0]]), "W0"),
    ("weights-huge", lambda: polyattr.attribute(polyattr.ReLUNetwork([np.full((2, 2), 1e300), np.full((1, 2), 1e300)],
                                                                     [np.zeros(2), np.zeros(1)]), [0.5, 0.5], "ig"),
     "overflow"),
    ("model-none", lambda: polyattr.attribute(None, [0.5, 0.5], "ig"), "model"),
    ("regions-model-none", lambda: polyattr.enumerate_regions(None), "model"),
    ("domain-text", lambda: polyattr.enumerate_regions(_model(), "abc"), "domain"),
    ("domain-flipped", lambda: polyattr.enumerate_regions(_model(), ([1, 1], [0, 0])), "lower"),
    ("max-regions-text", lambda: polyattr.enumerate_regions(_model(), max_regions="10"), "max_regions"),
    ("max-regions-bool", lambda: polyattr.enumerate_regions(_model(), max_regions=True), "max_regions"),
    ("backend-list", lambda: polyattr.enumerate_regions(_model(), backend=["lp"]), "backend"),
    ("max-memory-negative", lambda: polyattr.enumerate_regions(_model(), max_memory=-1), "max_memory"),
    ("max-memory-text", lambda: polyattr.attribute(_model(), [0.5, 0.5], "ig", max_memory="plenty"), "max_memory"),
    ("output-out-of-range", lambda: polyattr.attribute(_model(), [0.5, 0.5], "ig", output=5), "output"),
    ("exact-text", lambda: polyattr.attribute(_model(), [0.5, 0.5], "ig", exact="yes"), "exact"),
    ("unknown-option", lambda: polyattr.attribute(_model(), [0.5, 0.5], "ig", foo=1), "foo"),
    ("feature-names-int", lambda: polyattr.attribute(_model(), [0.5, 0.5], "ig", feature_names=3), "feature_names"),
    ("save-missing-dir", lambda: polyattr.save_model(_model(), "/nonexistent-dir/x.npz"), "directory"),
    ("save-none", lambda: polyattr.save_model(None, "x.npz"), "model"),
]


@pytest.mark.parametrize("call, expect", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_misuse_raises_polyattr_error(call, expect):
    with time_limit():
        with pytest.raises(PolyattrError) as exc:
            call()
    assert expect.lower() in str(exc.value).lower(), str(exc.value)
    assert "\n" not in str(exc.value)


def test_number_literal_limits():
    """The literal reader: exact decimals, and limits checked before any big number is built."""
    from fractions import Fraction

    from polyattr.numbers import MAX_LITERAL_DIGITS, MAX_LITERAL_EXPONENT, parse_rational

    assert parse_rational("0.1") == Fraction(1, 10)
    assert parse_rational("-2.5e-3") == Fraction(-1, 400)
    assert parse_rational(" 7/21 ") == Fraction(1, 3)
    assert parse_rational("1e" + str(MAX_LITERAL_EXPONENT)) == 10**MAX_LITERAL_EXPONENT
    assert parse_rational("9" * MAX_LITERAL_DIGITS) == int("9" * MAX_LITERAL_DIGITS)
    for bad in ("1e" + str(MAX_LITERAL_EXPONENT + 1), "9" * (MAX_LITERAL_DIGITS + 1), "1e" + "9" * 50,
                "nan", "-inf", "1/0", "", "1.2.3", "1e", "e5", "--1", "0x1f", "1_000", "½"):
        with time_limit(5), pytest.raises(PolyattrError):
            parse_rational(bad, "v")


# ---------------------------------------------------------------------------------- memory
def test_memory_budget_refuses_in_one_line_before_allocating():
    model = random_network([10, 8, 1], rng=np.random.default_rng(0))
    with time_limit(), pytest.raises(MemoryBudgetExceeded) as exc:
        polyattr.attribute(model, np.full(10, 0.5), "smoothgrad_uniform", max_memory=100_000)
    assert "max_memory" in str(exc.value) and exc.value.needed > exc.value.budget == 100_000


def test_pulling_triangulation_is_counted_before_it_is_built():
    import itertools

    from polyattr.integrate.triangulate import pulling_simplex_count, pulling_triangulation
    from polyattr.memory import memory_budget

    for k in (2, 3, 4, 5):
        corners = list(itertools.product([0, 1], repeat=k))
        facets = [[v for v, c in enumerate(corners) if c[i] == s] for i in range(k) for s in (0, 1)]
        n = pulling_simplex_count(facets, k)
        S = pulling_triangulation(np.array(corners, float), facets)
        assert n == len(S) == __import__("math").factorial(k)  # a pulled k-cube has k! simplices
    k = 11
    corners = list(itertools.product([0, 1], repeat=k))
    facets = [[v for v, c in enumerate(corners) if c[i] == s] for i in range(k) for s in (0, 1)]
    with memory_budget(2**30), time_limit(), pytest.raises(MemoryBudgetExceeded, match="11-dimensional region .* or more simplices"):
        pulling_triangulation(np.array(corners, float), facets)


@pytest.mark.parametrize("argv", [
    ["attribute", "{d}/ten.npz", "--x", ",".join(["0.5"] * 10), "--method", "smoothgrad_uniform", "--json"],
    ["regions", "{d}/twelve.npz", "--json"],
], ids=["smoothgrad-10-inputs", "regions-12-inputs-one-neuron"])
def test_high_dimensional_jobs_answer_or_refuse_under_4gb(files, argv):
    """The 10-input smoothgrad_uniform job (once a 13 GiB allocation) and the 12-input regions job
    (once a MemoryError traceback) run under RLIMIT_AS = 4 GiB: an answer or a one-line refusal."""
    save_model(random_network([10, 8, 1], rng=np.random.default_rng(3)), files / "ten.npz")
    save_model(random_network([12, 1, 1], rng=np.random.default_rng(4)), files / "twelve.npz")
    argv = [a.replace("{d}", str(files)) for a in argv]
    code, out, err = cli_subprocess(argv, timeout=1200, address_space=4 * 2**30)
    assert "Traceback" not in err
    if code == 0:
        result = json.loads(out)
        if "volume" in result:
            assert result["volume"] == pytest.approx(1.0, rel=1e-9)
        else:
            assert len(result["values"]) == 10 and all(np.isfinite(result["values"]))
    elif "twelve" in argv[1]:
        # 12-dimensional region volumes are refused up front by their cost (3^12 faces per region)
        assert_one_line_error(code, out, err, "dimension 12")
    else:
        assert_one_line_error(code, out, err, "max_memory")
