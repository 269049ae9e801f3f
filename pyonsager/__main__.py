"""`python -m pyonsager ...` is the same as the `pyonsager` command."""
import sys

from pyonsager.cli import main

sys.exit(main())
