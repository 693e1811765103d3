"""`python -m harness`: the tensorop command line (harness/apps/cli.py)."""
from harness.apps.cli import main

main()
