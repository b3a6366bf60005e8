"""Short travel orders for a list of stops: pure functions on metric coordinates (numpy).

An open path from a fixed start through every stop (a crew does not need to come back):
- up to EXACT_MAX stops: solved exactly (Held-Karp dynamic programming);
- more: nearest neighbour, then 2-opt (segment reversals, all scored at once with numpy) and
  Or-opt (moving runs of 1-3 stops next to one of their nearest stops), until neither improves.
Distances are straight lines in metres on a local equirectangular projection, which is within a
fraction of a percent of the geodesic over a city.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

EXACT_MAX = 10
EARTH_RADIUS_M = 6_371_008.8


def to_metres(lonlat: np.ndarray, origin: tuple[float, float]) -> np.ndarray:
    """[[lon, lat], ...] -> [[x, y], ...] in metres around `origin` (equirectangular)."""
    lon0, lat0 = origin
    k = math.pi / 180 * EARTH_RADIUS_M
    return np.column_stack(((lonlat[:, 0] - lon0) * k * math.cos(math.radians(lat0)),
                            (lonlat[:, 1] - lat0) * k))


def _distances(points: np.ndarray) -> np.ndarray:
    diff = points[:, None, :] - points[None, :, :]
    return np.sqrt((diff ** 2).sum(axis=2))


def path_length(dist: np.ndarray, order: list[int], start: int = 0) -> float:
    """Length of start -> order[0] -> ... -> order[-1] on the distance matrix."""
    seq = [start, *order]
    return float(sum(dist[a, b] for a, b in zip(seq, seq[1:], strict=False)))


def _held_karp(dist: np.ndarray) -> list[int]:
    """Exact shortest open path from node 0 through nodes 1..n-1."""
    n = dist.shape[0] - 1
    if n <= 1:
        return list(range(1, n + 1))
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for k in range(1, n + 1):
        best[(1 << (k - 1), k)] = (float(dist[0, k]), 0)
    for size in range(2, n + 1):
        for subset in combinations(range(1, n + 1), size):
            mask = sum(1 << (k - 1) for k in subset)
            for k in subset:
                prev_mask = mask & ~(1 << (k - 1))
                best[(mask, k)] = min((best[(prev_mask, m)][0] + float(dist[m, k]), m)
                                      for m in subset if m != k)
    full = (1 << n) - 1
    last = min(range(1, n + 1), key=lambda k: best[(full, k)][0])
    order, mask = [], full
    while last:
        order.append(last)
        _cost, prev = best[(mask, last)]
        mask &= ~(1 << (last - 1))
        last = prev
    return order[::-1]


def _nearest_neighbour(dist: np.ndarray) -> list[int]:
    n = dist.shape[0]
    unvisited = np.ones(n, dtype=bool)
    unvisited[0] = False
    order, here = [], 0
    for _ in range(n - 1):
        row = np.where(unvisited, dist[here], np.inf)
        here = int(np.argmin(row))
        unvisited[here] = False
        order.append(here)
    return order


def _two_opt(dist: np.ndarray, order: list[int]) -> tuple[list[int], bool]:
    """2-opt on the open path [0, *order]: all segment reversals are scored at once, then the best
    improving ones that touch disjoint stretches of the path are made together; repeat. A free-end
    node at distance 0 from all lets the end of the path move."""
    n = len(order)
    if n < 3:
        return order, False
    size = dist.shape[0]
    padded = np.zeros((size + 1, size + 1))
    padded[:size, :size] = dist
    path = np.array([0, *order, size])
    m = len(path)
    d = padded[np.ix_(path, path)]
    lower = ~np.triu(np.ones((m - 2, m - 2), dtype=bool), k=1)
    improved = False
    while True:
        e = np.diagonal(d, 1)
        # reverse path[i..j], 1 <= i < j <= m-2: edges (i-1,i),(j,j+1) -> (i-1,j),(i,j+1)
        gain = d[:m - 2, 1:m - 1] + d[1:m - 1, 2:m] - e[:m - 2, None] - e[None, 1:m - 1]
        gain[lower] = 0.0
        candidates = np.flatnonzero(gain < -1e-7)
        if len(candidates) == 0:
            break
        best = candidates[np.argsort(gain.ravel()[candidates])[:64]]
        taken: list[tuple[int, int]] = []
        for flat in best:
            i, j = divmod(int(flat), m - 2)
            i, j = i + 1, j + 1
            if all(j + 1 < a - 1 or i - 1 > b + 1 for a, b in taken):
                taken.append((i, j))
                path[i:j + 1] = path[i:j + 1][::-1]
                d[i:j + 1] = d[i:j + 1][::-1].copy()
                d[:, i:j + 1] = d[:, i:j + 1][:, ::-1].copy()
        improved = True
    return [int(p) for p in path[1:-1]], improved


def _or_opt(dist: np.ndarray, order: list[int], neighbours: int = 10) -> tuple[list[int], bool]:
    """Move a run of 1-3 consecutive stops next to one of its `neighbours` nearest stops (either
    direction) when that shortens the path: all such moves are scored at once, the best is made,
    repeat."""
    size = dist.shape[0]
    padded = np.zeros((size + 1, size + 1))
    padded[:size, :size] = dist  # node `size` is the free end: distance 0 from everything
    near = np.argsort(dist, axis=1)[:, 1:neighbours + 1]
    seq = np.array([0, *order, size])
    moved = False
    while True:
        m = len(seq) - 1  # positions 0..m; 0 is the start, m the free end
        pos = np.empty(size + 1, dtype=int)
        pos[seq] = np.arange(m + 1)
        best_gain, best = 1e-7, None
        for run in (1, 2, 3):
            starts = np.arange(1, m - run + 1)
            if len(starts) == 0:
                continue
            first, last = seq[starts], seq[starts + run - 1]
            before, after = seq[starts - 1], seq[starts + run]
            freed = padded[before, first] + padded[last, after] - padded[before, after]
            # insert between seq[k] and seq[k+1], next to a near neighbour of either end
            ks = np.concatenate((pos[near[first]], pos[near[first]] - 1, pos[near[last]], pos[near[last]] - 1), axis=1)
            ks = ks.clip(0, m - 1)
            a, b = seq[ks], seq[ks + 1]
            base = padded[a, b]
            blocked = (ks >= starts[:, None] - 1) & (ks <= starts[:, None] + run - 1)
            for rev in (False, True):
                head, tail = (last, first) if rev else (first, last)
                gain = freed[:, None] - (padded[a, head[:, None]] + padded[tail[:, None], b] - base)
                gain[blocked] = -np.inf
                flat = int(np.argmax(gain))
                i, c = divmod(flat, gain.shape[1])
                if gain[i, c] > best_gain:
                    best_gain, best = float(gain[i, c]), (int(starts[i]), run, int(ks[i, c]), rev)
        if best is None:
            break
        i, run, k, rev = best
        seg = seq[i:i + run][::-1] if rev else seq[i:i + run]
        rest = np.concatenate((seq[:i], seq[i + run:]))
        at = k + 1 if k < i else k + 1 - run  # position in `rest` after which the run goes
        seq = np.concatenate((rest[:at], seg, rest[at:]))
        moved = True
    return [int(p) for p in seq[1:-1]], moved


def heuristic_order(dist: np.ndarray) -> list[int]:
    """Nearest neighbour, then 2-opt and Or-opt until neither improves."""
    order = _nearest_neighbour(dist)
    for _ in range(50):
        order, a = _two_opt(dist, order)
        order, b = _or_opt(dist, order)
        if not (a or b):
            break
    return order


def order_stops(start: tuple[float, float], stops: list[tuple[float, float]]) -> list[int]:
    """Indexes of `stops` ([lon, lat] each) in a short travel order from `start`."""
    if not stops:
        return []
    pts = to_metres(np.array([start, *stops], dtype=float), start)
    dist = _distances(pts)
    order = _held_karp(dist) if len(stops) <= EXACT_MAX else heuristic_order(dist)
    return [k - 1 for k in order]


def metric_distances(start: tuple[float, float], stops: list[tuple[float, float]]) -> np.ndarray:
    """The distance matrix (metres) of [start, *stops], as order_stops sees it."""
    return _distances(to_metres(np.array([start, *stops], dtype=float), start))
