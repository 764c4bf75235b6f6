"""Data sources, each returning a ``DataBundle`` (train/test tensors + shape/kind metadata).

Points: ``three_clusters`` (the tutorial's 1-D example), ``ring`` (8 Gaussians), ``checkerboard``,
``swiss_roll``, ``two_moons``, ``pinwheel``. Images: ``digits`` (sklearn, offline), ``mnist``,
``cifar10`` (torchvision, downloaded on first use), ``image_folder``. Hydra configs in
``conf/data/`` name these functions as ``_target_``; ``build_data(cfg)`` instantiates one.
"""
from .bundle import DataBundle, build_data
from .images import IMAGE_EXTENSIONS, cifar10, digits, image_folder, mnist, uint8_to_unit_range
from .toys import (checkerboard, mixture_bundle, pinwheel, ring, swiss_roll, three_clusters,
                   two_moons)

__all__ = ["DataBundle", "build_data", "three_clusters", "ring", "checkerboard", "swiss_roll",
           "two_moons", "pinwheel", "mixture_bundle", "digits", "mnist", "cifar10",
           "image_folder", "uint8_to_unit_range", "IMAGE_EXTENSIONS"]
