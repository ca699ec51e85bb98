"""Terrain, driving the layers below: training a terrain classifier, routing a scene's tiles
through a model set, and scoring a whole set.

This package sits above training (it trains the classifier) and inference (it routes tiles to
colorizers). What inference itself needs lives below it, in :mod:`sarcolor.models`:
:mod:`~sarcolor.models.terrain_classifier` (the small CNN, its checkpoint and
:class:`~sarcolor.models.terrain_classifier.Classifier`) and
:mod:`~sarcolor.models.terrain_condition` (the one-hot planes of ``train --condition terrain``);
``train-terrain``'s options are :mod:`sarcolor.config.terrain`.

* :mod:`sarcolor.terrain.train` — ``sarcolor train-terrain``.
* :mod:`sarcolor.terrain.evaluate` — the classifier's accuracy and confusion matrix on the test scenes.
* :mod:`sarcolor.terrain.set_eval` — the scores of a whole model set colorizing with ``--terrain auto``.
* :mod:`sarcolor.terrain.routing` — :class:`~sarcolor.terrain.routing.TerrainRouter`: each tile to
  its terrain's model (or a conditioned model told each tile's terrain), blended as usual.
* :mod:`sarcolor.terrain.options` — ``--terrain-classifier``, shared by the commands that colorize.
"""
