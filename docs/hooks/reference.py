"""mkdocs hook: pages generated at build time from the code, so they cannot drift from it.

- ``cli.md``: every script's config and every config group's options with their keys and
  defaults, composed from ``conf/`` and the structured-config schemas (Hydra's compose API);
- ``samplers.md``: every registered sampler with its order, NFE per step, default grid and
  options with their defaults (``solvers.SAMPLERS`` and the constructors' signatures); order
  and NFE are those of an instance built with the default options (``sampler_order``);
- ``changelog.md``: ``CHANGELOG.md`` itself.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = {"train": "config", "sample": "sample", "likelihood": "likelihood",
           "benchmark": "benchmark"}


def _flat(node, prefix=""):
    """(dotted key, value) pairs of a plain nested dict."""
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from _flat(v, key + ".")
        else:
            yield key, v


def _cell(v) -> str:
    text = "null" if v is None else repr(v) if isinstance(v, str) else str(v)
    if isinstance(v, bool):
        text = str(v).lower()
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def _table(rows) -> str:
    lines = ["| key | default |", "|---|---|"]
    lines += [f"| `{k}` | {_cell(v)} |" for k, v in rows]
    return "\n".join(lines)


def cli_page() -> str:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from sde_diffusion.configs import register_configs
    from sde_diffusion.configs.errors import group_options
    register_configs()
    out = ["# Command-line reference", "",
           "Generated at build time from `conf/` and the structured-config schemas: every key a "
           "script accepts, with its default. Override any of them as `key=value`; choose a "
           "group's option as `group=option`. A misspelt key, option or value is refused before "
           "anything runs, in one line naming the valid choices (exit status 2).", ""]
    conf = ROOT / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        for script, name in SCRIPTS.items():
            cfg = OmegaConf.to_container(compose(config_name=name), resolve=False)
            groups = [k for k in cfg if isinstance(cfg.get(k), dict) and group_options(k)]
            out += [f"## `scripts/{script}.py` (`conf/{name}.yaml`)", "",
                    "Groups: " + (", ".join(f"`{g}`" for g in groups) or "none") + ".", "",
                    _table((k, v) for k, v in _flat(cfg) if k.split(".")[0] not in groups), ""]
    out += ["## Config groups", "",
            "Each option's keys: its schema's defaults (`sde_diffusion/configs/`) merged with "
            "its file in `conf/<group>/`. Experiments are sets of overrides, shown as written.", ""]
    for group in sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "hydra"):
        out += [f"### `{group}`", ""]
        for option in group_options(group):
            path = conf / group / f"{option}.yaml"
            out += [f"#### `{group}={option}`", ""]
            if group == "experiment":
                out += ["```yaml", path.read_text().strip(), "```", ""]
            else:
                out += [_table(_flat(_option_node(group, path))), ""]
    return "\n".join(out)


def _option_node(group: str, path: Path) -> dict:
    """A group option's keys: its schemas (the ``defaults`` list's ``base_*`` entries in Hydra's
    config store) merged with the file's own values, as a plain dict."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf
    raw = OmegaConf.load(path)
    defaults = raw.pop("defaults", []) if "defaults" in raw else []
    repo = ConfigStore.instance().repo
    node = OmegaConf.create({})
    for d in defaults:
        if isinstance(d, str) and d.startswith("base_") and f"{d}.yaml" in repo.get(group, {}):
            node = OmegaConf.merge(node, repo[group][f"{d}.yaml"].node)
    return OmegaConf.to_container(OmegaConf.merge(node, raw), resolve=False)


def sampler_order(sampler) -> str:
    """The global convergence order of a sampler instance, as the reference page shows it.

    ``sampler.order`` of an instance built with its defaults (several samplers set it from the
    ``order`` option), with the two cases where that option is not the convergence order:
    UniPC-p with its corrector converges at p + 1 (orders that ``order.MAX_STEP`` limits only
    on short steps); ``ipndm``'s fixed-step Adams-Bashforth weights give order min(p, 2) on a
    non-uniform grid (p only on a uniform sigma grid).
    """
    from sde_diffusion.solvers.order import MAX_STEP
    p = float(sampler.order)
    if sampler.name == "unipc" and sampler.corrector:
        top = p + 1
        free = min(MAX_STEP) - 1                 # the highest order taken on any step length
        if top <= free:
            return f"{top:g}"
        # the highest order below ``top`` allowed on longer steps than ``top`` is
        longer = [q for q, h in MAX_STEP.items() if free < q < top and h > MAX_STEP.get(top, 0.0)]
        if longer:
            return f"{top:g} on short steps ({max(longer):g} on long, {free:g} on the longest)"
        return f"{top:g} on short steps ({free:g} on long)"
    if sampler.name == "ipndm" and p > 2:
        return f"2 ({p:g} on a uniform σ grid)"
    return f"{p:g}"


def samplers_page() -> str:
    from omegaconf import OmegaConf
    from sde_diffusion.solvers import SAMPLERS
    out = ["# Sampler reference", "",
           "Generated at build time from the sampler registry (`sde_diffusion.solvers.SAMPLERS`). "
           "Order: the global convergence order with the default options (strong order for SDE "
           "samplers); NFE per step: "
           "score evaluations per step (the final Tweedie denoising adds one); options: the "
           "constructor's arguments, set from Python as `sample(..., option=value)` and from the "
           "command line as `sampler.options.<option>=value`. Default steps: `conf/sampler/`.", "",
           "| sampler | order | NFE / step | stochastic | default grid | default steps | what it is |",
           "|---|---|---|---|---|---|---|"]
    details = []
    for name in sorted(SAMPLERS):
        cls = SAMPLERS[name]
        default = cls()
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
        yaml = ROOT / "conf" / "sampler" / f"{name}.yaml"
        steps = OmegaConf.load(yaml).get("steps", "") if yaml.is_file() else ""
        grid = getattr(cls, "default_grid", None) or "the SDE's"
        out.append(f"| `{name}` | {sampler_order(default)} | {default.evals_per_step} | "
                   f"{'yes' if default.stochastic else 'no'} | {grid} | {steps} | {doc} |")
        params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
        details += [f"### `{name}`", ""]
        if params:
            details += ["| option | default |", "|---|---|"]
            details += [f"| `{p.name}` | "
                        f"{_cell(p.default) if p.default is not inspect.Parameter.empty else 'required'} |"
                        for p in params]
        else:
            details.append("No options.")
        details.append("")
    return "\n".join(out + ["", "## Options", ""] + details)


def on_files(files, config):
    sys.path.insert(0, str(ROOT))
    pages = {"cli.md": cli_page(), "samplers.md": samplers_page(),
             "changelog.md": (ROOT / "CHANGELOG.md").read_text()}
    for name, text in pages.items():
        files.append(File.generated(config, name, content=text))
    return files
