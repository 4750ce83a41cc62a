"""Results out: the leaderboard, its statistics and comparisons, rendering, figures, the report folder; the filter
analysis in :mod:`benchmark.report.filters`.

Internal to tlbench: plugins use what ``benchmark`` exports (``benchmark.__all__``).
"""
