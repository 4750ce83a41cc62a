"""One experiment's computation: models and their input, training, staging on the device, features,
SVMs, metrics, threads.

Internal to tlbench: plugins use what ``benchmark`` exports (``benchmark.__all__``).
"""
