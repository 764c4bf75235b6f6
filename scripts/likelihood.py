"""Likelihood of a trained model: ``python scripts/likelihood.py checkpoint=<run | ckpt | latest | model folder>``.

PF-ODE NLL, ELBO and discrete bound with 95% CIs -> ``<run>/eval/<timestamp>/likelihood.json`` (or
``out=``) and the tracker; see ``sde_diffusion.app.likelihood``. Data other than the run's own
(``data=<name>``) is refused unless ``allow_data_mismatch=true``. Bad input: one line on stderr and a
non-zero exit."""
from sde_diffusion.app import likelihood_main
from sde_diffusion.configs import run_main, to_plain, validate_likelihood_config
from sde_diffusion.likelihood import EVAL_METHODS, ODE_METHODS


def main(cfg) -> None:
    c = to_plain(cfg)
    validate_likelihood_config(c, EVAL_METHODS, ODE_METHODS)
    likelihood_main(c)


if __name__ == "__main__":
    run_main(main, "likelihood")
