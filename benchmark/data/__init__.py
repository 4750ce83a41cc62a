"""Images in: file datasets, the decode-once image cache, each task's data and seeded splits, the leak audit.

Internal to tlbench: plugins use what ``benchmark`` exports (``benchmark.__all__``).
"""
