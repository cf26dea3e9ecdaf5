"""atrous: DeepLabv3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image
Segmentation", 2017) in PyTorch, checked against the NumPy oracle in :mod:`reference`."""

__version__ = "0.1.0"
