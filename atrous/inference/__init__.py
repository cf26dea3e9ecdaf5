"""Inference (Sec. 4.3): the strategy (output stride, scales, flips, padding), evaluation
(mIOU), the fast path with batch norm folded, predicting files, and the ONNX Runtime backend.

May import: :mod:`atrous.base`, :mod:`atrous.model`, :mod:`atrous.data`, :mod:`atrous.recipe`
(never :mod:`atrous.training`).
"""
