"""Training (Sec. 4.1): the loop, the loss with its label handling, the sample stream, the
checks made before a run starts, processes (torchrun), the run folder and exact resume.

May import: :mod:`atrous.base`, :mod:`atrous.model`, :mod:`atrous.data`, :mod:`atrous.recipe`
(never :mod:`atrous.inference`).
"""
