"""The filter analysis: filter images by activation maximisation, of every model a run folder has; their taxonomy
(complex, direction, colour, noise); the taxonomy against transfer, and its figures. The ``filters`` and
``taxonomy`` visualisers draw them.

Internal to tlbench: plugins use what ``benchmark`` exports (``benchmark.__all__``).
"""
