"""The shared leaves: what every layer of atrous may use, and which imports no other layer.

- :mod:`~atrous.base.errors`: :class:`AtrousError`, the one error of bad input, and its file kinds;
- :mod:`~atrous.base.tables`: TOML tables into checked frozen dataclasses;
- :mod:`~atrous.base.precision`: fp32 / bf16 / fp16 arithmetic and memory formats;
- :mod:`~atrous.base.device`: choosing the device a command runs on;
- :mod:`~atrous.base.outputs`: the rule that no output writes over an input or an earlier result;
- :mod:`~atrous.base.atomic`: writing files so that a killed process leaves the old one whole.

May import: nothing of atrous (the standard library, numpy and torch only).
"""
