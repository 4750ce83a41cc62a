"""A run of many experiments: selection and planning, the runner, the results store and its locks,
progress, cache files.

Internal to tlbench: plugins use what ``benchmark`` exports (``benchmark.__all__``).
"""
