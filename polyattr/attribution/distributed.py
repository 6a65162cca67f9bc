"""Batches of points split over dask.distributed workers: ``attribute(model, X, method, client=...)``.

The rows of X are cut into contiguous chunks; each chunk is one task running the ordinary batch
:func:`~polyattr.attribution.api.attribute` (which enumerates each partition once per chunk and
reuses it across the chunk's rows), and the chunk results are concatenated in row order.  Every
row is computed by the same code as a local run, so the values are the same (exactly, in exact
mode).
"""

from __future__ import annotations

import time

import numpy as np

from polyattr.attribution.result import Attribution
from polyattr.errors import PolyattrError


def _chunk_task(model, rows, method, kwargs):
    from polyattr.attribution.api import attribute

    return attribute(model, rows, method, **kwargs)


def attribute_on_cluster(client, model, X, method: str, chunks: int | None = None, **kwargs) -> Attribution:
    """Attribution of every row of ``X`` computed in chunks on ``client``'s workers, merged in order.

    ``chunks`` defaults to twice the number of workers (at most one chunk per row); ``kwargs`` are
    those of :func:`~polyattr.attribution.api.attribute` (without ``client``).
    """
    start = time.perf_counter()
    rows = np.asarray(X, dtype=object)
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise PolyattrError(f"x: expected a batch of shape (n, d) with n >= 1 for a distributed run, got shape {rows.shape}")
    if kwargs.get("certify"):
        raise PolyattrError("certify: certificates are written for one input x, not a distributed batch")
    n_workers = max(1, len(client.scheduler_info()["workers"]))
    chunks = min(rows.shape[0], chunks or 2 * n_workers)
    pieces = [p for p in np.array_split(np.arange(rows.shape[0]), chunks) if len(p)]
    model_future = client.scatter(model, broadcast=True)
    futures = [client.submit(_chunk_task, model_future, rows[idx], method, kwargs, pure=False) for idx in pieces]
    parts = client.gather(futures)
    exact = all(p.exact for p in parts)
    values = np.concatenate([np.asarray(p.values, dtype=object if exact else float) for p in parts])
    if all(p.base_values is None for p in parts):
        base_values = None
    else:
        base_values = np.concatenate([np.asarray(p.base_values, dtype=object if exact else float) for p in parts])
    first = parts[0]
    info = {"rows": [r for p in parts for r in p.info["rows"]],
            "enumerations": sum(p.info["enumerations"] for p in parts),
            "cuts": sum(p.info["cuts"] for p in parts), "chunks": len(parts), "workers": n_workers}
    return Attribution(values=values, base_values=base_values, data=np.concatenate([p.data for p in parts]),
                       method=first.method, exact=exact, error_bound=0.0 if exact else max(p.error_bound for p in parts),
                       regions=sum(p.regions for p in parts), seconds=time.perf_counter() - start,
                       output=first.output, feature_names=first.feature_names, info=info)
