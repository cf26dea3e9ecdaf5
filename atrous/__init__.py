"""atrous: DeepLabv3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image
Segmentation", 2017) in PyTorch, checked against the NumPy oracle in :mod:`reference`."""

from atrous.config import DeepLabV3Config
from atrous.errors import AtrousError
from atrous.interop import from_torchvision
from atrous.model import DeepLabV3
from atrous.presets import get_preset

__version__ = "0.1.0"
__all__ = ["AtrousError", "DeepLabV3", "DeepLabV3Config", "from_torchvision", "get_preset"]
