"""The NumPy oracle for atrous: every part of DeepLabv3 written again in plain NumPy.

It never imports torch or atrous, so it can check them. One module per concept:

- :mod:`reference.conv`: Eq. 1, atrous convolution, as loops (:func:`atrous_conv2d_loops`)
  and vectorized (:func:`atrous_conv2d`); the upsampled filter (:func:`upsample_filter`)
  and space-to-batch (:func:`space_to_batch`, :func:`batch_to_space`) identities
  (Sec. 3.1).
- :mod:`reference.valid_weights`: how many taps of a "same"-padded filter land on the
  feature map (:func:`valid_weight_counts`, :func:`valid_weight_histogram`; Fig. 4,
  Sec. 3.3).
- :mod:`reference.receptive_field`: receptive field size and jump of a stack of layers
  (:func:`receptive_field`) and the gridding of cascaded atrous convolutions
  (:func:`coverage`; Sec. 3.2.1).
- :mod:`reference.metric`: the confusion matrix and mean intersection-over-union
  (:func:`confusion_matrix`, :func:`iou_per_class`, :func:`mean_iou`; Sec. 4).
- :mod:`reference.schedule`: the "poly" learning rate (:func:`poly_lr`; Sec. 4.1).
- :mod:`reference.network`: a forward pass of the whole DeepLabv3 network in eval mode
  (:func:`deeplabv3_forward`; Sec. 3), built only from :func:`atrous_conv2d` and NumPy.
"""

from reference.conv import (
    atrous_conv2d,
    atrous_conv2d_loops,
    batch_to_space,
    space_to_batch,
    upsample_filter,
)
from reference.metric import confusion_matrix, iou_per_class, mean_iou
from reference.network import deeplabv3_forward
from reference.receptive_field import ReceptiveField, coverage, receptive_field
from reference.schedule import poly_lr
from reference.valid_weights import valid_weight_counts, valid_weight_histogram

__all__ = [
    "ReceptiveField",
    "atrous_conv2d",
    "atrous_conv2d_loops",
    "batch_to_space",
    "confusion_matrix",
    "coverage",
    "deeplabv3_forward",
    "iou_per_class",
    "mean_iou",
    "poly_lr",
    "receptive_field",
    "space_to_batch",
    "upsample_filter",
    "valid_weight_counts",
    "valid_weight_histogram",
]
