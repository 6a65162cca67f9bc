"""Start-up: lazy imports, the CLI's per-command parser, the numba cache location and the warm-up.

Speed itself is measured in benchmarks/cold_start.py (no timed tests); these tests pin down what
makes start-up cheap, so that an eager import added somewhere fails here:

* ``import polyattr`` / ``import polyattr.cli`` and a ``polyattr regions`` run (fresh interpreters,
  checked through ``sys.modules``) load none of the heavy optional machinery;
* every public name is still importable and is the object its defining module holds;
* the parser built for one command has exactly the options of the full parser (the reference);
* :mod:`polyattr.jit` picks a writable cache location, or none, and the kernels still run;
* after the set-up's warm-up step, ``polyattr demo`` and ``polyattr regions`` compile no kernel.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import polyattr
from polyattr.cli import build_parser
from polyattr.cli.commands import COMMANDS
from polyattr.models.io import default_model_path

#: Modules no start-up path may load (the LP solver, symbolic algebra, convex optimisation,
#: plotting, clusters, PyTorch): each is imported by the function that needs it.
HEAVY = ("sympy", "cvxpy", "matplotlib", "dask", "distributed", "torch", "scipy.optimize")


def _loaded_after(code: str) -> set[str]:
    """The modules of HEAVY (and numba, scipy, numpy, the attribution layer) loaded by ``code`` in a
    fresh interpreter."""
    probe = ("import json, sys\n" + code +
             "\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('sympy', 'cvxpy', 'matplotlib', 'dask', 'distributed', 'torch', 'scipy', 'numba', 'numpy', 'polyattr'))))")
    env = dict(os.environ, MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_polyattr_loads_no_numerical_machinery():
    loaded = _loaded_after("import polyattr")
    assert not loaded & set(HEAVY)
    # not even numpy: the public names load on first use
    assert not {m for m in loaded if m.split(".")[0] in ("numpy", "numba", "scipy")}
    assert not {m for m in loaded if m.startswith(("polyattr.attribution", "polyattr.geometry", "polyattr.models"))}


def test_import_polyattr_cli_loads_no_heavy_module():
    loaded = _loaded_after("import polyattr.cli")
    assert not loaded & set(HEAVY)
    assert "numba" not in loaded and "scipy" not in loaded
    assert not {m for m in loaded if m.startswith(("polyattr.attribution", "polyattr.geometry"))}


def test_regions_command_loads_only_what_it_uses():
    code = ("from polyattr.cli import main\n"
            f"assert main(['regions', {str(default_model_path())!r}, '--json']) == 0")
    loaded = _loaded_after(code)
    assert not loaded & set(HEAVY)
    # the method registry and its modules belong to `attribute`, `methods`, ...
    assert "polyattr.attribution.registry" not in loaded
    assert "polyattr.geometry.splitting" in loaded  # the probe ran the enumeration


def test_attribute_command_loads_only_the_methods_machinery():
    code = ("from polyattr.cli import main\n"
            f"assert main(['attribute', {str(default_model_path())!r}, '--x', '0.3,0.7', '--method', 'gradient']) == 0")
    loaded = _loaded_after(code)
    assert not loaded & set(HEAVY)
    assert "scipy.special" not in loaded  # the Gaussian methods import it when they run
    assert "polyattr.attribution.registry" in loaded  # the probe built the attribute parser


def test_a_usage_error_imports_no_command_machinery():
    loaded = _loaded_after("from polyattr.cli import main\nassert main(['no-such-command']) == 2")
    assert not {m for m in loaded if m.split(".")[0] in ("numpy", "numba", "scipy")}
    assert not {m for m in loaded if m.startswith("polyattr.cli.") and m != "polyattr.cli.commands"}


def test_every_public_name_is_importable_and_the_defining_object():
    # a fresh interpreter, each name through `from polyattr import name` (the module hook, PEP 562)
    names = ", ".join(polyattr.__all__)
    subprocess.run([sys.executable, "-c", f"from polyattr import {names}"], check=True)
    for name in polyattr.__all__:
        value = getattr(polyattr, name)
        defining = getattr(value, "__module__", None)
        assert defining is not None and defining.startswith("polyattr.")
        assert getattr(importlib.import_module(defining), value.__name__) is value
        assert name in dir(polyattr)


def test_public_names_of_polyattr_models_and_subpackage_attributes():
    import polyattr.models as models

    for name in models.__all__:
        assert getattr(models, name) is not None
    # subpackages and submodules stay reachable as attributes, as when they were imported eagerly
    assert polyattr.models.io.default_model_path() == default_model_path()
    assert polyattr.geometry.regions.enumerate_regions is polyattr.enumerate_regions
    with pytest.raises(AttributeError):
        polyattr.no_such_name  # noqa: B018
    with pytest.raises(AttributeError):
        models.no_such_name  # noqa: B018


def _options(parser, command):
    sub = next(a for a in parser._actions if a.dest == "command")
    p = sub.choices[command]
    return sorted((tuple(a.option_strings), a.dest, repr(a.default), repr(a.choices), a.required)
                  for a in p._actions)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_parser_of_one_command_equals_the_full_parsers(command):
    full = build_parser()
    lazy = build_parser(commands=[command])
    assert _options(lazy, command) == _options(full, command)
    assert len(_options(full, command)) > 1  # more than --help: the command was really built
    # the others are listed (polyattr --help, usage errors) with their help line
    sub = next(a for a in lazy._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMANDS)
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert helps == {name: entry[2] for name, entry in COMMANDS.items()}


def test_help_lists_every_command(capsys):
    from polyattr.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"    {name} " in out


# ------------------------------------------------------------------------------ numba cache location
def test_cache_location_follows_numba_cache_dir(monkeypatch, tmp_path):
    from polyattr import jit

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert jit.choose_cache_dir() == ("env", tmp_path)


def test_cache_location_falls_back_when_the_sources_are_read_only(monkeypatch, tmp_path):
    from polyattr import jit

    package = Path(jit.__file__).resolve().parent
    real = jit._writable
    # as on a read-only install: nothing under the package can be written
    monkeypatch.setattr(jit, "_writable", lambda d: not Path(d).is_relative_to(package) and real(d))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jit.choose_cache_dir() == ("fallback", tmp_path / "xdg" / "polyattr" / "numba")
    assert (tmp_path / "xdg" / "polyattr" / "numba").is_dir()
    # the per-user directory read-only too: the temp directory
    monkeypatch.setattr(jit, "_writable", lambda d: not Path(d).is_relative_to(package)
                        and not Path(d).is_relative_to(tmp_path / "xdg") and real(d))
    where, directory = jit.choose_cache_dir()
    assert where == "fallback" and directory.parent == Path(jit.tempfile.gettempdir())
    # nothing writable: no cache
    monkeypatch.setattr(jit, "_writable", lambda d: False)
    assert jit.choose_cache_dir() == ("none", None)


def test_writable_check_refuses_a_file_in_the_way(tmp_path):
    from polyattr import jit

    assert jit._writable(tmp_path / "a" / "b")
    (tmp_path / "f").write_text("x")
    assert not jit._writable(tmp_path / "f" / "sub")


def test_without_a_cache_location_kernels_compile_uncached(monkeypatch):
    from polyattr import jit

    monkeypatch.setattr(jit, "CACHE_LOCATION", "none")

    def add(a):
        s = 0.0
        for v in a:
            s += v
        return s

    kernel = jit.njit(cache=True)(add)
    assert kernel(np.arange(4.0)) == 6.0
    assert type(kernel._cache).__name__ == "NullCache"
    monkeypatch.setattr(jit, "CACHE_LOCATION", "source")
    assert type(jit.njit(cache=True)(add)._cache).__name__ != "NullCache"


def test_kernel_modules_take_njit_from_polyattr_jit():
    # numba's own njit would skip the cache-location check (and fail at import on read-only installs)
    root = Path(polyattr.__file__).parent
    direct = re.compile(r"from numba import .*\b(njit|jit)\b|numba\.(njit|jit)\(")
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py") if p.name != "jit.py" and direct.search(p.read_text())]
    assert offenders == []


# -------------------------------------------------------------------------------------- warm-up
def test_after_the_warm_up_the_demo_regions_and_a_batch_compile_nothing(tmp_path):
    # an empty cache of its own: what the warm-up leaves is all the three commands may load
    env = dict(os.environ, MPLBACKEND="Agg", NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    warm = subprocess.run([sys.executable, "-m", "polyattr.cli.warmup"], capture_output=True, text=True, env=env,
                          check=True)
    assert "numba kernels:" in warm.stdout
    rows = tmp_path / "rows.csv"
    rows.write_text("0.1,0.9\n0.6,0.3\n0.8,0.7\n0.2,0.4\n")
    code = ("import json\nfrom polyattr.cli import main\nfrom polyattr.cli.warmup import kernel_cache_counts\n"
            f"assert main(['demo', '--out', {str(tmp_path / 'demo.png')!r}]) == 0\n"
            f"assert main(['regions', {str(default_model_path())!r}, '--lower', '-1,-1']) == 0\n"
            f"assert main(['attribute', {str(default_model_path())!r}, '--x-file', {str(rows)!r}, '--method', 'pdp']) == 0\n"
            "print(json.dumps(kernel_cache_counts()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=tmp_path)
    compiled, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert compiled == []
    assert any("_split_kernel" in k for k in loaded) and any("_volumes_kernel" in k for k in loaded)
    assert any("axis_slice_kernel" in k for k in loaded)  # the batch took the slice path, from the cache


# ----------------------------------------------------------------------------- the quick exit
def _python(code: str, cwd=None):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, MPLBACKEND="Agg"))


def test_the_executable_prints_what_main_prints_and_exits_with_its_status(capsys):
    from polyattr.cli import main

    args = ["regions", str(default_model_path()), "--json"]
    out = subprocess.run([sys.executable, "-m", "polyattr.cli", *args], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == ""
    assert main(args) == 0
    reference = json.loads(capsys.readouterr().out)
    printed = json.loads(out.stdout)
    assert {k: v for k, v in printed.items() if k != "seconds"} == {k: v for k, v in reference.items() if k != "seconds"}
    bad = subprocess.run([sys.executable, "-m", "polyattr.cli", "regions", "no-such-model.npz"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("polyattr: error: ")


def test_quick_exit_runs_exit_handlers_and_flushes_output(tmp_path):
    marker = tmp_path / "atexit.txt"
    out = _python("import atexit, pathlib, sys\n"
                  f"atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text('ran'))\n"
                  "sys.stdout.write('no newline at the end')\n"
                  "from polyattr.cli import exit_quickly\n"
                  "exit_quickly(3)\n"
                  "print('not reached')")
    assert out.returncode == 3
    assert out.stdout == "no newline at the end"
    assert marker.read_text() == "ran"


def test_quick_exit_leaves_running_threads_to_the_interpreter(tmp_path):
    marker = tmp_path / "thread.txt"
    out = _python("import pathlib, threading, time\n"
                  f"def work():\n    time.sleep(0.3)\n    pathlib.Path({str(marker)!r}).write_text('done')\n"
                  "threading.Thread(target=work).start()\n"
                  "from polyattr.cli import exit_quickly\n"
                  "exit_quickly(4)")
    assert out.returncode == 4
    assert marker.read_text() == "done"  # joined before the process ended
