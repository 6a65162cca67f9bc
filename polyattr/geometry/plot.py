"""2-D pictures of a partition (matplotlib, imported lazily so the library loads without a display)."""

from __future__ import annotations

import numpy as np

from polyattr.errors import PolyattrError


def _ccw(V: np.ndarray, interior: np.ndarray) -> np.ndarray:
    """The vertices of a convex polygon in counter-clockwise order around an interior point."""
    V = np.asarray(V, float)
    angles = np.arctan2(V[:, 1] - interior[1], V[:, 0] - interior[0])
    return V[np.argsort(angles)]


def plot_regions(regions, ax=None, path=None, output=None, color_by: str = "value"):
    """Fill each region of a 2-D RegionSet and draw its edges.

    ``color_by="value"`` colours a region by the model's value at its centroid (output ``output``),
    ``"index"`` by a cycling palette.  Saves to ``path`` when given; returns the matplotlib Axes.
    """
    if regions.dim != 2:
        raise PolyattrError(f"plot: expected a 2-D domain (or a 2-D slice), got dimension {regions.dim}")
    if color_by not in ("value", "index"):
        raise PolyattrError(f"color_by: expected 'value' or 'index', got {color_by!r}")
    import matplotlib

    if ax is None and path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    created = ax is None
    if created:
        fig, ax = plt.subplots(figsize=(6, 6))
    polys = [_ccw(regions.vertices(i)[0], regions.interior_points[i]) for i in range(len(regions))]
    if color_by == "value":
        k = regions.model.check_output(output if regions.model.n_outputs > 1 else None) if output is None else output
        lifted = regions.reduction.lift(regions.centroids)
        values = np.atleast_1d(regions.model.to_float()(lifted, output=k))
        coll = PolyCollection(polys, array=values, cmap="viridis", edgecolors="k", linewidths=0.4)
        ax.add_collection(coll)
        plt.colorbar(coll, ax=ax, label=f"f (output {k})")
    else:
        colors = plt.cm.tab20(np.arange(len(polys)) % 20)
        ax.add_collection(PolyCollection(polys, facecolors=colors, edgecolors="k", linewidths=0.4))
    corners = np.vstack(polys)
    ax.set_xlim(corners[:, 0].min(), corners[:, 0].max())
    ax.set_ylim(corners[:, 1].min(), corners[:, 1].max())
    ax.set_aspect("equal")
    ax.set_title(f"{len(regions)} linear regions")
    if path is not None:
        ax.figure.savefig(path, dpi=120, bbox_inches="tight")
        if created:
            plt.close(ax.figure)
    return ax
