"""A run of many experiments: selection and planning, the runner, the results store, progress.

Internal to tlbench: plugins use what ``benchmark`` exports (``benchmark.__all__``).
"""
