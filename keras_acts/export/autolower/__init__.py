"""Building blocks of :mod:`keras_acts.export.auto_lowering`: the candidate forms and their fits
(:mod:`.forms`), verification on LiteRT (:mod:`.verify`) and the QAT formulation and int8 simulation
(:mod:`.qat`)."""
