"""`python -m training.lineage`: the lineage's command line (cli.py)."""
import sys

from .cli import main

sys.exit(main())
