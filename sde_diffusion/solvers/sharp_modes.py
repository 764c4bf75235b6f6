"""Tell data made of sharp, well-separated modes apart, and the few-step UniPC settings for it.

The statistic is the denoising ratio at a noise level sigma,

    R(sigma) = E || D(x~, sigma) - x~ ||^2 / (d sigma^2),   x~ = x_0 + sigma z,  z ~ N(0, I),

with D the model's denoiser E[x_0 | x~] and d the data dimension. By Tweedie,
x~ - D = sigma E[z | x~], so R = E||E[z | x~]||^2 / d lies in [0, 1]: R -> 1 where the model
can tell the noise apart from the data (the data is a set of points at the scale sigma), R -> 0
where the data is smooth at that scale (a Gaussian of variance v gives R = sigma^2 / (v + sigma^2)).
sigma is measured in units of the data's RMS spread, sqrt(tr Cov(x_0) / d).

Data is called *sharp* when R falls from a fine scale to a coarse one,

    R(0.05 spread) - R(0.8 spread) >= ``MERGE_THRESHOLD``,

that is when the data is made of modes that are sharp at a twentieth of the spread and merge as
the noise grows towards it. Data whose R only rises with sigma never pass: a Gaussian
(R = sigma^2 / (v + sigma^2)), low-rank data (R = 1 - rank/d + (rank/d) sigma^2 / (v + sigma^2)),
ill-conditioned covariances. The threshold is the midpoint between the low-rank mixtures (at most
0.001) and the smallest value of the problems where the recipe cut UniPC's error (0.039), on
every set seen before ``FRESH10`` (``benchmarks/RESULTS.md``, few-step section 22).

On such data at 7-12 steps on ``EDMSDE`` UniPC-2 on long log-SNR steps beats UniPC's defaults,
and at 13-24 steps DEIS-3 on the log-SNR grid does where the data is not ring-like (on data of one
coordinate DEIS-3 on the Karras grid to a multiple of the spread at 7-12 steps and on the log-SNR grid at
13-19, UniPC-3 at 20-24 steps and UniPC-5 to a smaller multiple at 25-50; where the spread is not known, UniPC-2,
DEIS-3 and UniPC-3 to 0.005 at 7-12, 13-19 and 20-24 steps) and UniPC-2 at 13-22 steps where it is
(``SHARP_RECIPES``, ``SHARP_ONE_DIM_RECIPES``, ``RING_BAND``). On data whose R does not fall (low-rank,
ill-conditioned, unequal weights) UniPC's recipe costs 1.21x its error at 10 NFE in geometric mean (up to 4.1x), so
the settings are chosen by the probe, not fixed. On ``FRESH10``, fixed before it ran, the probe
fired on 4 of 13 problems and cut UniPC's error to 0.75x in geometric mean over their cells at
7-12 NFE, no cell's best default worse by more than 4 % (few-step 22d). On ``FRESH11`` the DEIS-3
branch took 7 of 11 problems and was 0.49x UniPC's error over 56 cells at 14-24 NFE on two x_T
(few-step 23c).

Data placed in more coordinates than it spans (a ring in the first two of 8 coordinates) is
*embedded* (``principal_basis``: its top k = round(participation ratio) principal directions hold
all but ``EMBEDDED_TAIL`` of the variance). There R and the spread are measured in that subspace,
where such data reads like its 2-D self; over all coordinates the flat directions make R rise and
the probe missed every embedded ring. Embedded data is sharp only where R(coarse) <=
``EMBEDDED_MAX_COARSE`` as well (few random modes in a plane merge late and lose with these
settings). On ``FRESH13``, fixed before it ran, this took the six embedded problems of 14 and
none of the eight controls; the best default went from 1.380x to 0.972x the best published
solver at 10 NFE and from 1.198x to 0.876x at 20 (few-step 25). Modes along a line (a 1-D
subspace, in 2-D or embedded) take DEIS-3 instead of UniPC-2 from 10 steps (few-step 26: 0.845x
the best default's error over 36 cells of ``FRESH15``). It still misses sharp modes that do not
merge within 0.8 spread (three wide modes): there UniPC keeps its defaults.

Data whose R stays high at both levels and does not fall is *low-rank* (``LOW_RANK_MIN_R``: most
directions empty, each component in a subspace). There the denoiser at a fairly large noise level is
already near the end of the path, and on ``VPSDE`` at 5-40 steps and ``EDMSDE`` at 5-50 UniPC stops early
and steps onto sigma = 0 from there (``LOW_RANK_RECIPES``, few-step 27-28, 36, 56-57); ``optimize_grid`` takes that
pick as a candidate (``candidates={"unipc": [..., found.options]}``, few-step 29). Where R rises
between the levels (``has_floor``: a noise floor under the subspaces, which that step would remove),
VP at 18-21 steps ends on the grid instead, and at 22-40 keeps UniPC's defaults; EDM keeps UniPC's defaults at
21-29 and at 30-50 runs UniPC-4 on the Karras grid to sigma_min and steps onto 0 from there
(``LOW_RANK_FLOOR_RECIPES``, few-step 32, 36, 52, 56-57). Data without a floor takes
UniPC-5 on VP at 36-40 steps from 125 coordinates, at 41-80 from 60 and at 81-100 from 100
(``LOW_RANK_HIGH_DIM_RECIPES``, few-step 39-43).

Data that is neither sharp nor low-rank but reads R high at both levels (``ILL_CONDITIONED_MIN_R``: a full
covariance whose small directions lie far below the spread) takes, on EDM at 40-50 steps, UniPC-4 on the Karras
grid onto 0 (``ILL_CONDITIONED_RECIPES``, few-step 49-50), and at 46-50 steps from 28 coordinates UniPC-5
(``ILL_CONDITIONED_HIGH_DIM_RECIPES``, few-step 51); at 5-10 steps on VP and 6-8 on EDM UniPC-4 stops early and
steps onto 0 from there, as on low-rank data (few-step 53-55, 58).

    found = probe_sharp_modes(sde, model, steps=10, x_data=batch)   # 2 batched model calls
    x, info = sample(sde, model, shape, sampler=found.sampler, steps=10, **found.options)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch

from ..contract import check_positive
from .context import NoiseSource, SolverContext
from .grids import ZeroEnded, default_t_end

__all__ = ["denoising_ratio", "probe_sharp_modes", "sharp_recipe", "SharpModes", "ratio_drop", "is_sharp",
           "principal_basis", "probe_calls", "MERGE_THRESHOLD", "RING_BAND", "SHARP_KINDS", "PROBE_SIGMAS", "PROBE_COORDS",
           "SHARP_RECIPES", "SHARP_ONE_DIM_RECIPES", "EMBEDDED_TAIL", "EMBEDDED_MAX_COARSE",
           "SUBSPACE_MAX_DIM", "is_low_rank", "is_ring_like",
           "low_rank_recipe", "low_rank_bands", "LOW_RANK_MIN_R", "LOW_RANK_RECIPES", "LOW_RANK_BANDS", "has_floor", "FLOOR_MIN_RISE",
           "LOW_RANK_FLOOR_RECIPES", "LOW_RANK_HIGH_DIM_RECIPES", "ILL_CONDITIONED_MIN_R", "ILL_CONDITIONED_RECIPES",
           "ILL_CONDITIONED_HIGH_DIM_RECIPES", "is_ill_conditioned", "ill_conditioned_recipe"]

PROBE_COORDS = 2 ** 17
"""The probe noises at least this many coordinates per level: each coordinate's share
||E[z | x~]||^2 / d has a relative std of about sqrt(2 / d) per point, so the standard error of R is
about R sqrt(2 / PROBE_COORDS) = 0.004 R."""
PROBE_SIGMAS = (0.05, 0.8)
"""The noise levels of the probe, in units of the data's RMS spread: fine, coarse."""
MERGE_THRESHOLD = 0.02
"""Sharp needs R(fine) - R(coarse) at least this. On the sets seen before ``FRESH10``: the 17
low-rank mixtures -0.050 to 0.001; from 0.039 (modes120_3d) up, 39 problems (the sharp rings at
0.233-0.476 among them), on which the recipe cut UniPC's error at 10 NFE to 0.49x in geometric
mean."""

PILOT_STEPS = 50
"""Steps of the pilot run. Its samples stand in for data; a 10-step pilot's own error reads as
sharpness (tuning half: R(0.1) of grid25 1.06 against 0.87 on data, rings 1.10 against 0.95), a
50-step pilot's R is the data's within 0.01 there. At the coarse level it is noisier on sharp
1-D data (``FRESH11``: R(0.8) 0.476 from a pilot against 0.398 from data; few-step 23c)."""

RING_BAND = (0.455, 0.58)
"""Sharp data is *ring-like* when R(coarse) lies in this band: on the sets seen before ``FRESH11`` the
18 rings of sharp modes (closed curves in 2-D) read 0.468-0.521, the other 25 sharp problems at
most 0.442 (lattices, many modes, 1-D mixtures) or at least 0.642 (modes on a line); each bound
is the midpoint of its gap (``benchmarks/RESULTS.md``, few-step 22e, 23)."""

EMBEDDED_TAIL = 0.007
"""Data is *embedded* when its covariance's top k = round(participation ratio) directions hold all
but this fraction of its variance, k < d (a ring, lattice, line or spiral of sharp modes placed in
more coordinates than it spans). On such data R is measured in that subspace, in units of the
spread there: measured over all d coordinates, the directions that carry only the modes' own
width dilute R and shrink the spread, and the probe missed every embedded ring (few-step 25). The
bound is the geometric midpoint of the gap on the tuning data between embedded sharp data and few
modes in 4-12-D (at most 0.0048) and the ill-conditioned full covariances (at least 0.011)."""
SUBSPACE_MAX_DIM = 1024
"""Above this many coordinates the probe does not look for a subspace (the d x d covariance and its
eigendecomposition stay below 8 MB and a second); the largest tuning problem has 256."""
EMBEDDED_MAX_COARSE = 0.55
"""Embedded data is sharp only where, besides the drop, R(coarse) in its subspace is at most this:
embedded rings, lattices, lines and spirals read 0.41-0.48, where the settings for sharp data win;
three to six random modes in 4-12-D read 0.63-0.72, where they lose (up to 1.46x the best default
at 10 NFE). The bound is the gap's midpoint (few-step 25)."""

SHARP_RECIPES = {
    "EDMSDE": ((10, 12, "line", "deis", {"order": 3, "grid": "log_snr", "t_end": 0.005, "denoise": False}),
               (7, 12, "any", "unipc", {"order": 2, "grid": "log_snr", "t_end": 0.005, "denoise": False}),
               (20, 24, "one_dim", "unipc", {"order": 3, "grid": "log_snr", "t_end": 0.005, "denoise": False}),
               (13, 24, "not_ring", "deis", {"order": 3, "grid": "log_snr", "t_end": 0.005, "denoise": False}),
               (13, 16, "ring", "unipc", {"order": 2, "grid": "log_snr"}),
               (17, 22, "ring", "unipc", {"order": 2, "grid": "karras", "t_end": 0.005, "denoise": False})),
}
"""SDE class name -> (min steps, max steps, which sharp data, sampler, options): the settings for
sharp data; the first entry that matches is taken. Line-like sharp data (a principal subspace of
one dimension: modes on a line in 2 or more coordinates) takes DEIS-3 on the log-SNR grid to sigma
= 0.005 from 10 steps (few-step 26: the best default 0.95 / 0.83 / 0.77x at 10 / 11 / 12 steps in
geometric mean over seven seen lines on two x_T, worse in no cell; at 7 it loses, at 8-9 it changes
nothing; on two new sets of six lines each, 0.856x and 0.845x over 36 cells, no cell worse by more
than 5 %). At 7-12 steps, any: UniPC-2 on the log-SNR grid to sigma = 0.005 without the final
denoising step (few-step 17e, 22a: on the sets seen before ``FRESH10``, where the rule fires,
UniPC's error 0.76 / 0.49 / 0.60x at 7 / 10 / 12 steps in geometric mean, no cell's best default
worse by more than 5 %). At 13-24 steps, sharp data that is not ring-like: DEIS-3 on the
log-SNR grid to sigma = 0.005 (the published DEIS-3 on EDM's log-sigma table; few-step 22e:
0.63-0.85x the best default's error in geometric mean at 13-24 NFE on 25 such problems, 0.74x
and 0.73x on a second x_T at 16 and 20 NFE); on rings it loses (up to 1.75x) and UniPC keeps its
defaults. On ring-like sharp data UniPC-2 wins at 13-22 steps: on the log-SNR grid with UniPC's
ending at 13-16 (best default 0.53-0.75x in geometric mean on the 18 seen rings), on the Karras
grid to sigma = 0.005 without the final denoising step at 17-22 (0.58x at 18 and 20 NFE, 0.86x at
22; 17e's variant; few-step 24a). At 6 steps and from 25 (23 on rings) nothing is known to win, except on data
of one coordinate at 25-50 steps (``SHARP_ONE_DIM_RECIPES``, which also ends DEIS-3 / UniPC-3 later at 13-24
and takes DEIS-3 on the Karras grid at 7-12).
On sharp data of one coordinate that is not ring-like (``"one_dim"``; every such seen problem is a 1-D
mixture of several scales) at 20-24 steps UniPC-3 on the log-SNR grid to sigma = 0.005 takes DEIS-3's place
(few-step 35a: on the 24 seen ones, 4096 x_T of three seeds, the best default with DEIS-3 over with UniPC's
defaults 0.950 / 1.010 / 1.079 / 1.127 / 1.169 at 20-24 steps in geometric mean, worst cell 1.96-3.68;
with UniPC-3 to sigma = 0.005 0.969 / 0.945 / 0.916 / 0.924 / 0.906, worst 1.00-1.36: the lower worst
case, at most 2 % more on average; at 18-19 DEIS-3 is 8-11 % better on average and stays). On a new set,
``FRESH24``, it took the eight 1-D mixtures and no control: the best default 0.741x the old entry's over 80
cells on two x_T, worst 1.24x UniPC's defaults against the old entry's 3.65x (few-step 35c). The cost: on 1-D
mixtures where DEIS-3 wins most (unequal weights) the best default is up to 1.8x worse than with it.
``t_end`` is sigma for EDM."""


SHARP_ONE_DIM_RECIPES = {
    "EDMSDE": ((7, 12, "deis", {"order": 3, "grid": "karras", "denoise": False}, 0.155, -2.7),
               (13, 19, "deis", {"order": 3, "grid": "log_snr", "denoise": False}, 0.0064, 1.5),
               (20, 24, "unipc", {"order": 3, "grid": "log_snr", "denoise": False}, 0.007, 0.7),
               (25, 50, "unipc", {"order": 5, "step_limit": False, "grid": "log_snr", "denoise": False}, 0.008, 3.0)),
}
"""SDE class name -> (min steps, max steps, sampler, options, c, p): for sharp data of one coordinate that is
not ring-like, read before ``SHARP_RECIPES`` where the probe knows the spread: ``options`` with ``t_end`` where
sigma = c (30 / steps)^p spreads (not below the SDE's eps). On EDM at 25-50 steps UniPC-5 without the step
limit on the log-SNR grid, no final denoising, to sigma = 0.008 (30 / steps)^3 spreads (0.008 spreads at 30
steps, 0.0017 at 50). UniPC's defaults there run the same grid to sigma_min = 0.002, where the last, longest
log-SNR steps cross the narrowest modes' curvature; ending earlier trades that error for the small bias of
stopping on the path (few-step 44a: on the 39 seen 1-D mixtures the probe calls sharp, 4096 x_T of two seeds,
the best default with it over with UniPC's defaults is 0.693 / 0.447 / 0.468 / 0.419 / 0.426 / 0.336 / 0.412 /
0.502 / 0.544 at 25 / 27 / 30 / 33 / 36 / 40 / 43 / 46 / 50 steps in geometric mean, 81-97 % of the cells
below 1, worst 1.0-2.7; c and p minimise the mean at 27-50 over sigma_end in spreads, which does as well on
average as the best law in absolute sigma (0.440 against 0.438) with a lower worst case at 43-50 (1.2-2.7
against 3.5-5.1); order 3 on its best law 0.675). The rule of the low-rank entries (a budget is in where the
mean is at most 0.9 and 80 % of the cells gain) keeps 25-50. An entry at 20-22 steps, UniPC-3 to sigma = 0.008
(30 / steps)^0.4 spreads in place of ``SHARP_RECIPES``' end at 0.005 (0.60-0.71x that entry's best default on the
same 39 mixtures), failed its test on a new set, ``FRESH33``: 0.680x over 48 cells but 38 below 1 where 80 % (39)
was asked (few-step 45c). Chosen again with ``FRESH32``'s and ``FRESH33``'s 1-D mixtures among the tuning data
(54 taken, few-step 45e): UniPC-3 to sigma = 0.007 (30 / steps)^0.7 spreads at 20-24 steps, 0.614 / 0.662 /
0.705 / 0.722 / 0.720 of the old entry's best default at 20-24 in geometric mean, 81-92 % of 108 cells below 1,
worst 1.25-1.98; where the spread is not known ``SHARP_RECIPES``' entry (UniPC-3 to 0.005) stays. At 13-19 steps
(few-step 46a) DEIS-3, ``SHARP_RECIPES``' sampler there, ends at sigma = 0.0064 (30 / steps)^1.5 spreads instead
of 0.005: on the 61 seen 1-D mixtures the probe takes (4096 x_T of two seeds) 0.678 / 0.685 / 0.729 / 0.764 of
that entry's best default at 13 / 15 / 17 / 19 steps, 93-98 % of 122 cells below 1, worst 1.0-1.24. At 7 and 10-12
steps (few-step 47a) DEIS-3 on the Karras grid, no final denoising, to sigma = 0.155 (30 / steps)^-2.7 spreads (0.0031
spreads at 7 steps, 0.0080 at 10, 0.013 at 12: later with more steps, where the Karras grid's last steps are short)
takes the place of ``SHARP_RECIPES``' UniPC-2 to 0.005 (the best published solver on ``FRESH24``'s EDM 10 column was
diffusers' DEIS-3 with Karras sigmas): on the 68 seen 1-D mixtures the probe takes (4096 x_T of two seeds) the best
default with it over with that entry is 0.793 / 0.866 / 0.860 / 0.806 at 7 / 10 / 11 / 12 steps in geometric mean,
86-96 % of 136 cells below 1, worst 1.0-1.08; at 8 and 9 steps the best default gained less often (78 % and 59 % of
the cells), and those were first left to UniPC-2 - where the pick's error then rose from 7 steps to 8 (1.20 in
geometric mean on the 82 seen 1-D mixtures the probe calls sharp, 1024 x_T of seed 2). The pick itself, the DEIS law
over UniPC-2, is 0.705 / 0.682 at 8 / 9 steps there (81 / 82 of 82 below 1, worst 1.07), and the rise 7 -> 8 becomes
0.85 (few-step 59f), so the entry covers 7-12."""


ILL_CONDITIONED_MIN_R = (0.36, 0.905)
"""Data is *ill-conditioned* where it is neither sharp nor low-rank and R is at least these at the fine and the
coarse probe level: a covariance whose smallest directions are far below the spread, so the denoiser removes most
of the noise at both levels, without the empty directions of low-rank data. On the 307 problems of the sets before
``FRESH36`` with probe records, the 25 full covariances (eigenvalue ratio 2200-4000) read R 0.467-0.599 / 0.968-0.986
and every other problem neither sharp nor low-rank (64) at most 0.248 at the fine level where it reads at least 0.88
at the coarse one, and at most 0.842 at the coarse level where it reads at least 0.36 at the fine one (lowrank28_r7);
each bound is the midpoint of its gap (few-step 50a)."""

ILL_CONDITIONED_RECIPES = {
    "VPSDE": ((5, 9, "unipc", {"order": 4, "step_limit": False, "variant": "bh1"}, "uniform_t", 0.081, 2.5),
              (10, 10, "unipc", {"order": 4, "step_limit": False}, "time_quadratic", 0.191, 0.0)),
    "EDMSDE": ((6, 8, "unipc", {"order": 4, "step_limit": False}, "log_snr", 0.054, 3.0),
               (40, 50, "unipc", {"order": 4, "step_limit": False}, "karras", 0.0, 0.0)),
}
"""SDE class name -> (min steps, max steps, sampler, options, grid, c, p) for ill-conditioned data: ``steps - 1`` steps
of the named grid down to sigma_j = c (10 / steps)^p spreads (as ``LOW_RANK_RECIPES``; c = 0: the SDE's default end),
then one onto sigma = 0 (``ZeroEnded``). At 5-8 steps on VP and 6-8 on EDM UniPC-4 without the step limit stops early,
on VP with B(h) = h on the uniform-t grid, on EDM on the log-SNR grid, as on low-rank data: at so few steps the last,
longest steps in log-SNR cost more than the step onto 0 from sigma_j, where the denoiser of a full covariance is already
near the path's end. The laws were fitted on the 51 seen full covariances (49 called ill-conditioned; 1024 x_T of two
seeds; few-step 53a, with the 5-step cells read at the law's sigma_j in 54g): the best default with it over with
UniPC's defaults is 0.808 / 0.697 / 0.553 / 0.561 at 5 / 6 / 7 / 8 steps on VP and 0.716 / 0.601 / 0.535 / 0.669 on EDM
in geometric mean. By the rule of 44a (80 % of the cells below 1; 53a read 5 steps off a nearer row) EDM took 6-8 and
VP 6-7; on a new set, ``FRESH40``, EDM held (0.668x over 36 cells, 34 below 1) and VP failed by its
ties (19 of 24 below 1, the other five cells with iPNDM the best default either way; few-step 53c). Counting ties apart
(few-step 54a: 80 % of the cells that are not ties below 1, and half of all) both took 5-8 steps; on a new set,
``FRESH41``, VP held (0.710x over 48 cells, 35 below 1, 12 ties, one cell worse on one seed) and EDM's extension to 5
steps failed (0.912x, 2 of 12 below 1, 10 ties: another default is best there either way, though the entry is 0.31-0.59x
UniPC's defaults); EDM's 6-8 entry on that set 0.727 / 0.490 / 0.430x UniPC's defaults' best default (few-step 54c).
VP's law carried on to 9 steps (0.619 on the tuning data, 62 of 98 below 1, 30 ties; at 10 0.789, 49 of 98: out;
few-step 55a) held on a new set, ``FRESH42``: 0.454x over 12 cells at 9 steps, 10 below 1, 2 ties (few-step 55c).
At 10 steps on VP UniPC-4 (B(h) = bh2) on the time-quadratic grid to sigma_j = 0.191 spreads, then onto 0 (few-step 58a:
on the same tuning records the uniform-t rows fail at 10 and the pick's error rose 1.64x from 9 steps to 10; this row
0.872, 53 of 98 below 1, 36 ties); on a new set, ``FRESH45``, 0.815x over 12 cells, 6 below 1, 6 ties, worst 1.00, the
pick itself 0.50-0.73x UniPC's defaults (few-step 58c).
Where the spread is not known these entries are not read.
On EDM at 40-50 steps UniPC-4 without the step limit on the Karras grid onto 0 from sigma_min (diffusers' UniPC-4 with
Karras sigmas and ``final_sigmas_type="zero"``, the best of the three published solvers of few-step 49 there; on
``FRESH37`` another of the 96 is ahead on two of five problems at 45-50 NFE): on 16 seen full covariances (1024 x_T of
two seeds) the best default with it over with UniPC's defaults is 0.787 / 0.776 at 40 / 50 steps in geometric mean, 32
and 31 of 32 cells below 1, worst 0.97 / 1.00 (few-step 49, 50a); at 30 steps 0.853, 20 of 32."""

ILL_CONDITIONED_HIGH_DIM_RECIPES = {
    "EDMSDE": ((46, 50, 28, "unipc", {"order": 5}, "karras", 0.0, 0.0),),
}
"""SDE class name -> (min steps, max steps, min dimension, sampler, options, grid, c, p): ``ILL_CONDITIONED_RECIPES``'
entries for ill-conditioned data of at least that many coordinates, read before them. On EDM at 46-50 steps such
data takes UniPC-5 (with the step limit) on the Karras grid onto 0: on ``FRESH37`` diffusers' UniPC-5 on Karras
sigmas onto 0 was ahead of the order-4 entry on its two largest full covariances, and the gain of order 5 grows
with the dimension. Chosen on 38 seen full covariances of 17-52 coordinates (1024 x_T of two seeds; few-step 51a):
the best default with it over with the order-4 entry, d >= 28, is 0.876 / 0.844 / 0.781 at 46 / 48 / 50 steps in
geometric mean, 37 / 37 / 42 of 46 cells below 1 (at 44 steps 1.023; from 24 coordinates at 50 steps 0.826 but
at 46 0.977; without the step limit 1.066 / 0.876 / 0.840)."""


LOW_RANK_MIN_R = 0.78
"""Data is *low-rank* where it is not sharp and R is at least this at both probe levels: the denoiser
removes nearly all of the noise at a twentieth of the spread and at 0.8 of it, as where most
directions carry no variance (R is about the fraction of such directions). On the sets seen before
``FRESH16`` the 23 mixtures of low-rank Gaussians read 0.845-0.979 at both levels and every other
problem (194) at most 0.712 at one of them; the bound is the midpoint of the gap (few-step 27a)."""

LOW_RANK_RECIPES = {
    "VPSDE": ((5, 13, "unipc", {"order": 5, "step_limit": False}, "uniform_t", 0.5, 1.6),
              (14, 17, "unipc", {"order": 5, "step_limit": False, "variant": "bh1"}, "uniform_t", 0.5, 1.6),
              (18, 20, "unipc", {"order": 4, "step_limit": False, "variant": "bh1"}, "uniform_t", 0.54, 1.6),
              (21, 40, "unipc", {"order": 4, "step_limit": False, "variant": "bh1"}, "uniform_t", 0.38, 1.1)),
    "EDMSDE": ((5, 50, "unipc", {"order": 5, "step_limit": False}, "log_snr", 0.55, 1.7),),
}
"""SDE class name -> (min steps, max steps, sampler, options, grid, c, p): the settings for low-rank
data. Steps - 1 steps of ``grid`` down to sigma_j = c (10 / steps)^p times the data's spread, then
one step onto sigma = 0 with the model's data prediction there (``grids.ZeroEnded``). On low-rank
data the denoiser at sigma_j is already close to the end of the probability-flow path (it projects
onto the component's subspace, and within it differs from the path's end by about sigma_j^2 / 2
over the subspace's scale), so the steps below sigma_j, the longest in log-SNR, are better spent
above it; there UniPC-5 without the order-5 step limit (diffusers' UniPC has none) wins up to 17 steps,
and UniPC-4 without it from 18 to 20 (UniPC-5 sent one mixture astray at 20 steps, 3.8x; UniPC-3, the
entry until few-step 31, sends more points towards the wrong component there: on 36 seen low-rank
mixtures the best default with UniPC-4 at sigma_j = 0.54 (10 / steps)^1.6 spreads over with UniPC-3 at
0.5 (10 / steps)^1.6 is 0.700 in geometric mean at 18-20 steps, 4096 points on 14 of them).
On the 23 seen low-rank mixtures, VP (its default linear schedule), 1024 points, the best default
with this in UniPC's place over without: 0.995 / 0.735 / 0.579 / 0.431 / 0.306 / 0.289 / 0.445 at
5 / 7 / 10 / 12 / 14 / 17 / 20 steps in geometric mean, worst cell 1.36 (lowrank32_r4 at 20 steps;
1.31 for a mixture with a noise floor of std 0.01, which the early denoiser removes). From 30 steps
such a floor costs up to 2.9x, so the entries stopped at 20 until ``has_floor`` could tell such data
(``LOW_RANK_FLOOR_RECIPES``). c = 0.5 and p = 1.6 were fitted there
(sigma_j = 0.5, 0.17 and 1.5 spreads at 10, 20 and 5 steps; few-step 27a). On a new set, FRESH16, it
took six of seven low-rank mixtures and none of seven controls: 0.651x over 84 cells on two x_T, no
cell worse by more than 1.5x on both (few-step 27c).
On EDM the same idea on the log-SNR grid (uniform in log sigma; on EDM's sigma-linear time the
uniform-t grid spends every step at large sigma): UniPC-5 without the step limit at 5-20 steps,
sigma_j = 0.55 (10 / steps)^1.7 spreads (few-step 28a: on the 23 seen low-rank mixtures, EDM, 1024
points, the best default with it in UniPC's place over without 0.95 / 0.71 / 0.29 / 0.37 / 0.34 / 0.32
/ 0.32 at 5 / 7 / 10 / 12 / 14 / 17 / 20 steps in geometric mean, worst cell 1.09; UniPC-3 is worse at
every budget from 7 there, 0.46-0.78 at its best fixed sigma_j). On a new set, FRESH17, it took the
seven low-rank mixtures and none of seven controls: 0.548x over 98 cells on two x_T, no cell worse by
more than 1.5x on both (few-step 28c).
On VP from 14 steps UniPC takes B(h) = h (``variant="bh1"``; the package's default is bh2): on the 30 seen
low-rank mixtures of few-step 33a (8192 new x_T), the RMS without each run's worst 5 in 4096 points is
0.922 / 0.972 / 0.939 / 0.950 / 0.955 of bh2's at 14 / 17 / 18 / 19 / 20 steps in geometric mean (below 1 in
140 of 150 cells, worst 1.044), and the points sent towards another component are as many (239 / 239);
at 7 and 10 steps bh1 is not better there (1.014; 0.896 but worst 1.56 and 8 % more such points).
Its first test, on ``FRESH21``, failed by one such point (full RMS 1.034 > 1.03; bulk 0.959); its
second, counting them, passed on ``FRESH22``: bulk 0.957, worst cell 1.03, far points 47 against
bh2's 48 over 40 cells on 8192 points (few-step 33c-e).
On VP the entry chosen at 18-20 steps runs on to 40 (few-step 36a): on seen low-rank mixtures without a noise floor
(4096 points) the best default with it in UniPC's place over without is 0.232 / 0.141 / 0.182 / 0.233 at
22 / 25 / 30 / 40 steps in geometric mean over 14-20 of them, below 1 in 93-100 % of the cells; at 50 only
7 of 11 cells gain (0.612), so the entry stops at 40 (the rule: a budget is in where the mean is at most
0.5 and 90 % of the cells gain). Data with a floor keeps UniPC's defaults there (the step onto 0 costs
1.5-4x at 30-50 steps; ``LOW_RANK_FLOOR_RECIPES``). On a new set, ``FRESH25``, it took the five mixtures
without a floor: 0.235x the old pick's best default over 50 cells (22-40 NFE, two x_T), none worse than
1.5x on both, the bulk (without each run's worst 5 points) 0.10x; the three floor mixtures kept UniPC's
defaults (few-step 36c).
From 21 steps sigma_j falls more slowly, 0.38 (10 / steps)^1.1 spreads (0.38 = 0.54 / sqrt 2: the same
sigma_j at 20 steps, 1.2 / 1.3 / 1.4x the 18-20 law's at 30 / 35 / 40; few-step 37a): on ten seen mixtures
without a floor (six of them at 25-30 steps; 4096 points) the best default with it over with the 18-20 law
carried on is 0.995 / 0.950 / 0.884 / 0.854 at 25 / 30 / 35 / 40 steps in geometric mean, no cell above 1.04;
p = 1.1 had the smallest mean over the four budgets of p = 0.9-1.6 with c fixed by the value at 20 steps.
On a new set, ``FRESH26``, 0.863x the old law's best default over 40 cells (25-40 NFE, two x_T; 0.928
without one cell where the old law sent points astray), none worse (few-step 37c).
On EDM the 5-20-step law runs on to 50 steps for data without a floor (few-step 56a: on 22 seen low-rank mixtures
without a floor, 1024 x_T of two seeds, the best default with it over with UniPC's defaults 0.280 / 0.232 / 0.331 at 21
/ 25 / 29 steps in geometric mean, 40-41 of 44 cells below 1, the rest ties, worst 1.04; on 14 of them over with the
Karras entry 0.386 / 0.530 / 0.589 at 30 / 35 / 40, 27 of 28 below 1, worst 1.00, and 0.549 / 0.542 at 45 / 50
(few-step 57a); refitted laws gain at most 6 %); data with a floor keep their pick there (``LOW_RANK_FLOOR_RECIPES``).
On new sets the change held: ``FRESH43`` 0.289x the old pick's best default over 48 cells at 21-29 NFE and 0.498x over
48 at 30-40 (few-step 56c), ``FRESH44`` 0.541x over 60 cells at 41-50, all below 1 (few-step 57c).
c = 0 puts sigma_j below the default end, so the step onto 0 starts there: on EDM at 30-50 steps (since few-step 56-57
for data with a floor only, ``LOW_RANK_FLOOR_RECIPES``) UniPC-4 without
the step limit on the Karras grid to sigma_min, then onto 0 (diffusers' UniPC-4 with Karras sigmas and
``final_sigmas_type="zero"``, the section-50 entry for ill-conditioned data): on 35 seen low-rank mixtures without
a floor (1024 x_T of two seeds) the best default with it over with UniPC's defaults is 0.793 / 0.441 / 0.723 at 30 /
40 / 50 steps in geometric mean, 61 / 70 / 70 of 70 cells below 1 (at 25 0.944, 6 of 70); on 8 with a floor
0.906 / 0.778 / 0.755 (4 / 8 / 8 of 8; few-step 52a)."""


LOW_RANK_BANDS: Dict[str, Tuple[Tuple[int, int, Tuple[float, float], int], ...]] = {}
"""SDE class name -> ((min steps, max steps, (a, b), n_low), ...): where ``LOW_RANK_RECIPES`` steps onto 0,
the steps - 1 steps before that step spread uniformly in t in three bands (``grids.ZeroEnded``'s ``bands``):
round((steps - 1) / 3) from T down to where sigma = a spreads, n_low from where sigma = b spreads down to
sigma_j, and the rest between; bands whose edges do not fall between sigma_j and T are dropped. Empty:
the entry tried, VP at 17-20 steps with (a, b) = (6, 0.9) and n_low = 4, lowered the bulk RMS (without
each run's worst 5 points in 4096) to 0.722x on the 30 seen low-rank mixtures with fewer points sent
towards another component (110 against 138), but on a new set, ``FRESH23``, it sent more (63 against 33;
bound 52.6) and its full RMS was 1.457x, though the bulk held (0.819x): the test failed and the pick keeps
the uniform grid (few-step 34)."""

FLOOR_MIN_RISE = 0.038
"""Low-rank data has a *noise floor* (a small variance in every direction, the components' subspaces
blurred) where R rises by at least this from the fine probe level to the coarse: at the fine level the
floor's variance is part of what the denoiser keeps. On the 52 low-rank mixtures seen before
``FRESH20`` the six with a floor (std 0.01-0.02) rise by 0.045-0.127 and the other 46 by at most 0.031
(lowrank32_r4, d / r = 8); the bound is the midpoint of the gap (few-step 32a)."""

LOW_RANK_FLOOR_RECIPES = {
    "VPSDE": ((18, 21, "unipc", {"order": 4, "step_limit": False, "variant": "bh1"}, "uniform_t"),
              (22, 40, "unipc", {}, None)),
    "EDMSDE": ((21, 29, "unipc", {}, None),
               (30, 50, "unipc", {"order": 4, "step_limit": False}, "karras", 0.0, 0.0)),
}
"""SDE class name -> (min steps, max steps, sampler, options, grid) for low-rank data with a noise floor
(``has_floor``): all steps on ``grid`` (None: the sampler's default grid) to the default end, no step onto
sigma = 0; an entry with two more fields, c and p, steps onto 0 as ``LOW_RANK_RECIPES``' entries do. The step
onto 0 from sigma_j (``LOW_RANK_RECIPES``) puts each point on its component's subspace and so removes the floor;
on the five seen floor mixtures, VP, UniPC-4 without the step limit to the default end is below the
low-rank pick in all 15 cells at 18-20 steps (few-step 32a). Elsewhere such data keeps the low-rank
recipe. UniPC's B(h) = h variant as in ``LOW_RANK_RECIPES`` from 14 steps (few-step 33a: 0.975-0.982 of
bh2's bulk RMS on the eight seen floor mixtures at 18-20 steps; the uniform-t grid stays: the log-SNR and
time-quadratic grids sent 3-4x more points astray on four of them). The entry runs on to 21 steps, where UniPC's
defaults made the pick's error rise with NFE: on the 18 seen floor mixtures (1024 x_T of seed 2) UniPC's defaults at
21 steps over the entry at 20 were 2.08 in geometric mean (10 of 18 above 1.05, worst 19x: points sent astray), the
entry at 21 over itself at 20 1.00 (worst 1.06); the entry over UniPC's defaults at 21 0.48 (10 of 18 below 1, worst
2.1), at 22 0.97 (6 of 18), at 24-30 1.5-3.4 (few-step 59b). At 22-40 steps such data keeps UniPC's
defaults (grid None), where the low-rank entry steps onto 0 for data without a floor: on the seven seen
floor mixtures that step costs 1.5 / 4.1 / 3.7x at 30 / 40 / 50 steps (few-step 35f, 36).
On EDM, where the low-rank entry's log-SNR law runs on to 50 steps (few-step 56-57), floor data keep the pick they had:
UniPC's defaults at 21-29 steps and the Karras entry onto 0 from sigma_min at 30-50. On the 8 seen floor mixtures the
law over UniPC's defaults was 0.80 / 0.81 / 1.21 at 21 / 25 / 29 steps in geometric mean (3 / 3 / 0 of 16 cells below
1, the rest mostly ties; worst 3.4), over the Karras entry 1.41 / 1.73 / 1.85 at 30 / 35 / 40 (0 of 12; worst 8)."""


LOW_RANK_HIGH_DIM_RECIPES = {
    "VPSDE": ((36, 40, 125, "unipc", {"order": 5, "step_limit": False, "variant": "bh1"}, "uniform_t", 0.456, 1.1),
              (41, 80, 60, "unipc", {"order": 5, "step_limit": False, "variant": "bh1"}, "uniform_t", 0.456, 1.1),
              (81, 100, 100, "unipc", {"order": 5, "step_limit": False, "variant": "bh1"}, "uniform_t", 0.456, 1.1)),
}
"""SDE class name -> (min steps, max steps, min dimension, sampler, options, grid, c, p): ``LOW_RANK_RECIPES``'
entries for low-rank data without a noise floor of at least that many coordinates, read before them. On VP
at 36-40 steps such data takes UniPC-5 (B(h) = h, no step limit) to sigma_j = 0.456 (10 / steps)^1.1 spreads,
1.2x the 21-40 law's, then the step onto 0: at 40 steps the order-4 pick's gap to diffusers' UniPC-4/5 grew
with the dimension (0.84x the best peer at 76 coordinates, 1.27x at 232; few-step 38d), and order 5 gains on
large data only. Chosen on 30 seen mixtures without a floor (4096 points; ``bench_low_rank.py dfit``,
few-step 39a): the best default with it over with the order-4 pick, d >= 125, is 0.839 / 0.836 / 0.846 /
0.622 at 36 / 37 / 38 / 40 steps in geometric mean over 9 / 3 / 9 / 17 mixtures (all 21 cells at 36-38 below
1, 16 of 17 at 40), 0.901 at 35 (15 of 17); below 125 coordinates 0.99-1.09 at 36-38 (lowrank124_r3 alone),
1.07 at 40 (5 of 13 below 1) and 1.37 at 35. The rule: budgets and a dimension bound are in where the mean
is at most 0.9 and 80 % of the cells gain; 36-40 steps pass from 125 coordinates (not from 120: lowrank124_r3
at 37), 35 fails. On a new set, ``FRESH27``, it took the six mixtures of 130-250 coordinates without a floor and
none of the others: 0.676x the order-4 pick's best default over 36 cells (36-40 NFE, two x_T; 0.831 without two
cells where the order-4 pick sent points astray), none worse than 1.2x on both, the bulk 0.78x (few-step 39c).
At 41-50 steps, where no low-rank entry ran before (UniPC's defaults), the same recipe takes such data from 60
coordinates (few-step 40a): on 21 seen mixtures without a floor (40-240 coordinates; 4096 points) the best default
with it over with UniPC's defaults is 0.097 / 0.283 at 43 / 50 steps in geometric mean over the 19 of d >= 60
(18 of 19 cells below 1 at each, the other 1.00: a point sent astray by both), and 0.14 / 1.78 below 60
(lowrank40_r5 2.6x, lowrank44_r4 1.2x worse at 50). The same rule (the split list of 39a) chose d >= 60 and
budgets 43-50; 41-42 (not recorded) lie between the 40-step entries and 43. On a new set, ``FRESH28``, it took
the six mixtures of 66-246 coordinates without a floor and none of the others: 0.120x UniPC's defaults' best default
over 36 cells (42 / 46 / 50 NFE, two x_T), none worse, the bulk 0.07x (few-step 40c). Carried on to 100 steps
(chosen by the same rule on 13 seen mixtures: 0.282 / 0.331 / 0.374 at 60 / 75 / 100 steps, d >= 60; few-step 41a)
it failed its test on a new set, ``FRESH29``: 0.297x over 36 cells at 55 / 80 / 100 NFE, but on lowrank92_r5 at
100 NFE 3.3x / 1.6x worse on both x_T (few-step 41c; at 100 steps the best sigma_j is narrow). Carried on to 80
steps only (few-step 42a: at 60 / 75 / 80 the law passed with margin on seen data), it held on a new set,
``FRESH30``: 0.219x over 36 cells at 57 / 68 / 80 NFE, all below 1, the worst 0.49x (few-step 42c). At 81-100
steps the same recipe takes such data from 100 coordinates (few-step 43a: at 90 / 100 steps on 13 seen mixtures
0.224 / 0.266 from 100 coordinates, 6 of 6 below 1 at each, against 0.635 / 0.888 below 100; at 100 steps only
k = 1.2 passes, at 90 k = 1.1-1.3); on a new set, ``FRESH31``, it took the six mixtures of 106-252 coordinates
without a floor and none of the others: 0.231x UniPC's defaults' best default over 24 cells at 86 / 100 NFE, all
below 1, the worst 0.76x (few-step 43c). Above 100 steps UniPC keeps its defaults. Its gain is a cancellation:
the solver's state error at sigma_j, seen through the denoiser, is anti-parallel to the sigma_j^2 bias of the step
onto 0 (cos -0.94 to -1.00; few-step 42f)."""


@dataclass
class SharpModes:
    """What ``probe_sharp_modes`` found: ``ratios`` {sigma / spread: R}, ``spread``, ``sharp``,
    ``ring_like``, the ``sampler`` and its ``options`` to pass to ``sample`` (``"unipc"`` and {}:
    keep UniPC's defaults), the model calls spent (``nfe``: batched calls, the pilot run's
    included), ``subspace``: the dimension of the principal subspace R and the spread were
    measured in where the data is embedded (``EMBEDDED_TAIL``), else None (all coordinates),
    ``low_rank`` (``is_low_rank``, only where R was measured over all coordinates), ``one_dim`` (data
    of one coordinate) and ``dim`` (the data's coordinates per sample; None: not known, and the large-data
    entries ``LOW_RANK_HIGH_DIM_RECIPES`` and ``ILL_CONDITIONED_HIGH_DIM_RECIPES`` are not read)."""
    sharp: bool
    ratios: Dict[float, float]
    spread: float
    options: Dict[str, Any] = field(default_factory=dict)
    nfe: int = 0
    sampler: str = "unipc"
    ring_like: bool = False
    subspace: Optional[int] = None
    low_rank: bool = False
    one_dim: bool = False
    dim: Optional[int] = None

    @property
    def reads_ill_conditioned(self) -> bool:
        """R measured over all coordinates reads ill-conditioned (``is_ill_conditioned``); ``at_steps`` takes the
        ill-conditioned entries only where the data is neither sharp nor low-rank."""
        return self.subspace is None and set(PROBE_SIGMAS) <= set(self.ratios) and is_ill_conditioned(self.ratios)

    def at_steps(self, sde, steps: int) -> "SharpModes":
        """The same verdict with the ``sampler`` and ``options`` for ``steps`` steps on ``sde`` (the
        ratios do not depend on the step count, so one probe serves every budget)."""
        if self.sharp:
            sampler, options = sharp_recipe(sde, steps, self.ring_like, self.subspace == 1, self.one_dim,
                                            self.spread)
        elif self.low_rank:
            sampler, options = low_rank_recipe(sde, steps, self.spread, floor=has_floor(self.ratios), dim=self.dim)
        elif self.reads_ill_conditioned:
            sampler, options = ill_conditioned_recipe(sde, steps, self.dim, self.spread)
        else:
            sampler, options = "unipc", {}
        return replace(self, sampler=sampler, options=options)


def ratio_drop(ratios: Mapping[float, float]) -> float:
    """R(fine) - R(coarse) of ``PROBE_SIGMAS`` from {sigma / spread: R} (``denoising_ratio``)."""
    return ratios[PROBE_SIGMAS[0]] - ratios[PROBE_SIGMAS[1]]


def is_sharp(ratios: Mapping[float, float], embedded: bool = False) -> bool:
    """The probe's verdict: R falls by at least ``MERGE_THRESHOLD`` from the fine level to the coarse
    (on ``embedded`` data, R measured in its subspace, also R(coarse) <= ``EMBEDDED_MAX_COARSE``)."""
    drops = ratio_drop(ratios) >= MERGE_THRESHOLD
    return drops and (not embedded or ratios[PROBE_SIGMAS[1]] <= EMBEDDED_MAX_COARSE)


def _spread(x: torch.Tensor, basis: Optional[torch.Tensor] = None) -> float:
    """RMS spread per coordinate, sqrt(tr Cov / d); in the span of ``basis`` (d x k, orthonormal)
    sqrt(tr(B^T Cov B) / k)."""
    flat = x.reshape(len(x), -1).to(torch.float64)
    if basis is not None:
        flat = flat @ basis.to(flat)
    return math.sqrt(float(flat.var(0, unbiased=True).mean()))


def _check_data(x_data) -> None:
    """Data points for the probe: a real floating-point tensor (N >= 2, ...), finite."""
    if not isinstance(x_data, torch.Tensor) or x_data.dim() < 2 or len(x_data) < 2:
        raise ValueError(f"x_data must be a tensor of at least 2 data points, shape (N, ...), "
                         f"got {getattr(x_data, 'shape', type(x_data).__name__)}")
    if not x_data.is_floating_point():
        raise ValueError(f"x_data must be a real floating-point tensor (the noise is added to it), "
                         f"got dtype {x_data.dtype}")
    if not bool(torch.isfinite(x_data).all()):
        raise ValueError("x_data holds NaN or inf")


def principal_basis(x_data: torch.Tensor) -> Tuple[Optional[torch.Tensor], float]:
    """(B, tail): the data's top k = round(participation ratio (tr C)^2 / tr C^2) principal directions
    as a d x k orthonormal float64 matrix, and the fraction of the variance outside them. B is None
    where the data is not embedded (k = d, tail >= ``EMBEDDED_TAIL``), and the tail NaN where it is
    not looked for: fewer than 2d points (too few to tell a flat direction from an unsampled one)
    or more than ``SUBSPACE_MAX_DIM`` coordinates. The covariance is summed over chunks of points,
    so memory is O(d^2) beside the data."""
    _check_data(x_data)
    flat = x_data.reshape(len(x_data), -1)
    n, d = flat.shape
    if n < 2 * d or d > SUBSPACE_MAX_DIM:
        return None, float("nan")
    mean = flat.to(torch.float64).mean(0)
    cov = torch.zeros(d, d, dtype=torch.float64, device=flat.device)
    step = max(1, PROBE_COORDS // d)
    for start in range(0, n, step):
        c = flat[start:start + step].to(torch.float64) - mean
        cov += c.T @ c
    ev, vecs = torch.linalg.eigh(cov)
    ev, vecs = ev.flip(0).clamp(min=0.0), vecs.flip(1)
    total = float(ev.sum())
    if not total > 0.0:
        return None, float("nan")
    k = min(d, max(1, round(total ** 2 / float((ev ** 2).sum()))))
    tail = max(0.0, 1.0 - float(ev[:k].sum()) / total)
    return (vecs[:, :k].contiguous() if k < d and tail < EMBEDDED_TAIL else None), tail


def _repeats(n: int, k: int) -> int:
    return max(1, math.ceil(PROBE_COORDS / (n * k)))


def probe_calls(n: int, d: int, k: int, levels: int = len(PROBE_SIGMAS)) -> int:
    """Batched model calls of ``denoising_ratio`` on n points of d coordinates, R over k of them."""
    return levels * math.ceil(_repeats(n, k) / _repeats(n, d))


def denoising_ratio(sde, score_fn, x_data: torch.Tensor, rel_sigmas: Sequence[float] = PROBE_SIGMAS,
                    generator: Optional[torch.Generator] = None,
                    repeats: Optional[int] = None, basis: Optional[torch.Tensor] = None) -> Dict[float, float]:
    """{r: R(r * spread)} on the data points ``x_data`` (N >= 2, shape (N, ...)), each noised
    ``repeats`` times (default: enough for N * repeats * k >= ``PROBE_COORDS``, k = d or the basis'
    columns): ``probe_calls`` batched model calls of at most N * ceil(``PROBE_COORDS`` / (N d))
    points (one per noise level on all coordinates). ``score_fn``: a score function or a model with
    ``predict(x, t, kind)``, as for ``sample``. ``basis`` (d x k orthonormal, ``principal_basis``):
    R = E || B^T (D - x~) ||^2 / (k sigma^2) and the spread in that subspace; the noise stays
    isotropic in all d coordinates."""
    _check_data(x_data)
    d = x_data[0].numel()
    if basis is not None and (not isinstance(basis, torch.Tensor) or basis.dim() != 2
                              or basis.shape[0] != d or not 1 <= basis.shape[1] <= d):
        raise ValueError(f"basis must be a (d, k) tensor with d = {d} and 1 <= k <= d, "
                         f"got {getattr(basis, 'shape', type(basis).__name__)}")
    if basis is not None:
        gram = basis.to(torch.float64).T @ basis.to(torch.float64) if basis.is_floating_point() else None
        if gram is None or not torch.allclose(gram, torch.eye(len(gram), dtype=torch.float64, device=gram.device),
                                              atol=1e-6):
            raise ValueError("basis must have orthonormal real columns (B^T B = I), as principal_basis returns")
    k = d if basis is None else basis.shape[1]
    if repeats is None:
        repeats = _repeats(len(x_data), k)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    spread = _spread(x_data, basis)
    if not spread > 0.0:
        raise ValueError("x_data has zero spread (all points equal); the probe needs data that varies")
    rel = [float(r) for r in rel_sigmas]
    if not rel or any(not (r > 0.0 and math.isfinite(r)) for r in rel):
        raise ValueError(f"rel_sigmas must be positive and finite, got {list(rel_sigmas)!r}")
    sigmas = torch.tensor([r * spread for r in rel], dtype=torch.float64)
    lo, hi = (float(v) for v in sde.sigma(torch.tensor([sde.eps, sde.T], dtype=torch.float64)))
    if not bool(((sigmas >= lo) & (sigmas <= hi)).all()):
        raise ValueError(f"the probe's noise levels {sigmas.tolist()} (x the data's spread "
                         f"{spread:.4g}) leave the SDE's sigma range [{lo:.4g}, {hi:.4g}]; "
                         f"rescale the data or the SDE")
    times = sde.t_from_sigma(sigmas)
    ctx = SolverContext(sde, score_fn, times, NoiseSource(generator))
    out = {}
    per_call = min(repeats, _repeats(len(x_data), d))   # copies of the data per batched call
    proj = None if basis is None else basis.to(torch.float64)
    with torch.no_grad():
        for i, r in enumerate(rel):
            sigma, total = float(sigmas[i]), 0.0
            for done in range(0, repeats, per_call):
                x = x_data.repeat(min(per_call, repeats - done), *([1] * (x_data.dim() - 1)))
                noisy = x + sigma * ctx.noise_source(x.shape, x.device, x.dtype)
                res = (ctx.x0(ctx.m[i] * noisy, i) - noisy).to(torch.float64).reshape(len(x), -1)
                total += float((res if proj is None else res @ proj.to(res.device)).pow(2).sum())
            out[r] = total / (len(x_data) * repeats * k * sigma ** 2)
    return out


SHARP_KINDS = ("any", "line", "one_dim", "ring", "not_ring")
"""Which sharp data a ``SHARP_RECIPES`` entry is for: any; line-like (a principal subspace of one dimension
in more coordinates); one coordinate, not ring-like; ring-like; not ring-like."""


def _matches(which: str, ring_like: bool, line_like: bool, one_dim: bool) -> bool:
    """Whether a ``SHARP_RECIPES`` entry for ``which`` data (``SHARP_KINDS``) applies."""
    if which == "line":
        return bool(line_like)
    if which == "one_dim":
        return bool(one_dim) and not ring_like
    return which == "any" or (which == "ring") == bool(ring_like)


def sharp_recipe(sde, steps: int, ring_like: bool = False, line_like: bool = False,
                 one_dim: bool = False, spread: Optional[float] = None) -> Tuple[str, Dict[str, Any]]:
    """(sampler, options) for sharp data on ``sde`` at ``steps`` steps; ``("unipc", {})`` where none
    is known (UniPC with its defaults). ``line_like``: the data's principal subspace is 1-D; ``one_dim``:
    the data has one coordinate; ``spread``: the data's RMS spread (None: not known, and
    ``SHARP_ONE_DIM_RECIPES``, which ends at a multiple of it, is not read)."""
    if one_dim and not ring_like and spread is not None:
        check_positive("spread", spread)
        for lo, hi, sampler, opts, c, p in SHARP_ONE_DIM_RECIPES.get(type(sde).__name__, ()):
            if lo <= int(steps) <= hi:
                sigma_end = c * (30.0 / int(steps)) ** p * float(spread)
                t_end = float(sde.t_from_sigma(torch.tensor(sigma_end, dtype=torch.float64)))
                return sampler, {**opts, "t_end": max(t_end, float(sde.eps))}
    for lo, hi, which, sampler, opts in SHARP_RECIPES.get(type(sde).__name__, ()):
        if which not in SHARP_KINDS:
            raise ValueError(f"SHARP_RECIPES entry for {which!r} data: expected one of {SHARP_KINDS}")
        if lo <= int(steps) <= hi and _matches(which, ring_like, line_like, one_dim):
            out = dict(opts)
            if "t_end" in out:
                out["t_end"] = max(out["t_end"], float(sde.eps))
            return sampler, out
    return "unipc", {}


def is_low_rank(ratios: Mapping[float, float]) -> bool:
    """R at least ``LOW_RANK_MIN_R`` at both probe levels, and the data not sharp (``is_sharp``)."""
    return min(ratios[PROBE_SIGMAS[0]], ratios[PROBE_SIGMAS[1]]) >= LOW_RANK_MIN_R and not is_sharp(ratios)


def is_ring_like(ratios: Mapping[float, float]) -> bool:
    """R(coarse) within ``RING_BAND``: sharp data that reads like a ring of sharp modes."""
    return RING_BAND[0] <= ratios[PROBE_SIGMAS[1]] <= RING_BAND[1]


def has_floor(ratios: Mapping[float, float]) -> bool:
    """R(coarse) - R(fine) at least ``FLOOR_MIN_RISE``: a noise floor under low-rank data."""
    return -ratio_drop(ratios) >= FLOOR_MIN_RISE


def low_rank_recipe(sde, steps: int, spread: float, floor: bool = False,
                    dim: Optional[int] = None) -> Tuple[str, Dict[str, Any]]:
    """(sampler, options) for low-rank data of RMS spread ``spread`` on ``sde`` at ``steps`` steps
    (``LOW_RANK_RECIPES``; with ``floor``, ``LOW_RANK_FLOOR_RECIPES`` first, where a grid of None keeps
    the sampler's own and an entry with c, p steps onto 0; without it and with the data's ``dim``,
    ``LOW_RANK_HIGH_DIM_RECIPES`` first);
    ``("unipc", {})`` where none is known. The start of the step onto 0 is the time where sigma = sigma_j,
    kept between the default end time and T / 2."""
    check_positive("spread", spread)
    _check_dim(dim)
    name = type(sde).__name__
    for entry in (LOW_RANK_FLOOR_RECIPES.get(name, ()) if floor else ()):
        lo, hi, sampler, opts, grid = entry[:5]
        if lo <= int(steps) <= hi:
            if len(entry) == 7:                          # with c, p: onto 0 from sigma_j, as LOW_RANK_RECIPES'
                return _onto_zero(sde, steps, spread, *entry[2:])
            return sampler, ({**opts, "grid": grid} if grid is not None else dict(opts))
    wide = LOW_RANK_HIGH_DIM_RECIPES.get(name, ()) if dim is not None and not floor else ()
    entries = _wide_first(wide, dim, LOW_RANK_RECIPES.get(name, ()))
    for lo, hi, *entry in entries:
        if lo <= int(steps) <= hi:
            return _onto_zero(sde, steps, spread, *entry)
    return "unipc", {}


def _onto_zero(sde, steps: int, spread: float, sampler: str, opts, grid: str, c: float, p: float, banded: bool = True):
    """(sampler, options) of an entry that runs ``grid`` to sigma_j = c (10 / steps)^p spreads, then steps onto 0
    (``banded``: in ``LOW_RANK_BANDS``' bands, the low-rank tables; the ill-conditioned ones have none)."""
    start = _zero_step_start(sde, steps, c * (10.0 / steps) ** p * spread)
    bands = low_rank_bands(sde, steps, spread, start) if banded else ()
    return sampler, {**opts, "grid": ZeroEnded(grid, start, bands)}


def _zero_step_start(sde, steps: int, sigma_j: float) -> float:
    """The time the step onto sigma = 0 starts from: where sigma = ``sigma_j``, kept between the default end time
    and T / 2."""
    start = float(sde.t_from_sigma(torch.tensor(sigma_j, dtype=torch.float64)))
    return min(max(start, default_t_end(sde, steps)), 0.5 * float(sde.T))


def is_ill_conditioned(ratios: Mapping[float, float]) -> bool:
    """R at least ``ILL_CONDITIONED_MIN_R`` at both probe levels, the data neither sharp nor low-rank."""
    fine, coarse = ratios[PROBE_SIGMAS[0]], ratios[PROBE_SIGMAS[1]]
    return (fine >= ILL_CONDITIONED_MIN_R[0] and coarse >= ILL_CONDITIONED_MIN_R[1]
            and not is_sharp(ratios) and not is_low_rank(ratios))


def _wide_first(wide, dim, entries) -> list:
    """The entries of a large-data table ``wide`` whose min dimension (their third field, dropped) ``dim`` reaches,
    then ``entries``: the order ``low_rank_recipe`` and ``ill_conditioned_recipe`` read them in."""
    return [e[:2] + e[3:] for e in wide if dim >= e[2]] + list(entries)


def _check_dim(dim) -> None:
    """The data's coordinates per sample for the large-data entries: an int >= 1, or None (not known)."""
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise ValueError(f"dim must be an int >= 1 (the data's coordinates) or None, got {dim!r}")


def ill_conditioned_recipe(sde, steps: int, dim: Optional[int] = None,
                           spread: Optional[float] = None) -> Tuple[str, Dict[str, Any]]:
    """(sampler, options) for ill-conditioned data of RMS spread ``spread`` on ``sde`` at ``steps`` steps (with the
    data's ``dim``, ``ILL_CONDITIONED_HIGH_DIM_RECIPES`` first, then ``ILL_CONDITIONED_RECIPES``): the named grid to
    sigma_j = c (10 / steps)^p spreads (c = 0: the SDE's default end), then one step onto t = 0; ``("unipc", {})``
    where none is known (an entry with c > 0 is not read where the spread is not known, ``spread`` None)."""
    _check_dim(dim)
    if spread is not None:
        check_positive("spread", spread)
    name = type(sde).__name__
    wide = ILL_CONDITIONED_HIGH_DIM_RECIPES.get(name, ()) if dim is not None else ()
    for lo, hi, sampler, opts, grid, c, p in _wide_first(wide, dim, ILL_CONDITIONED_RECIPES.get(name, ())):
        if lo <= int(steps) <= hi and (c == 0 or spread is not None):
            return _onto_zero(sde, steps, spread or 0.0, sampler, opts, grid, c, p, banded=False)
    return "unipc", {}


def low_rank_bands(sde, steps: int, spread: float, start: float) -> Tuple[Tuple[float, int], ...]:
    """The ``bands`` of the low-rank pick's zero-ended grid at ``steps`` steps from ``start``
    (``LOW_RANK_BANDS``); () where the SDE or the step count has none or the edges do not fit."""
    for lo, hi, (a, b), n_low in LOW_RANK_BANDS.get(type(sde).__name__, ()):
        if lo <= int(steps) <= hi:
            n_top = round((steps - 1) / 3)
            n_mid = steps - 1 - n_top - n_low
            t_a, t_b = (float(sde.t_from_sigma(torch.tensor(k * spread, dtype=torch.float64))) for k in (a, b))
            if n_mid >= 1 and float(start) < t_b < t_a < float(sde.T):
                return ((t_a, n_top), (t_b, n_mid))
    return ()

def probe_sharp_modes(sde, score_fn, steps: int, x_data: Optional[torch.Tensor] = None, *,
                      shape: Optional[Sequence[int]] = None, pilot: int = 256,
                      pilot_steps: int = PILOT_STEPS, generator: Optional[torch.Generator] = None,
                      dtype: torch.dtype = torch.float32) -> SharpModes:
    """Probe the data (``x_data``, e.g. a training batch; without it, ``pilot`` samples of one
    sample's ``shape`` drawn by UniPC with its defaults at ``pilot_steps`` steps) and return
    :class:`SharpModes`: ``sample(..., sampler=found.sampler, steps=steps, **found.options)``.
    Costs 2 batched model calls on the data (``probe_calls``: more where the data is embedded) and
    ``pilot_steps`` on the pilot."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1 (the step count the options are for), got {steps!r}")
    nfe = 0
    if x_data is None:
        if shape is None:
            raise ValueError("give x_data (data points) or shape (the shape of one sample) for a pilot run")
        if isinstance(pilot, bool) or not isinstance(pilot, int) or pilot < 2:
            raise ValueError(f"pilot must be an int >= 2, got {pilot!r}")
        from .base import sample
        x_data, info = sample(sde, score_fn, (pilot, *shape), sampler="unipc", steps=pilot_steps,
                              generator=generator, dtype=dtype, progress=False)
        nfe = info.nfe
    basis, _ = principal_basis(x_data)       # checks the data first
    ratios = denoising_ratio(sde, score_fn, x_data, PROBE_SIGMAS, generator, basis=basis)
    d = x_data[0].numel()
    calls = probe_calls(len(x_data), d, d if basis is None else basis.shape[1])
    found = SharpModes(sharp=is_sharp(ratios, embedded=basis is not None), ratios=ratios,
                       spread=_spread(x_data, basis), nfe=nfe + calls,
                       ring_like=is_ring_like(ratios),
                       subspace=None if basis is None else basis.shape[1],
                       low_rank=basis is None and is_low_rank(ratios), one_dim=d == 1, dim=d)
    return found.at_steps(sde, steps)
