"""Hyperparameter and architecture sweeps on Optuna (no Qt here).

- :mod:`.space`: the search space a project keeps (parameters over its data
  settings, layer stack and training), default spaces per preset, and how a
  trial's parameters become a project.
- :mod:`.objective`: one trial: train the project with the trial's parameters,
  report per-epoch validation values to the pruner, score it on validation or
  a backtest (never the test part), and describe it as a run record.
- :mod:`.study`: storages (a SQLite file beside the project, any Optuna URL,
  a journal file), samplers, pruners, the worker loop with heartbeats, parallel
  worker processes, and summaries (best trials, importances).

Optuna is an optional dependency (``pip install seqstudio[sweep]``); importing
:mod:`.space` does not need it.
"""
