"""The paper's comparisons re-run at small scale: the paper's numbers, the experiments and
their claims, the results files (rows, hashes, provenance), the runner, verdicts, plots and
the report.

May import: every layer below it (:mod:`atrous.base`, :mod:`atrous.model`,
:mod:`atrous.data`, :mod:`atrous.recipe`, :mod:`atrous.training`, :mod:`atrous.inference`).
"""
