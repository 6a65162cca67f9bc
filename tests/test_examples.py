"""The example scripts run (a subprocess with this Python, in a scratch directory) so they cannot rot."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name, tmp_path, *args):
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_quickstart(tmp_path):
    out = run_example("quickstart.py", tmp_path)
    png = tmp_path / "quickstart_partition.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "linear regions on [0,1]^2" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line and line.split()[0].islower()}
    for method in ("shapley", "shapley_uniform", "pdp", "ice", "occlusion", "fafp_local", "fafp_global", "ig",
                   "gradient", "smoothgrad_uniform", "lime_uniform", "deeplift"):
        assert method in rows, method
    # exact beside approximate: the gap column of the deterministic rows is tiny
    for method in ("occlusion", "fafp_local"):
        assert float(rows[method].split()[-4]) < 1e-9, rows[method]
    assert "Riemann-Stieltjes grid N=1000" in out


def test_custom_measure(tmp_path):
    out = run_example("custom_measure.py", tmp_path)
    lines = [line.strip() for line in out.splitlines()]
    for label, values in [("fafp_local (user family)", "[1, -17/100]"), ("fafp_local (built-in)", "[1, -17/100]"),
                          ("fafp_global (user family)", "[1, 1]"), ("fafp_global (built-in)", "[1, 1]")]:
        assert any(label in line and line.endswith(values) for line in lines), (label, out)
    assert "N = 1000  fafp_local [0.998000, -0.168300]" in out
    assert "all notebook cases reproduced exactly" in out


def test_symbolic_pdp(tmp_path):
    out = run_example("symbolic_pdp.py", tmp_path, "--samples", "500")
    assert (tmp_path / "symbolic_pdp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "polynomial pieces" in out and "\\begin{cases}" in out
    assert "inside the 5-sigma band" in out


def test_radius_sweep(tmp_path):
    out = run_example("radius_sweep.py", tmp_path, "--over", "0.05,0.2")
    assert (tmp_path / "radius_sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    checks = [line for line in out.splitlines() if "direct exact evaluation equal" in line]
    assert len(checks) == 3 and all(line.endswith("True") for line in checks)


def test_aggregate_example(tmp_path):
    out = run_example("aggregate.py", tmp_path)
    for objective in ("robust", "faith", "opt"):
        assert f"objective {objective}: certified True" in out, out
    # every optimum is at least as good as the best single method
    verdicts = [line for line in out.splitlines() if "<= best single method" in line]
    assert len(verdicts) == 3 and all(line.rstrip().endswith("True") for line in verdicts)
    assert "faith, exact mode" in out and "certified True" in out.split("faith, exact mode")[1]
    assert "one weight vector shared over 4 points" in out


def test_optimal_measures_example(tmp_path):
    out = run_example("optimal_measures.py", tmp_path)
    png = tmp_path / "optimal_measures.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "same attribution True" in out
    assert "recall 1.0, phi" in out and "recomputed recall 1.0" in out
    assert "uniform on the box centre" in out  # a second, different optimal family
    gap = float(out.split("% of the gap to the LP optimum")[0].rsplit(",", 1)[1])
    assert gap > 99.0
