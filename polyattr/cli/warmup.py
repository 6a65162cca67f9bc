"""``python -m polyattr.cli.warmup``: compile once, and cache on disk, the numba kernels of the first runs.

``scripts/setup.sh`` runs it after installing, so that the first ``polyattr demo`` or ``polyattr
regions`` loads machine code instead of compiling it (about 15-30 s on a small machine).  It runs
the work of both commands on the shipped default model: the region enumeration with volumes (the
same kernel signatures on every model and box), and every exact method of the demo's table (not
the sampled column, which is numpy only); then a small data set of every method whose float
batches integrate slices (pdp, shapley_uniform), whose kernels triangulate the partition and
integrate the slices (a few seconds more).  Where the cache goes: :mod:`polyattr.jit`.  Safe to run
again: what is cached is loaded, and only kernels whose source changed are compiled.
"""

from __future__ import annotations

import sys
import time


def warm_up(print=print) -> dict:
    """Run the kernels of ``polyattr demo``, ``polyattr regions`` and data-set batches; return what numba compiled.

    Returns
    -------
    dict
        ``compiled`` and ``loaded``: the kernel specialisations numba compiled in this run and
        the ones it loaded from the disk cache; ``seconds``; ``cache``: where the cache lives.
    """
    start = time.perf_counter()
    import numpy as np

    from polyattr.attribution.api import attribute
    from polyattr.attribution.demo import DEMO_X
    from polyattr.attribution.registry import method_specs
    from polyattr.geometry.regions import enumerate_regions
    from polyattr.jit import CACHE_DIR, CACHE_LOCATION
    from polyattr.models.io import default_model_path, load_model

    model = load_model(default_model_path())
    enumerate_regions(model).volumes  # noqa: B018 - the volumes kernel runs when they are read
    for spec in method_specs():
        if spec.tables:
            attribute(model, DEMO_X, spec.name, **dict(spec.demo_options))
    rows = np.array([[0.25, 0.5], [0.75, 0.125], [0.5, 0.875]])  # a data set: the batch kernels
    for spec in method_specs():
        if spec.batch_slices is not None:  # the methods whose float batches integrate slices
            attribute(model, rows, spec.name)
    compiled, loaded = kernel_cache_counts()
    cache = {"source": "__pycache__ beside the sources", "env": f"$NUMBA_CACHE_DIR ({CACHE_DIR})",
             "fallback": str(CACHE_DIR), "none": "nowhere (no writable directory)"}[CACHE_LOCATION]
    seconds = time.perf_counter() - start
    print(f"numba kernels: {len(compiled)} compiled, {len(loaded)} loaded from the cache, in {seconds:.1f} s; "
          f"cache: {cache}")
    return {"compiled": compiled, "loaded": loaded, "seconds": seconds, "cache": cache}


def kernel_cache_counts() -> tuple[list[str], list[str]]:
    """The kernel specialisations of this process: (compiled, loaded from the disk cache), as
    ``module.function(signature)`` strings, over every numba dispatcher in polyattr's modules."""
    from numba.core.registry import CPUDispatcher

    compiled, loaded, seen = [], [], set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("polyattr.") or module is None:
            continue
        for value in list(vars(module).values()):
            if not isinstance(value, CPUDispatcher) or id(value) in seen:
                continue
            seen.add(id(value))
            stats = value.stats
            label = f"{value.py_func.__module__}.{value.py_func.__name__}"
            compiled += [f"{label}{tuple(sig)}" for sig in stats.cache_misses]
            loaded += [f"{label}{tuple(sig)}" for sig in stats.cache_hits]
    return sorted(compiled), sorted(loaded)


def main() -> int:
    warm_up()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
