"""The benchmark's score-source keys: ``source=diffusers:<folder>`` (a diffusers model),
``checkpoint=<path>`` (a model trained here), or neither (the analytic score)."""
import pytest

from sde_diffusion.configs import compose
from sde_diffusion.configs.benchmark import cell_from_config


def cell(*overrides):
    return cell_from_config(compose(["problem=digits", "sampler=ddim", "nfe=5", *overrides],
                                    config_name="benchmark"))


def test_source_sets_the_diffusers_score_source():
    assert cell("source=diffusers:/models/unet")["checkpoint"] == "diffusers:/models/unet"
    assert cell("checkpoint=/runs/a")["checkpoint"] == "/runs/a"
    assert cell()["checkpoint"] is None


@pytest.mark.parametrize("overrides, message", [
    (["source=/models/unet"], r"source must be diffusers:<folder or hub id>.*got '/models/unet'"),
    (["source=diffusers:"], r"source must be diffusers:"),
    (["source=diffusers:/m", "checkpoint=/runs/a"], r"one score source"),
    (["checkpoint=diffusers:/m"], r"given as source=diffusers:/m"),
])
def test_bad_score_sources_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        cell(*overrides)
