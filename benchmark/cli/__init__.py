"""The ``tlbench`` command line: the group in :mod:`benchmark.cli.app`, its commands by concern.

Modules that import torch, timm or scikit-learn are imported inside the commands that use them, so that
``tlbench --help`` answers at once.
"""

from benchmark.cli import converting, estimating, listing, results, running  # noqa: F401  (each registers its commands)
from benchmark.cli.app import main
from benchmark.cli.scaffold import new_command

main.add_command(new_command)

__all__ = ["main"]
