"""A diffusers that is installed but cannot load its classes (a torchvision built for another
torch makes its lazy imports raise RuntimeError) gives an ImportError that names the versions
and the fix, in ``from_diffusers``'s loader and in the peers' availability check."""
import sys
import types

import pytest

from sde_diffusion.benchmarking.peers import missing_peers_message
from sde_diffusion.models.diffusers import diffusers_class


@pytest.fixture
def broken_diffusers(monkeypatch):
    """A ``diffusers`` module whose every class access fails as a mismatched torchvision makes it."""
    mod = types.ModuleType("diffusers")

    def fail(name):
        raise RuntimeError(f"Failed to import diffusers.models.unets.unet_2d because of the "
                           f"following error (look up to see its traceback):\noperator "
                           f"torchvision::nms does not exist")
    mod.__getattr__ = fail
    monkeypatch.setitem(sys.modules, "diffusers", mod)
    return mod


def test_a_broken_diffusers_names_torch_torchvision_and_the_fix(broken_diffusers):
    with pytest.raises(ImportError, match=r"diffusers could not load UNet2DModel \(torch 2\.[^,]+, "
                                          r"torchvision [^)]+\): operator torchvision::nms does not "
                                          r"exist\. .*pip uninstall torchvision"):
        diffusers_class("UNet2DModel")


def test_the_peers_check_reports_a_broken_diffusers_instead_of_failing_later(broken_diffusers):
    msg = missing_peers_message()
    assert msg.startswith("published peers unavailable: diffusers could not load "
                          "UniPCMultistepScheduler")


def test_a_working_module_returns_the_class(monkeypatch):
    mod = types.ModuleType("diffusers")
    mod.UNet2DModel = object
    monkeypatch.setitem(sys.modules, "diffusers", mod)
    assert diffusers_class("UNet2DModel") is object
