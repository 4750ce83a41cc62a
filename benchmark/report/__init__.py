"""Results out: the leaderboard, its statistics and comparisons, rendering.

Internal to tlbench: plugins use what ``benchmark`` exports (``benchmark.__all__``).
"""
