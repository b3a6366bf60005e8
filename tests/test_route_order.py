"""Travel orders on hand-made instances whose best orders are known, and against brute force."""

from __future__ import annotations

import itertools
import random

import pytest

from geo311 import route_order as ro

ORIGIN = (-122.65, 45.52)


def east(metres: float, north: float = 0.0) -> tuple[float, float]:
    """A lon/lat point `metres` east and `north` north of ORIGIN (on ro's own projection)."""
    import math

    k = math.pi / 180 * ro.EARTH_RADIUS_M
    return (ORIGIN[0] + metres / (k * math.cos(math.radians(ORIGIN[1]))), ORIGIN[1] + north / k)


def length(start, stops, order):
    d = ro.metric_distances(start, stops)
    return ro.path_length(d, [k + 1 for k in order])


def test_points_on_a_line_are_visited_in_line_order():
    stops = [east(m) for m in (500, 100, 900, 300, 700)]
    assert ro.order_stops(ORIGIN, stops) == [1, 3, 0, 4, 2]


def test_start_in_the_middle_goes_to_the_nearer_end_first():
    stops = [east(m) for m in (-100, -200, 1000, 2000)]
    order = ro.order_stops(ORIGIN, stops)
    assert set(order[:2]) == {0, 1} and order[2:] == [2, 3]  # west first: 2,400 m, not 1,000 + 2,200
    assert length(ORIGIN, stops, order) == pytest.approx(2400, rel=1e-3)


def test_square_loop_is_walked_around_not_across():
    stops = [east(0, 1000), east(1000, 1000), east(1000, 0), east(0, 10)]
    order = ro.order_stops(ORIGIN, stops)
    assert order == [3, 0, 1, 2]  # up the near side, across, down: 10 + 990 + 1000 + 1000
    assert length(ORIGIN, stops, order) == pytest.approx(3000, rel=1e-3)


def test_two_clusters_are_each_finished_before_the_other():
    rng = random.Random(5)
    near = [east(rng.uniform(0, 200), rng.uniform(0, 200)) for _ in range(15)]
    far = [east(5000 + rng.uniform(0, 200), rng.uniform(0, 200)) for _ in range(15)]
    order = ro.order_stops(ORIGIN, near + far)
    sides = ["near" if k < 15 else "far" for k in order]
    assert sides == ["near"] * 15 + ["far"] * 15


@pytest.mark.parametrize("n", range(2, 9))
def test_exact_solver_matches_brute_force(n):
    rng = random.Random(n)
    stops = [east(rng.uniform(-3000, 3000), rng.uniform(-3000, 3000)) for _ in range(n)]
    d = ro.metric_distances(ORIGIN, stops)
    best = min(ro.path_length(d, list(p)) for p in itertools.permutations(range(1, n + 1)))
    assert length(ORIGIN, stops, ro.order_stops(ORIGIN, stops)) == pytest.approx(best)


def test_heuristic_is_near_optimal_on_small_instances():
    rng = random.Random(11)
    ratios = []
    for _ in range(60):
        n = rng.randint(5, 9)
        stops = [east(rng.uniform(-3000, 3000), rng.uniform(-3000, 3000)) for _ in range(n)]
        d = ro.metric_distances(ORIGIN, stops)
        exact = ro.path_length(d, ro._held_karp(d))
        ratios.append(ro.path_length(d, ro.heuristic_order(d)) / exact)
    assert max(ratios) < 1.08 and sum(ratios) / len(ratios) < 1.02


def test_improvements_never_lose_or_duplicate_stops_and_never_lengthen():
    rng = random.Random(3)
    for _ in range(100):
        n = rng.randint(3, 40)
        stops = [east(rng.uniform(-3000, 3000), rng.uniform(-3000, 3000)) for _ in range(n)]
        d = ro.metric_distances(ORIGIN, stops)
        base = list(range(1, n + 1))
        rng.shuffle(base)
        for improve in (ro._two_opt, ro._or_opt):
            out, _ = improve(d, base)
            assert sorted(out) == sorted(base)
            assert ro.path_length(d, out) <= ro.path_length(d, base) + 1e-6


def test_large_lists_beat_oldest_first_by_far():
    rng = random.Random(8)
    stops = [east(rng.gauss(0, 3000), rng.gauss(0, 2000)) for _ in range(200)]
    order = ro.order_stops(ORIGIN, stops)
    assert sorted(order) == list(range(200))
    assert length(ORIGIN, stops, order) < 0.3 * length(ORIGIN, stops, list(range(200)))


def test_empty_and_single():
    assert ro.order_stops(ORIGIN, []) == []
    assert ro.order_stops(ORIGIN, [east(10)]) == [0]
