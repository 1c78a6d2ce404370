"""Patient-level prediction: tasks, leakage-safe features, models, evaluation and model cards.

* :mod:`.data`: :class:`~.data.PredictionData`, the feature matrix, labels and
  subgroup labels of one site's study population (it never leaves the node);
* :mod:`.task`, :mod:`.population`, :mod:`.features`: the task (target, outcome,
  time at risk, PatientLevelPrediction semantics) and its features;
* :mod:`.models`, :mod:`.federated`: models trained at one node or across nodes;
* :mod:`.evaluate`, :mod:`.card`: metrics, calibration, subgroups, model cards.
"""
