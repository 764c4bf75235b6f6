"""Data: in-memory sources returning a ``DataBundle`` and torch ``Dataset``s for the trainer.

Points: ``three_clusters`` (the tutorial's 1-D example), ``ring`` (8 Gaussians), ``checkerboard``,
``swiss_roll``, ``two_moons``, ``pinwheel``. Images: ``digits`` (sklearn, offline), ``mnist``,
``cifar10`` (torchvision, downloaded on first use); ``mnist1d`` (40-D signals, generated offline), ``image_folder`` (in memory) and
``ImageFolderDataset`` (streamed from disk). ``bundle.dataset("train")`` is a bundle's Dataset;
``make_loader`` wraps any Dataset in a resumable ``DataLoader``.
"""
from .bundle import DataBundle, as_training_data, training_data_std
from .datasets import (DataInfo, ResumableBatchSampler, TensorData, data_identity, make_loader,
                       tensor_hash)
from .folder import ImageFolderDataset
from .images import IMAGE_EXTENSIONS, cifar10, digits, image_folder, mnist, uint8_to_unit_range
from .mnist1d import mnist1d
from .toys import (checkerboard, mixture_bundle, pinwheel, ring, swiss_roll, three_clusters,
                   two_moons)

__all__ = ["DataBundle", "as_training_data", "training_data_std", "DataInfo", "TensorData", "ImageFolderDataset", "ResumableBatchSampler",
           "make_loader", "data_identity", "tensor_hash", "three_clusters", "ring",
           "checkerboard", "swiss_roll", "two_moons", "pinwheel", "mixture_bundle", "digits",
           "mnist", "cifar10", "image_folder", "uint8_to_unit_range", "IMAGE_EXTENSIONS", "mnist1d"]
