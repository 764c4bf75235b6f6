"""Mutation check: apply a plausible bug (maths, stochastic samplers, training, metrics,
benchmark records), run the tests meant to catch it, and record whether they fail (they must).
Each mutation runs in a throw-away copy of the tree, with that copy on PYTHONPATH. A mutation
whose text is no longer found is reported as "MUTATION NOT APPLIED" (and counts as a failure),
so a refactor that moves the target shows up here instead of passing silently.

    OMP_NUM_THREADS=1 python benchmarks/mutation_check.py [--out benchmarks/results/mutations.md]

Exit status 1 when some mutation survives. Table format: | # | mutation | file | tests run | caught by |.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, file, old, new, pytest selection)
MUTATIONS = [
    ("PF-ODE drift without the 1/2", "sde_diffusion/sdes/base.py", "    score_factor = 0.5\n",
     "    score_factor = 1.0\n", ["tests/sdes/test_sdes.py", "-k", "torchsde_interface or recover_mixture"]),
    ("sign of the score term in the reverse drift", "sde_diffusion/sdes/base.py",
     "return f * x - (self.score_factor * g * g) * score", "return f * x + (self.score_factor * g * g) * score",
     ["tests/sdes/test_sdes.py", "-k", "torchsde_interface"]),
    ("off-by-one in alpha_bar of the discrete chain", "sde_diffusion/sdes/discrete.py",
     "torch.cumprod(self.alphas, 0)])", "torch.cumprod(torch.cat([betas.new_ones(1), self.alphas[:-1]]), 0)])",
     ["tests/sdes/test_sdes.py", "-k", "discrete or composed or posterior_mean"]),
    ("VE diffusion without the log factor", "sde_diffusion/sdes/ve.py",
     "return sig * math.sqrt(2 * self._log_ratio / self.T)", "return sig * math.sqrt(2 / self.T)",
     ["tests/sdes/test_sdes.py", "-k", "ve_diffusion or kernel_consistent"]),
    ("phi_2 weight of dpm_solver2 (+1 -> +1/2)", "sde_diffusion/solvers/exponential.py",
     "phi2 = phi1 / h + 1.0", "phi2 = phi1 / h + 0.5",
     ["tests/solvers/test_solvers.py", "-k", "convergence_order and dpm_solver2"]),
    ("Tweedie with s instead of s^2 (eps = -score)", "sde_diffusion/models/parameterization.py",
     "alpha=float(s) * float(s)", "alpha=float(s)",
     ["tests/solvers/test_solvers.py", "-k", "final_denoise_is_tweedie"]),
    ("score -> eps map with s instead of -s", "sde_diffusion/models/parameterization.py",
     "    if kind == \"score\":\n        return -s * pred", "    if kind == \"score\":\n        return s * pred",
     ["tests/models/test_models.py", "-k", "round_trips"]),
    ("sign of eps -> score", "sde_diffusion/models/parameterization.py", "return -eps / s", "return eps / s",
     ["tests/models/test_models.py", "-k", "round_trips"]),
    ("sign of g^2 div(score) in the likelihood divergence", "sde_diffusion/sdes/base.py",
     "return dim * f - (self.score_factor", "return dim * f + (self.score_factor",
     ["tests/likelihood/test_likelihood.py", "-k", "gaussian or exact"]),
    ("EDM c_skip = sd^2 r instead of sd^2 r^2", "sde_diffusion/models/edm.py", "c_skip=sd2 * r * r",
     "c_skip=sd2 * r", ["tests/solvers/test_edm.py", "-k", "coefficients or exact_net"]),
    ("ancestral posterior variance uses s(t)^2 (= forward variance)", "sde_diffusion/solvers/pc.py",
     "v = (ctx.s[i + 1] ** 2 * b / s2", "v = (ctx.s[i] ** 2 * b / s2",
     ["tests/solvers/test_solvers.py", "-k", "ancestral_equals_discrete"]),
    ("VP kernel variance 1 - exp(-B/2)", "sde_diffusion/sdes/vp.py",
     "return torch.exp(-0.5 * B), torch.sqrt(-torch.expm1(-B))",
     "return torch.exp(-0.5 * B), torch.sqrt(-torch.expm1(-0.5 * B))",
     ["tests/sdes/test_sdes.py", "-k", "perturb_and_prior or kernel_consistent"]),
    ("Heun's corrector slope replaced by the predictor's (order 1)", "sde_diffusion/solvers/integrator.py",
     "(0.5 * h) * (b + c)", "(0.5 * h) * (b + b)",
     ["tests/solvers/test_solvers.py", "-k", "convergence_order and heun-vp"]),
    ("Langevin noise sqrt(e) instead of sqrt(2 e)", "sde_diffusion/solvers/pc.py",
     "torch.sqrt(2.0 * e) * z", "torch.sqrt(e) * z", ["tests/solvers/test_solvers.py", "-k", "langevin_alone"]),
    ("ELBO control variate integral with the wrong sign of lambda(T)", "sde_diffusion/likelihood/bounds.py",
     "float(sde.log_snr(eps) - sde.log_snr(T))", "float(sde.log_snr(eps) + sde.log_snr(T))",
     ["tests/likelihood/test_elbo.py", "-k", "control or exact or gaussian"]),
    ("sub-VP diffusion with 1 - exp(-B) instead of 1 - exp(-2B)", "sde_diffusion/sdes/vp.py",
     "-torch.expm1(-2.0 * B)", "-torch.expm1(-B)", ["tests/sdes/test_sdes.py", "-k", "kernel_consistent"]),
    ("EDM noise label not normalised (ln sigma / 4)", "sde_diffusion/models/precond.py",
     "return (torch.log(s / m) - self.log_sigma_lo) / (self.log_sigma_hi - self.log_sigma_lo)",
     "return 0.25 * torch.log(s / m)", ["tests/solvers/test_edm.py", "-k", "exact_net"]),
    # researcher's day: thread plan, progress, data inference, error hints
    ("progress ETA from all units done, resumed ones included", "sde_diffusion/progress.py",
     "new = self.done - self.initial", "new = self.done",
     ["tests/test_progress.py"]),
    ("thread plan ignores the load average", "sde_diffusion/threads.py",
     "        if free < threads:\n", "        if False:\n",
     ["tests/test_threads.py", "-k", "other_processes or logged_once"]),
    ("images inferred from 2-D samples instead of 3-D", "sde_diffusion/data/bundle.py",
     "\"images\" if len(shape) == 3 else \"points\"", "\"images\" if len(shape) == 2 else \"points\"",
     ["tests/training/test_training_data.py", "-k", "labels_and_images"]),
    ("a sweep's later values not checked", "sde_diffusion/configs/errors.py",
     "    for overrides in _sweep_variants(plain)[:64]:", "    for overrides in _sweep_variants(plain)[:1]:",
     ["tests/configs/test_script_errors.py", "-k", "sweep"]),
    # application layer: run folders, data paths, inpainting guidance, the SW floor
    ("output subfolder link not refused", "sde_diffusion/app/folders.py",
     "if sub.is_symlink() or not sub.is_dir()", "if False and (sub.is_symlink() or not sub.is_dir())",
     ["tests/app/test_run_folders.py", "-k", "link"]),
    ("output folder made check-then-mkdir (exist_ok)", "sde_diffusion/app/folders.py",
     "            os.mkdir(path)  # atomic: exactly one process creates it",
     "            os.makedirs(path, exist_ok=True)",
     ["tests/app/test_run_folders.py", "-k", "sixteen"]),
    ("stored data path not confined to the run", "sde_diffusion/app/data.py",
     "        if any(inside(r, target) for r in roots):", "        if True:",
     ["tests/app/test_run_folders.py", "-k", "data"]),
    ("stored grid resolved against the current folder", "sde_diffusion/app/models.py",
     "    path = Path(folder) / os.fspath(grid)", "    path = Path(os.fspath(grid))",
     ["tests/app/test_run_folders.py", "-k", "grid"]),
    ("guidance state bound never checked", "sde_diffusion/conditional/inverse.py",
     "    grown = (x.abs() > STATE_BOUND * noise).any()", "    grown = (x.abs() > STATE_BOUND * noise).any() & False",
     ["tests/conditional/test_inpainting_stability.py"]),
    ("SW floor = one draw instead of the mean", "sde_diffusion/training/sampling.py",
     "mean, sd = float(f.mean()), float(f.std())", "mean, sd = float(f[0]), float(f.std())",
     ["tests/app/test_sw_floor.py"]),
    ("order rule: no lower order at the last steps", "sde_diffusion/solvers/order.py",
     "            p = min(p, n - i)\n", "            p = p\n", ["tests/solvers/test_order_rule.py"]),
    ("order rule: far extrapolation allowed (gap test inverted)", "sde_diffusion/solvers/order.py",
     "gap >= min_ratio * h", "gap <= min_ratio * h", ["tests/solvers/test_order_rule.py", "-k", "extrapolation"]),
    ("iPNDM-4 weight -9/24 -> -8/24", "sde_diffusion/solvers/ipndm.py", "37 / 24, -9 / 24",
     "37 / 24, -8 / 24", ["tests/solvers/test_ipndm.py"]),
    ("iPNDM-v weights from the wrong interval end", "sde_diffusion/solvers/ipndm.py",
     "q = sig[i] + (sig[i + 1] - sig[i]) * u", "q = sig[i - 1] + (sig[i] - sig[i - 1]) * u",
     ["tests/solvers/test_ipndm.py", "-k", "variable"]),
    ("UniC-1 weight rho = 0.6 instead of 1/2", "sde_diffusion/solvers/unipc.py", "rho = [0.5]",
     "rho = [0.6]", ["tests/solvers/test_fewstep.py", "-k", "order_vp and unipc"]),
    ("native model asked for eps where the sampler wants x0", "sde_diffusion/solvers/context.py",
     "x0 = self._native(x, i, \"x0\")", "x0 = self._native(x, i, \"eps\")",
     ["tests/solvers/test_solver_core.py", "-k", "agree"]),
    ("VE default end back at eps (s(eps) << sigma_min)", "sde_diffusion/solvers/grids.py",
     "    if floor is not None:\n", "    if False:\n",
     ["tests/solvers/test_solvers.py", "-k", "trajectory_callback"]),
    # pretrained diffusers models and metrics
    ("diffusers timestep n = N t (no -1)", "sde_diffusion/models/diffusers.py",
     "n = t * self.num_train_timesteps - 1.0", "n = t * self.num_train_timesteps",
     ["tests/models/test_diffusers.py", "-k", "score_is_minus or equals_diffusers"]),
    ("DiscreteBeta nodes shifted by one cell", "sde_diffusion/sdes/schedules.py",
     "self._t = torch.linspace(0.0, self.T, self.num_steps + 1, dtype=torch.float64)",
     "self._t = torch.linspace(0.0, self.T, self.num_steps + 1, dtype=torch.float64) + self.T / self.num_steps",
     ["tests/models/test_diffusers.py", "-k", "marginal_at_nodes or persists"]),
    ("KID without removing the diagonal (biased)", "sde_diffusion/metrics.py",
     "return ((kaa.sum() - kaa.diagonal().sum())", "return ((kaa.sum())",
     ["tests/metrics/test_metrics.py", "-k", "kid"]),
    ("coverage radius halved", "sde_diffusion/metrics.py",
     '"coverage": float((d.min(0).values <= r_x)', '"coverage": float((d.min(0).values <= 0.5 * r_x)',
     ["tests/metrics/test_metrics.py", "-k", "prdc"]),
    # stochastic samplers: step sizes and time indices (tests/solvers/test_stochastic_marginals.py)
    ("Langevin corrector: score read at the previous grid time", "sde_diffusion/solvers/pc.py",
     "x = langevin_step(x, ctx.score(x, ctx.t[i]), ctx.noise(x)",
     "x = langevin_step(x, ctx.score(x, ctx.t[i - 1]), ctx.noise(x)",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "langevin"]),
    ("Langevin corrector: alpha from the inverted ratio m_i/m_(i-1)", "sde_diffusion/solvers/pc.py",
     "alpha = (ctx.m[i - 1] / ctx.m[i]) ** 2", "alpha = (ctx.m[i] / ctx.m[i - 1]) ** 2",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "langevin"]),
    ("annealed Langevin: step size from the previous noise level", "sde_diffusion/solvers/pc.py",
     "e = self.step_scale * ctx.s[i] ** 2", "e = self.step_scale * ctx.s[i - 1] ** 2",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "annealed"]),
    ("annealed Langevin: full step e on the score (not e/2)", "sde_diffusion/solvers/pc.py",
     "x = x + (0.5 * e) * ctx.score(x, ctx.t[i])", "x = x + e * ctx.score(x, ctx.t[i])",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "annealed"]),
    ("reverse diffusion: score at the step's end time", "sde_diffusion/solvers/pc.py",
     "return (2.0 - a) * x + b * ctx.score(x, ctx.t[i])", "return (2.0 - a) * x + b * ctx.score(x, ctx.t[i + 1])",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "reverse_diffusion"]),
    ("reverse diffusion: noise variance a*b instead of b", "sde_diffusion/solvers/pc.py",
     "b * ctx.score(x, ctx.t[i]) + math.sqrt(b) * ctx.noise(x)",
     "b * ctx.score(x, ctx.t[i]) + math.sqrt(a * b) * ctx.noise(x)",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "reverse_diffusion"]),
    ("Euler-Maruyama: drift read at the step's end time", "sde_diffusion/solvers/pc.py",
     "return x + ctx.reverse_drift(x, i) * dt", "return x + ctx.reverse_drift(x, i + 1) * dt",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "euler_maruyama"]),
    ("Euler-Maruyama: noise g(t_(i+1)) instead of g(t_i)", "sde_diffusion/solvers/pc.py",
     "(ctx.g[i] * math.sqrt(-dt)) * ctx.noise(x)", "(ctx.g[i + 1] * math.sqrt(-dt)) * ctx.noise(x)",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "euler_maruyama"]),
    ("ancestral: posterior variance with s_i^2/s_(i+1)^2 inverted", "sde_diffusion/solvers/pc.py",
     "v = (ctx.s[i + 1] ** 2 * b / s2", "v = (s2 * b / ctx.s[i + 1] ** 2",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "ancestral"]),
    ("SDE DPM-Solver++(2M): noise std without the square root", "sde_diffusion/solvers/dpmpp_sde.py",
     "math.sqrt(-math.expm1(-2.0 * self.eta * h))", "(-math.expm1(-2.0 * self.eta * h))",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "dpmpp"]),
    ("SDE DPM-Solver++(2M): e^(-eta h) decay with eta h/2", "sde_diffusion/solvers/dpmpp_sde.py",
     "math.exp(-self.eta * h) * x", "math.exp(-0.5 * self.eta * h) * x",
     ["tests/solvers/test_stochastic_marginals.py", "-k", "dpmpp"]),
    # deterministic few-step and training pieces
    ("UniPC bh2: B(h) = e^h - 1 (sign of h) instead of 1 - e^(-h)", "sde_diffusion/solvers/unipc.py",
     "return h if variant == \"bh1\" else -math.expm1(-h)", "return h if variant == \"bh1\" else math.expm1(h)",
     ["tests/solvers/test_unipc_reference.py"]),
    ("EMA warm-up decay counted from 1", "sde_diffusion/training/ema.py",
     "n = self.num_updates\n", "n = self.num_updates + 1\n",
     ["tests/training/test_training_schedules.py", "-k", "ema"]),
    ("LR schedule read at the next step index", "sde_diffusion/training/loop.py",
     "f = float(self.lr_schedule(self.step))", "f = float(self.lr_schedule(self.step + 1))",
     ["tests/training/test_training_schedules.py", "-k", "lr_schedule"]),
    ("MMD as the biased V-statistic", "sde_diffusion/metrics.py",
     "kxx = (k(dxx).sum() - n) / (n * (n - 1))", "kxx = k(dxx).sum() / (n * n)",
     ["tests/metrics/test_metrics_unbiased.py"]),
    ("benchmark record written in place (not atomic)", "sde_diffusion/benchmarking/records.py",
     "fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f\".{path.name}.\", suffix=\".tmp\")",
     "fd, tmp = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), str(path)",
     ["tests/benchmarking/test_benchmark_records.py", "-k", "atomic"]),
    ("allow-list walk skips list entries", "sde_diffusion/registry.py",
     "        for i, v in enumerate(spec):\n            check_spec(v, f\"{path}[{i}]\", training)",
     "        pass", ["tests/io/test_allow_list.py", "-k", "hidden"]),
    ("allow-list walk skips special keys (_args_, _partial_, ...)", "sde_diffusion/registry.py",
     "            check_spec(v, f\"{path}.{k}\" if path else k, training)",
     "            if k not in _SPECIAL:\n                check_spec(v, f\"{path}.{k}\" if path else k, training)",
     ["tests/io/test_allow_list.py", "-k", "hidden"]),
    ("model folder's .pt loaded without weights_only", "sde_diffusion/weights_file.py",
     "torch.load(fh, map_location=\"cpu\", weights_only=True)", "torch.load(fh, map_location=\"cpu\", weights_only=False)",
     ["tests/io/test_allow_list.py", "-k", "weights_only"]),
    ("stored tensors' strides not checked (expanded storages pass)", "sde_diffusion/weights_file.py",
     "        if not t.is_contiguous():", "        if False:", ["tests/io/test_file_trust.py", "-k", "expanded"]),
    ("stale-tmp cleanup removes every *.tmp", "sde_diffusion/io/checkpoints.py",
     "if _TMP_PATTERN.match(p.name)", "if p.name.endswith(\".tmp\")", ["tests/io/test_file_trust.py", "-k", "naming_scheme"]),
    ("write errors read without their __cause__ / __context__ chain", "sde_diffusion/io/files.py",
     "        e = e.__cause__ or e.__context__", "        e = None", ["tests/io/test_file_trust.py", "-k", "disk_full"]),
    ("limit step from t = 1 with s(t_0) instead of s(t_1)", "sde_diffusion/solvers/base.py",
     "return ctx.m[1] * d + ctx.s[1] * z", "return ctx.m[1] * d + ctx.s[0] * z",
     ["tests/solvers/test_flow_samplers.py", "-k", "limit_step"]),
    ("PF drift at t = 1 with -s' eps", "sde_diffusion/solvers/context.py",
     "return self.dm[i] * x0 + self.ds[i] * eps", "return self.dm[i] * x0 - self.ds[i] * eps",
     ["tests/solvers/test_flow_samplers.py", "-k", "pf_ode_samplers_start_at_t1"]),
    ("VP end time with power 1 instead of 2", "sde_diffusion/solvers/grids.py",
     "FEW_STEP_POWER = 2.0", "FEW_STEP_POWER = 1.0", ["tests/solvers/test_grids.py", "-k", "end_time_rule"]),
    ("label dropout keeps labels with probability p instead of 1 - p", "sde_diffusion/training/loop.py",
     "torch.where(u < p, torch.full_like(y, self.model.num_classes), y)",
     "torch.where(u > p, torch.full_like(y, self.model.num_classes), y)",
     ["tests/training/test_label_dropout.py", "-k", "fraction"]),
    ("null label one below num_classes", "sde_diffusion/training/loop.py",
     "torch.full_like(y, self.model.num_classes), y)", "torch.full_like(y, self.model.num_classes - 1), y)",
     ["tests/training/test_label_dropout.py", "-k", "fraction"]),
    ("data_std=None never set from the training data", "sde_diffusion/training/loop.py",
     "        if not model.data_std_resolved:\n", "        if False:\n",
     ["tests/training/test_data_std.py", "-k", "sets_data_std or hydra"]),
]

MUTATIONS += [  # few-step benchmark: optimize_grid, GITS
    ("optimize_grid falls back to the worst named grid on validation",
     "sde_diffusion/solvers/optimized_grid.py", "best_named = min(named, key=lambda r: r[1])",
     "best_named = max(named, key=lambda r: r[1])",
     ["tests/solvers/test_optimize_grid.py", "-k", "never_worse"]),
    ("GITS dynamic programme maximises", "sde_diffusion/solvers/optimized_grid.py",
     "(C[k - 1][:, None] + cost.to(torch.float64)).min(0)",
     "(C[k - 1][:, None] + cost.to(torch.float64)).nan_to_num(posinf=-1.0).max(0)",
     ["tests/solvers/test_optimize_grid.py", "-k", "shortest_path"]),
    # ---- flow matching
    ("flow g^2 without the -2 (alpha'/alpha) sigma^2 term", "sde_diffusion/sdes/flow.py",
     "g2 = 2 * s * (a * ds - da * s) / a", "g2 = 2 * s * ds",
     ["tests/sdes/test_flow_paths.py", "-k", "give_back_the_kernel or closed_forms"]),
    ("velocity -> x0 with the sign of s u flipped", "sde_diffusion/models/parameterization.py",
     "return (ds * x_t - s_ * u) / D", "return (ds * x_t + s_ * u) / D",
     ["tests/sdes/test_flow_paths.py", "-k", "velocity_maps"]),
    ("flow_sde without the posterior-variance factor (too much noise)", "sde_diffusion/solvers/flow_sde.py",
     "c = self.eta * s1 * math.sqrt(max(0.0, 1.0 - ratio))", "c = self.eta * s1",
     ["tests/solvers/test_flow_samplers.py", "-k", "keeps_the_marginals"]),
    ("flow midpoint evaluated at t instead of the midpoint time", "sde_diffusion/solvers/flow_euler.py",
     "velocity_at(ctx, x_mid, t + 0.5 * h)", "velocity_at(ctx, x_mid, t)",
     ["tests/solvers/test_flow_samplers.py", "-k", "order and flow_midpoint"]),
    ("SD3 shift applied as shift t / (1 + shift t)", "sde_diffusion/solvers/flow_euler.py",
     "return shift * t / (1.0 + (shift - 1.0) * t)", "return shift * t / (1.0 + shift * t)",
     ["tests/solvers/test_flow_peers.py", "tests/solvers/test_flow_samplers.py", "-k", "shift"]),
    # ---- solver core: the loop's guarantees, held by ctx.loop / ctx.finish_step
    ("finish_step skips the after_step hook", "sde_diffusion/solvers/context.py",
     "        if self.after_step is not None:\n            x = self.after_step(x, self.t[i], self.noise)\n        self.flag_nonfinite(x, i)",
     "        self.flag_nonfinite(x, i)",
     ["tests/conditional/test_conditional.py", "-k", "replacement_sampling_hits"]),
    ("finish_step flags nothing (NaN passes silently)", "sde_diffusion/solvers/context.py",
     "        self.flag_nonfinite(x, i)\n        self.record(x, i)", "        self.record(x, i)",
     ["tests/sdes/test_maths_bad_input.py", "-k", "nan_score_names_the_step"]),
    ("callbacks after the limit first step lose the grid offset", "sde_diffusion/solvers/context.py",
     '"i": i + self.offset', '"i": i', ["tests/solvers/test_solver_core.py", "-k", "callback_index"]),
    ("ctx.loop does not check that a step ended with finish_step", "sde_diffusion/solvers/context.py",
     "                if self._done != i + 1:", "                if False:",
     ["tests/solvers/test_solver_core.py", "-k", "skips_finish_step"]),
]

MUTATIONS += [  # the one weights-file reader (model folders, diffusers, Inception)
    ("weights file's type not checked (FIFO, device read)", "sde_diffusion/weights_file.py",
     "        if not stat.S_ISREG(st.st_mode):", "        if False:",
     ["tests/test_weights_file.py", "-k", "fifo or dev"]),
    ("weights read with weights_only=False (pickled code runs)", "sde_diffusion/weights_file.py",
     "torch.load(fh, map_location=\"cpu\", weights_only=True)", "torch.load(fh, map_location=\"cpu\", weights_only=False)",
     ["tests/test_weights_file.py", "-k", "pickle"]),
    ("weights read without the storage check", "sde_diffusion/weights_file.py",
     "    check_storages(state, f\"{what} {str(p)!r}\")\n", "\n",
     ["tests/test_weights_file.py", "-k", "expanded"]),
    ("feature classifier trained on misaligned labels", "sde_diffusion/training/quality.py",
     "cross_entropy(net(xb), yb)", "cross_entropy(net(xb), yb.flip(0))", ["tests/training/test_quality.py"]),
    ("Trainer accepts an infinite learning rate", "sde_diffusion/training/checks.py",
     "if not (np.isfinite(lr) and 0 < lr <= MAX_LR):", "if not 0 < lr:",
     ["tests/training/test_training_bad_input.py", "-k", "lr or learning"]),
]


MUTATIONS += [  # benchmark score source spelled source=diffusers:<folder>
    ("benchmark source= ignored (the analytic score runs instead)", "sde_diffusion/configs/benchmark.py",
     '    cell["checkpoint"] = _score_source(cfg.get("source"), cell["checkpoint"])\n', "",
     ["tests/benchmarking/test_benchmark_source.py"]),
]

MUTATIONS += [  # few-step defaults on the problem suite
    ("iPNDM default without the analytic first step", "sde_diffusion/solvers/ipndm.py",
     "    def __init__(self, order: int = 4, afs: bool = True, lower_order_final: bool = True):",
     "    def __init__(self, order: int = 4, afs: bool = False, lower_order_final: bool = True):",
     ["tests/solvers/test_fewstep.py", "-k", "nfe_exact"]),
    ("suite: the post-split tuning additions also join the validation half",
     "sde_diffusion/analytic/suite.py",
     '"validation": sorted(names[i] for i in perm[half:])}',
     '"validation": sorted([names[i] for i in perm[half:]] + list(TUNING_ADDITIONS))}',
     ["tests/analytic/test_problem_suite.py"]),
]

MUTATIONS += [  # a user's parameterisation registered with @register_precond
    ("a registered parameterisation built as EDM's", "sde_diffusion/models/precond.py",
     "    return cls(sde, data_std, input_scaling)", "    return EDMPrecond(sde, data_std, input_scaling)",
     ["tests/io/test_registration.py", "-k", "map_the_model"]),
]

MUTATIONS += [  # per-(SDE, sampler) defaults and optimize_grid's held-out batch (issue 21)
    ("make_times ignores the SDE's per-sampler grid", "sde_diffusion/solvers/base.py",
     'return (self.tuned_on(sde).get("grid") or self.default_grid',
     "return (self.default_grid", ["tests/solvers/test_sampler_defaults.py"]),
    ("no step onto sigma = 0 from zero_from steps", "sde_diffusion/solvers/grids.py",
     "    if zero_from is not None and steps >= zero_from:",
     "    if False:",
     ["tests/solvers/test_sampler_defaults.py"]),
    ("the step onto sigma = 0 taken one step too late", "sde_diffusion/solvers/base.py",
     "times = make_grid(sde, grid, steps - 1, start, t_start)", "times = make_grid(sde, grid, steps, start, t_start)",
     ["tests/solvers/test_sampler_defaults.py"]),
    ("optimize_grid validates on part of x_calib by default", "sde_diffusion/solvers/optimized_grid.py",
     "if x_val is None and n_val > 0 and", "if x_val is None and n_val < 0 and",
     ["tests/solvers/test_optimize_grid.py", "-k", "1024_fresh"]),
    ("per-sampler choice ignores the tie factor", "benchmarks/bench_suite_report.py",
     "return min((k for k, s in zip(keys, score) if s <= tie * w), key=",
     "return min((k for k, s in zip(keys, score) if s <= w), key=",
     ["tests/benchmarking/test_suite_report.py"]),
    ("optimize_grid's final_zero candidate never steps onto sigma = 0", "sde_diffusion/solvers/optimized_grid.py",
     'return torch.cat([times, times.new_zeros(1)]) if opts.get("final_zero") else times',
     "return times", ["tests/solvers/test_optimize_grid.py", "-k", "onto_sigma_zero"]),
    ("same-footing peers take the per-cell oracle", "benchmarks/bench_suite_report.py",
     'peer = [r["rms"] for r in rs if r["kind"] == "peer" and (k[1], r["row"]) in keep]',
     'peer = [r["rms"] for r in rs if r["kind"] == "peer"]',
     ["tests/benchmarking/test_suite_report.py"]),
]

MUTATIONS += [  # orders from the step sizes: above 4 only on short steps, final lowering on long
    ("order rule: orders above 4 on long steps (MAX_STEP ignored)", "sde_diffusion/solvers/order.py",
     "        while p + gain >= 4 and not h <= MAX_STEP.get(", "        while False and not h <= MAX_STEP.get(",
     ["tests/solvers/test_order_rule.py", "-k", "short_enough_steps"]),
    ("order rule: the corrector's order gain not counted", "sde_diffusion/solvers/order.py",
     "    gain = 1 if corrected else 0", "    gain = 0",
     ["tests/solvers/test_order_rule.py", "-k", "short_enough_steps"]),
    ("UniPC does not tell the order rule that it corrects", "sde_diffusion/solvers/unipc.py",
     "corrected=self.corrector)", "corrected=False)",
     ["tests/solvers/test_sampler_defaults.py", "-k", "unipc_default_order"]),
    ("order rule: short final steps lowered too (FINAL_LONG_STEP ignored)", "sde_diffusion/solvers/order.py",
     "if lower_order_final and not h <= FINAL_LONG_STEP:", "if lower_order_final:",
     ["tests/solvers/test_order_rule.py", "-k", "final_steps_keep"]),
]

MUTATIONS += [  # round 5: the worst case per budget
    ("per-sampler rule: worst case over all budgets even with per_budget", "benchmarks/bench_suite_report.py",
     "        score = [max(w[b] / floor[b] for b in floor) for w in worst_at]",
     "        score = [max(cands[k].values()) for k in keys]",
     ["tests/benchmarking/test_suite_report.py", "-k", "per_budget"]),
    ("VP UniPC stops at t_end from 50 steps (its zero_from lost)", "sde_diffusion/sdes/vp.py",
     '"dpm_solver3": {"zero_from": 50}, "unipc": {"zero_from": 50},', '"dpm_solver3": {"zero_from": 50},',
     ["tests/solvers/test_sampler_defaults.py", "-k", "beats_the_sdes_default"]),
    ("choice rule's tie-break ignores clip", "benchmarks/bench_suite_report.py",
     "gm = lambda v: sum(math.log(max(x, clip)) for x in v) / len(v)",
     "gm = lambda v: sum(math.log(x) for x in v) / len(v)",
     ["tests/benchmarking/test_suite_report.py", "-k", "clip"]),
    ("pointwise report leaves out the smallest point instead of the largest", "benchmarks/bench_suite_pointwise.py",
     "return rms(torch.sort(e).values[:-1])", "return rms(torch.sort(e).values[1:])",
     ["tests/benchmarking/test_suite_pointwise.py"]),
]

MUTATIONS += [  # round 6: optimize_grid's held-out batch size
    ("optimize_grid validates on 256 points again", "sde_diffusion/solvers/optimized_grid.py",
     "x_val: Optional[torch.Tensor] = None, n_val: int = 1024,",
     "x_val: Optional[torch.Tensor] = None, n_val: int = 256,",
     ["tests/solvers/test_optimize_grid.py", "-k", "1024_fresh"]),
    ("optgrid-defaults compares with the best default, not the same sampler's", "benchmarks/bench_suite_report.py",
     'sets.setdefault(tag, []).append((r["rms"] / own[k], r["rms"] / best[k]))',
     'sets.setdefault(tag, []).append((r["rms"] / best[k], r["rms"] / best[k]))',
     ["tests/benchmarking/test_suite_report.py", "-k", "optgrid_vs_defaults"]),
]


MUTATIONS += [  # round 7: the fresh problem set
    ("problem_suite('fresh') returns the holdout set", "sde_diffusion/analytic/suite.py",
     'RESERVED = {"holdout": HOLDOUT, "fresh": FRESH,', 'RESERVED = {"holdout": HOLDOUT, "fresh": HOLDOUT,',
     ["tests/analytic/test_problem_suite.py", "-k", "reserved_set and fresh"]),
    ("problem_suite('fresh2') returns the fresh set", "sde_diffusion/analytic/suite.py",
     '"fresh": FRESH, "fresh2": FRESH2,', '"fresh": FRESH, "fresh2": FRESH,',
     ["tests/analytic/test_problem_suite.py", "-k", "reserved_set and fresh2"]),
    ("order rule: the q = 4 step limit never applies", "sde_diffusion/solvers/order.py",
     "while p + gain >= 4 and not h <= MAX_STEP", "while p + gain > 4 and not h <= MAX_STEP",
     ["tests/solvers/test_order_rule.py", "-k", "edm_five"]),
]


MUTATIONS += [  # round 8: the tuning rings, the fresh3 set
    ("problem_suite('fresh3') returns the fresh2 set", "sde_diffusion/analytic/suite.py",
     '"fresh3": FRESH3,', '"fresh3": FRESH2,',
     ["tests/analytic/test_problem_suite.py", "-k", "reserved_set and fresh3"]),
    ("tuning half: the 7-mode ring is a blunt ring", "sde_diffusion/analytic/suite.py",
     "ring_of_gaussians(7, radius=1.2, std=0.02)", "ring_of_gaussians(7, radius=1.2, std=0.2)",
     ["tests/analytic/test_problem_suite.py", "-k", "tuning_rings"]),
    ("problem_suite('fresh4') returns the fresh3 set", "sde_diffusion/analytic/suite.py",
     '"fresh4": FRESH4,', '"fresh4": FRESH3,',
     ["tests/analytic/test_problem_suite.py", "-k", "reserved_set and fresh4"]),
    ("optimize_grid over samplers keeps the larger held-out RMS", "sde_diffusion/solvers/optimized_grid.py",
     'best = min(grids, key=lambda g: g.made["val_rms"])', 'best = max(grids, key=lambda g: g.made["val_rms"])',
     ["tests/solvers/test_optimize_grid.py", "-k", "several_samplers_keep"]),
    ("optimize_grid over samplers: each search draws its own batches and solves their references again",
     "sde_diffusion/solvers/optimized_grid.py",
     "    grids = [_search(sde, score_fn, n, *plans[n], data, t_start=",
     "    grids = [_search(sde, score_fn, n, *plans[n], _reference_batches(sde, score_fn, x_calib, x_val, "
     "n_val, generator, t_start, val_fraction, reference), t_start=",
     ["tests/solvers/test_optimize_grid.py", "-k", "several_samplers_keep"]),
    ("problem_suite('fresh5') returns the fresh4 set", "sde_diffusion/analytic/suite.py",
     '"fresh5": FRESH5,', '"fresh5": FRESH4,',
     ["tests/analytic/test_problem_suite.py", "-k", "reserved_set and fresh5"]),
    ("peer chosen on other noise: keeps the largest RMS of the selection batch", "benchmarks/bench_suite_report.py",
     'if cell(r) not in chosen or r["rms"] < chosen[cell(r)][0]:',
     'if cell(r) not in chosen or r["rms"] > chosen[cell(r)][0]:',
     ["tests/benchmarking/test_suite_report.py", "-k", "chosen_on_other_noise"]),
    ("bench optgrid: iPNDM's order candidates handed to UniPC's search", "benchmarks/bench_suite.py",
     'cands["ipndm"] = [{"order": o} for o in a.ipndm_orders]',
     'cands["unipc"] = [{"order": o} for o in a.ipndm_orders]',
     ["tests/benchmarking/test_suite_optgrid_rows.py"]),
    ("problem_suite('fresh15') returns the fresh14 set", "sde_diffusion/analytic/suite.py",
     '"fresh15": FRESH15}', '"fresh15": FRESH14}',
     ["tests/analytic/test_problem_suite.py", "-k", "reserved_set and fresh15"]),
]

MUTATIONS += [  # session 10: shared references, bootstrap intervals of the misses
    ("optimize_grid over samplers: each sampler's options checked only when its search starts",
     "sde_diffusion/solvers/optimized_grid.py",
     "    plans = {n: _checked(sde, n, steps_of[n], per.get(n) or [{}], x_calib) for n in names}\n"
     "    data = _reference_batches(sde, score_fn, x_calib, x_val, n_val, generator, t_start,\n"
     "                              val_fraction, reference)\n"
     "    grids = [_search(sde, score_fn, n, *plans[n], data,",
     "    data = _reference_batches(sde, score_fn, x_calib, x_val, n_val, generator, t_start,\n"
     "                              val_fraction, reference)\n"
     "    grids = [_search(sde, score_fn, n, *_checked(sde, n, steps_of[n], per.get(n) or [{}], x_calib), data,",
     ["tests/solvers/test_optimize_grid.py", "-k", "before_any_score_call"]),
    ("pointwise bootstrap: each side resampled at its own points", "benchmarks/bench_suite_pointwise.py",
     "    r = (o2[idx].sum(1) / p2[idx].sum(1)).sqrt()",
     "    r = (o2[idx].sum(1) / p2[torch.randint(len(ours), (resamples, len(ours)), generator=g)].sum(1)).sqrt()",
     ["tests/benchmarking/test_suite_pointwise.py"]),
    ("pointwise bootstrap: a 90 % interval called 95 %", "benchmarks/bench_suite_pointwise.py",
     "q = torch.tensor([(1 - level) / 2, (1 + level) / 2]", "q = torch.tensor([(1 - level), level]",
     ["tests/benchmarking/test_suite_pointwise.py"]),
    ("pick rules: the median decides where the interval resolves the RMS", "benchmarks/bench_optgrid_pick_rules.py",
     "return by_rms(cell) if lo > 1 or hi < 1 else by_median(cell)",
     "return by_median(cell) if lo > 1 or hi < 1 else by_rms(cell)",
     ["tests/benchmarking/test_optgrid_pick_rules.py"]),
    ("pick rules: the report scores the held-out errors", "benchmarks/bench_optgrid_pick_rules.py",
     'ratios.append(_rms(cell[pick]["score_e"]) / peers[prob, sde_name, nfe][0])',
     'ratios.append(_rms(cell[pick]["val_e"]) / peers[prob, sde_name, nfe][0])',
     ["tests/benchmarking/test_optgrid_pick_rules.py"]),
    ("a diffusers that cannot load its classes raises its raw RuntimeError", "sde_diffusion/models/diffusers.py",
     "    except RuntimeError as e:\n        from importlib.metadata import",
     "    except ValueError as e:\n        from importlib.metadata import",
     ["tests/models/test_diffusers_install.py"]),
    ("row-ratios divides by the best peer where it should divide by the best default", "benchmarks/bench_suite_report.py",
     '        rd = r["rms"] / defaults[cell] if cell in defaults else None',
     '        rd = r["rms"] / peers[cell][0] if cell in defaults else None',
     ["tests/benchmarking/test_suite_report.py", "-k", "row_ratios"]),
    ("sharp-modes probe: R divided by sigma, not sigma^2", "sde_diffusion/solvers/sharp_modes.py",
     "out[r] = total / (len(x_data) * repeats * k * sigma ** 2)", "out[r] = total / (len(x_data) * repeats * k * sigma)",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the noisy point handed to the model without the kernel's m", "sde_diffusion/solvers/sharp_modes.py",
     "res = (ctx.x0(ctx.m[i] * noisy, i) - noisy)", "res = (ctx.x0(noisy, i) - noisy)",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the spread summed over coordinates, not averaged", "sde_diffusion/solvers/sharp_modes.py",
     "flat.var(0, unbiased=True).mean()", "flat.var(0, unbiased=True).sum()",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the coarse test reversed", "sde_diffusion/solvers/sharp_modes.py",
     "return ratios[PROBE_SIGMAS[0]] - ratios[PROBE_SIGMAS[1]]", "return ratios[PROBE_SIGMAS[1]] - ratios[PROBE_SIGMAS[0]]",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the recipe from 6 steps", "sde_diffusion/solvers/sharp_modes.py",
     '(7, 12, "any", "unipc"', '(6, 12, "any", "unipc"',
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the pilot runs at the target's steps", "sde_diffusion/solvers/sharp_modes.py",
     'sampler="unipc", steps=pilot_steps,', 'sampler="unipc", steps=steps,',
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes report: the best default with the probe keeps UniPC's default row", "benchmarks/bench_sharp_modes.py",
     "        c = min(others[k], r[\"rms\"]) / peer", "        c = min(others[k], unipc[k]) / peer",
     ["tests/benchmarking/test_sharp_modes_report.py"]),
    ("EDM UniPC's raised start of the step onto 0 ignored", "sde_diffusion/solvers/grids.py",
     "return max(default_t_end(sde, steps - 1), float(zero_end) * (FEW_STEP_N0 / steps) ** FEW_STEP_POWER)",
     "return default_t_end(sde, steps - 1)",
     ["tests/solvers/test_sampler_defaults.py"]),
    ("the raised start falls as 1/n, not 1/n^2", "sde_diffusion/solvers/grids.py",
     "return max(default_t_end(sde, steps - 1), float(zero_end) * (FEW_STEP_N0 / steps) ** FEW_STEP_POWER)",
     "return max(default_t_end(sde, steps - 1), float(zero_end) * (FEW_STEP_N0 / steps))",
     ["tests/solvers/test_sampler_defaults.py"]),
    ("the raised start's step range excludes its upper end", "sde_diffusion/solvers/grids.py",
     "zero_end_steps[0] <= steps <= zero_end_steps[1]", "zero_end_steps[0] <= steps < zero_end_steps[1]",
     ["tests/solvers/test_sampler_defaults.py"]),
    ("EDM UniPC's zero_end entry lost", "sde_diffusion/sdes/edm.py",
     '"unipc": {"zero_from": 50, "zero_end": 0.007, "zero_end_steps": (8, 30)},', '"unipc": {"zero_from": 50},',
     ["tests/solvers/test_sampler_defaults.py"]),
    ("settings label: the step onto 0 checked against the default end", "sde_diffusion/benchmarking/settings.py",
     "make_grid(sde, default, steps - 1, float(times[-2]), t_start)", "make_grid(sde, default, steps - 1, t_end, t_start)",
     ["tests/solvers/test_sampler_defaults.py"]),
    ("sharp-modes probe: the merge threshold raised to 0.05", "sde_diffusion/solvers/sharp_modes.py",
     "MERGE_THRESHOLD = 0.02", "MERGE_THRESHOLD = 0.05",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the fine level at 0.1 spread", "sde_diffusion/solvers/sharp_modes.py",
     "PROBE_SIGMAS = (0.05, 0.8)", "PROBE_SIGMAS = (0.1, 0.8)",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the recipe up to 13 steps", "sde_diffusion/solvers/sharp_modes.py",
     '(7, 12, "any", "unipc"', '(7, 13, "any", "unipc"',
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes rule / candidates: the best default with a setting keeps UniPC's row", "benchmarks/bench_sharp_modes.py",
     'min(others, m[f"{setting}@{n}"]) / min(others, m[f"unipc@{n}"])', 'min(others, m[f"unipc@{n}"]) / min(others, m[f"unipc@{n}"])',
     ["tests/benchmarking/test_sharp_modes_report.py"]),
    ("sharp-modes tune records: a later file replaces a problem's budgets", "benchmarks/bench_sharp_modes.py",
     'recs.setdefault(r["problem"], {**r, "rms": {}})["rms"].update(r["rms"])', 'recs[r["problem"]] = r',
     ["tests/benchmarking/test_sharp_modes_report.py"]),
    ("sharp-modes probe: the ring band's lower edge at 0.40", "sde_diffusion/solvers/sharp_modes.py",
     "RING_BAND = (0.455, 0.58)", "RING_BAND = (0.40, 0.58)",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: DEIS-3 on ring-like data too", "sde_diffusion/solvers/sharp_modes.py",
     '(13, 24, "not_ring", "deis"', '(13, 24, "any", "deis"',
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: DEIS-2 for sharp data beyond 12 steps", "sde_diffusion/solvers/sharp_modes.py",
     '(13, 24, "not_ring", "deis", {"order": 3,', '(13, 24, "not_ring", "deis", {"order": 2,',
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the DEIS branch up to 25 steps", "sde_diffusion/solvers/sharp_modes.py",
     '(13, 24, "not_ring"', '(13, 25, "not_ring"',
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes branch: every probe row counted, whatever its pick", "benchmarks/bench_sharp_modes.py",
     'if r.get("sampler") == sampler and r.get("options")', 'if r.get("options")',
     ["tests/benchmarking/test_sharp_modes_report.py"]),
    ("sharp-modes probe: rings keep the log-SNR grid at 17-22 steps", "sde_diffusion/solvers/sharp_modes.py",
     '(17, 22, "ring", "unipc", {"order": 2, "grid": "karras",', '(17, 22, "ring", "unipc", {"order": 2, "grid": "log_snr",',
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the rings' log-SNR entry to 17 steps", "sde_diffusion/solvers/sharp_modes.py",
     '(13, 16, "ring"', '(13, 17, "ring"',
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: ring and not-ring entries swapped", "sde_diffusion/solvers/sharp_modes.py",
     'return which == "any" or (which == "ring") == bool(ring_like)', 'return which == "any" or (which == "ring") != bool(ring_like)',
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes branch: the ring filter ignored", "benchmarks/bench_sharp_modes.py",
     "(ring_like is None or r.get(\"ring_like\") == ring_like)", "True",
     ["tests/benchmarking/test_sharp_modes_report.py"]),
    ("sharp-modes probe: the embedded tail bound at 0.05", "sde_diffusion/solvers/sharp_modes.py",
     "EMBEDDED_TAIL = 0.007", "EMBEDDED_TAIL = 0.05",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: embedded data sharp without the coarse bound", "sde_diffusion/solvers/sharp_modes.py",
     "return drops and (not embedded or ratios[PROBE_SIGMAS[1]] <= EMBEDDED_MAX_COARSE)", "return drops",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: R over all coordinates with a basis", "sde_diffusion/solvers/sharp_modes.py",
     "(res if proj is None else res @ proj.to(res.device))", "res",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the spread over all coordinates with a basis", "sde_diffusion/solvers/sharp_modes.py",
     "    spread = _spread(x_data, basis)\n", "    spread = _spread(x_data)\n",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: k = ceil of the participation ratio", "sde_diffusion/solvers/sharp_modes.py",
     "k = min(d, max(1, round(total ** 2 / float((ev ** 2).sum()))))",
     "k = min(d, max(1, math.ceil(total ** 2 / float((ev ** 2).sum()))))",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: a basis from fewer than 2d points", "sde_diffusion/solvers/sharp_modes.py",
     "    if n < 2 * d or d > SUBSPACE_MAX_DIM:", "    if n < d or d > SUBSPACE_MAX_DIM:",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes embedded: best default old over new", "benchmarks/bench_sharp_modes.py",
     'f"{n}: {m[f\'{pn}@{n}\'] / m[f\'{po}@{n}\']:.2f} / {b_new / b_old:.2f}"',
     'f"{n}: {m[f\'{pn}@{n}\'] / m[f\'{po}@{n}\']:.2f} / {b_old / b_new:.2f}"',
     ["tests/benchmarking/test_sharp_modes_report.py"]),
    ("point share: the best points instead of the worst", "benchmarks/bench_point_share.py",
     "e2.sort(descending=True)", "e2.sort()",
     ["tests/benchmarking/test_point_share.py"]),
    ("sharp-modes probe: no cap on the subspace's dimension", "sde_diffusion/solvers/sharp_modes.py",
     "    if n < 2 * d or d > SUBSPACE_MAX_DIM:", "    if n < 2 * d:",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: every repeat in one batched call", "sde_diffusion/solvers/sharp_modes.py",
     "per_call = min(repeats, _repeats(len(x_data), d))", "per_call = repeats",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: a basis taken without the orthonormality check", "sde_diffusion/solvers/sharp_modes.py",
     "        if gram is None or not torch.allclose(", "        if gram is None and not torch.allclose(",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the line entry from 7 steps", "sde_diffusion/solvers/sharp_modes.py",
     '(10, 12, "line", "deis"', '(7, 12, "line", "deis"',
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: the line entry for any sharp data", "sde_diffusion/solvers/sharp_modes.py",
     "    if which == \"line\":\n        return bool(line_like)", "    if which == \"line\":\n        return True",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes probe: any subspace counts as a line", "sde_diffusion/solvers/sharp_modes.py",
     "self.ring_like, self.subspace == 1)", "self.ring_like, self.subspace is not None)",
     ["tests/solvers/test_sharp_modes.py"]),
    ("sharp-modes lines: the pick without the entry keeps it", "benchmarks/bench_sharp_modes.py",
     "    if not lines and found.subspace == 1:", "    if False:",
     ["tests/benchmarking/test_sharp_modes_report.py"]),
]


def run_one(name, rel, old, new, selection, workdir: Path) -> tuple:
    dst = workdir / "tree"
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir()
    for part in ("sde_diffusion", "tests", "conf", "benchmarks", "setup.cfg", "pyproject.toml"):
        src = ROOT / part                       # benchmarks: the scripts, not their records
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("__pycache__", "results"))
        elif src.exists():
            shutil.copy(src, dst / part)
    path = dst / rel
    text = path.read_text()
    if text.count(old) < 1:
        return "MUTATION NOT APPLIED (text not found)", ""
    path.write_text(text.replace(old, new, 1))
    env = dict(os.environ, OMP_NUM_THREADS="1", CI="1", PYTHONPATH=str(dst))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *selection],
                          cwd=dst, env=env, capture_output=True, text=True, timeout=900)
    failed = re.findall(r"^FAILED (\S+)", proc.stdout, re.M)
    if proc.returncode == 0:
        return "NOT CAUGHT", ""
    if proc.returncode == 5:
        return "NO TESTS SELECTED", ""
    if not failed:   # an import or collection error is not a test catching the bug
        return "ERRORED (no test failed)", proc.stdout.strip().splitlines()[-1][:120]
    return "caught", failed[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", type=int, nargs="*", default=None)
    args = ap.parse_args()
    rows = ["| # | mutation | file | tests run | outcome | first failing test |", "|---|---|---|---|---|---|"]
    survived = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, rel, old, new, sel) in enumerate(MUTATIONS, 1):
            if args.only and k not in args.only:
                continue
            outcome, test = run_one(name, rel, old, new, sel, Path(tmp))
            survived += outcome != "caught"
            rows.append(f"| {k} | {name} | `{rel}` | `{' '.join(sel)}` | {outcome} | `{test}` |")
            print(rows[-1], flush=True)
    table = "\n".join(rows) + "\n"
    if args.out:
        Path(args.out).write_text(table)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
