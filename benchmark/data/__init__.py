"""Images in: file datasets, the decode-once image cache, each task's data and seeded splits, the leak audit's
image hashes and near-duplicate search (the audit over a run's pairs is :mod:`benchmark.run.audit`).

Internal to tlbench: plugins use what ``benchmark`` exports (``benchmark.__all__``).
"""
