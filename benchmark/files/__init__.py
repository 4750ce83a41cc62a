"""Files that many processes share: cache entries written atomically, leftovers of dead writers, OS locks.

Internal to tlbench: plugins use what ``benchmark`` exports (``benchmark.__all__``).
"""
