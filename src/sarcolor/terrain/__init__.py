"""Terrain as a first-class idea: a terrain classifier on the SAR input, routing tiles to the
terrain models of a model set, and the one-hot terrain input of a conditioned generator.

* :mod:`sarcolor.terrain.classifier` — the small CNN, its checkpoint (safetensors + config) and
  :class:`~sarcolor.terrain.classifier.Classifier`, a ``(H, W, 1) SAR → (terrain, confidence)``
  callable that also classifies batches of tiles.
* :mod:`sarcolor.terrain.train` — ``sarcolor train-terrain``; :mod:`sarcolor.terrain.config` its options.
* :mod:`sarcolor.terrain.evaluate` — accuracy and confusion matrix on the test scenes, and the
  scores of a whole model set colorizing with ``--terrain auto``.
* :mod:`sarcolor.terrain.routing` — :class:`~sarcolor.terrain.routing.TerrainRouter`: each tile to
  its terrain's model (or a conditioned model told each tile's terrain), blended as usual.
* :mod:`sarcolor.terrain.condition` — the one-hot planes of ``train --condition terrain``.
"""
