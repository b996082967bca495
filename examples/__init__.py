"""Example applications built on Belay's kits (not part of the ``provider`` package)."""
