"""``python -m runbench`` runs the same CLI as the ``runbench`` script."""

from runbench.cli import main

main()
