"""The NumPy oracle for atrous: every part of DeepLabv3 written again in plain NumPy.

It never imports torch or atrous, so it can check them. One module per concept:

- :mod:`reference.conv`: Eq. 1, atrous convolution, as loops and vectorized; the
  upsampled filter and space-to-batch identities (Sec. 3.1).
- :mod:`reference.valid_weights`: how many taps of a "same"-padded filter land on the
  feature map (Fig. 4, Sec. 3.3).
- :mod:`reference.receptive_field`: receptive field and the gridding of cascaded atrous
  convolutions (Sec. 3.2.1).
- :mod:`reference.metric`: the confusion matrix and mean intersection-over-union (Sec. 4).
- :mod:`reference.schedule`: the "poly" learning rate (Sec. 4.1).
"""
