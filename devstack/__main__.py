"""`python -m devstack`: see `devstack/cli.py`."""

from devstack.cli import main

main()
