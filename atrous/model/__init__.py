"""The network of the paper and the files that hold it.

The config (:mod:`~atrous.model.config`) and its presets, the atrous convolution (Eq. 1,
:mod:`~atrous.model.atrous_conv`), the ResNet backbone with output stride and multi-grid
(Sec. 3.2), ASPP with image pooling (Sec. 3.3), the heads, :class:`DeepLabV3` itself, batch
norm over processes, a summary, the checkpoint and safetensors formats, and torchvision
interop.

May import: :mod:`atrous.base`.
"""
