"""A run described: the run config of Sec. 4.1's protocol, its TOML tables, and the datasets
it names.

:mod:`~atrous.recipe.tables` holds the ``[model]``, ``[data]``, ``[train]`` and ``[eval]``
tables, :mod:`~atrous.recipe.config` the whole :class:`TrainConfig` and its hashes,
:mod:`~atrous.recipe.configs` the recipes shipped with the package (``atrous/configs``),
:mod:`~atrous.recipe.datasets` the datasets and transforms a config builds.

May import: :mod:`atrous.base`, :mod:`atrous.model`, :mod:`atrous.data`.
"""
