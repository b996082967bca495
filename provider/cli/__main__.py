"""``python -m provider.cli``: the ``belay`` command."""

from provider.cli import main

main()
