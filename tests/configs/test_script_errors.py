"""One error format for every script: a misspelt group option, key or value, or a word without
``=`` (a forgotten ``run=``) is one line ``<prog>: error: ConfigError: ...`` naming the bad
override, the valid choices (no internal ``base_*`` schemas) and a close match; exit status 2."""
import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from sde_diffusion.configs import check_arguments
from sde_diffusion.configs.errors import group_options

ROOT = Path(__file__).resolve().parents[2]

# (script, config, args, exact message after "ConfigError: ")
CASES = {
    "group": [
        ("train", "config", ["sde=vpp"], "sde=vpp: no option 'vpp' in group sde; valid: "
         f"{', '.join(group_options('sde'))}; did you mean 'vp'?"),
        ("sample", "sample", ["run=x", "sampler=eulr"], None),
        ("likelihood", "likelihood", ["checkpoint=x", "data=rng"], None),
        ("benchmark", "benchmark", ["problem=ring"], "problem=ring: no option 'ring' in group "
         f"problem; valid: {', '.join(group_options('problem'))}; did you mean 'ring8'?"),
    ],
    "key": [
        ("train", "config", ["model.net.hiddn=3"], "model.net.hiddn=3: unknown key 'hiddn' in "
         "model.net; valid keys: _target_, hidden, depth, time_dim, fourier_scale, activation, "
         "num_classes; did you mean 'hidden'?"),
        ("sample", "sample", ["run=x", "nn=3"], None),
        ("likelihood", "likelihood", ["checkpoint=x", "ode.methd=heun"], "ode.methd=heun: unknown "
         "key 'methd' in ode; valid keys: method, divergence, probe, n_probes, rtol, atol, steps; "
         "did you mean 'method'?"),
        ("benchmark", "benchmark", ["nfee=10"], None),
    ],
    "value": [
        ("train", "config", ["train.steps=abc"], "train.steps=abc: Value 'abc' of type 'str' "
         "could not be converted to Integer"),
        ("sample", "sample", ["run=x", "n=many"], "n=many: Value 'many' of type 'str' could not "
         "be converted to Integer"),
        ("likelihood", "likelihood", ["checkpoint=x", "ode.rtol=fast"], None),
        ("benchmark", "benchmark", ["sde.beta_max=abc"], None),
    ],
    "missing run=": [
        ("sample", "sample", ["outputs/x"], "'outputs/x' is not a key=value override; did you "
         "mean run=outputs/x? (every argument is key=value, e.g. seed=1)"),
        ("likelihood", "likelihood", ["outputs/x"], "'outputs/x' is not a key=value override; "
         "did you mean checkpoint=outputs/x? (every argument is key=value, e.g. seed=1)"),
        ("train", "config", ["toy2d"], "'toy2d' is not a key=value override; did you mean "
         "experiment=toy2d? (every argument is key=value, e.g. seed=1)"),
        ("benchmark", "benchmark", ["ring8"], None),
    ],
}
FLAT = [(kind, *case) for kind, cases in CASES.items() for case in cases]


def _check(config, args, prog):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        check_arguments(args, config, prog)
    return e.value.code, err.getvalue()


@pytest.mark.parametrize("kind,prog,config,args,message", FLAT,
                         ids=[f"{c[0]}-{c[1]}" for c in FLAT])
def test_one_line_with_choices_and_close_match(kind, prog, config, args, message):
    code, err = _check(config, args, prog)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: ConfigError: "), lines[0]
    assert "base_" not in lines[0] and "+" not in lines[0] and "Hydra" not in lines[0]
    if message is not None:
        assert lines[0] == f"{prog}: error: ConfigError: {message}"
    if kind != "value":
        assert "did you mean" in lines[0], lines[0]


def test_a_typo_in_a_value_of_a_chosen_group_names_the_group():
    """sample.py has no sampler unless one is chosen: sampler.name=eulr is sampler=euler."""
    code, err = _check("sample", ["run=x", "sampler.name=eulr"], "sample")
    assert code == 2
    assert "no sampler is chosen in this config; choose one with sampler=<name>" in err
    assert err.strip().endswith("did you mean sampler=euler?") and "+sampler" not in err


def test_every_value_of_a_sweep_is_checked():
    code, err = _check("config", ["-m", "sde=vp,vee", "train.lr=1e-3,3e-4"], "train")
    assert code == 2 and "sde=vee: no option 'vee' in group sde" in err
    assert _ok("config", ["-m", "sde=vp,ve", "train.lr=1e-3,3e-4", "hydra/launcher=local"])


def _ok(config, args):
    check_arguments(args, config, "x")
    return True


def test_good_command_lines_and_hydra_flags_pass():
    assert _ok("config", ["experiment=toy2d", "train.steps=3"])
    assert _ok("config", ["--cfg", "job", "experiment=toy2d"])
    assert _ok("config", ["--config-name", "other"])  # another config: Hydra checks it


@pytest.mark.parametrize("script,args,needle", [
    ("train.py", ["sde=vpp"], "train: error: ConfigError: sde=vpp: no option 'vpp' in group sde"),
    ("sample.py", ["outputs/x"], "did you mean run=outputs/x?"),
    ("likelihood.py", ["checkpoint=x", "ode.methd=heun"], "did you mean 'method'?"),
    ("benchmark.py", ["problem=ring"], "did you mean 'ring8'?"),
])
def test_each_script_prints_one_line_and_exits_2(tmp_path, script, args, needle):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr
