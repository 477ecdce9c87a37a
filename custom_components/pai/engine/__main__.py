"""`python -m custom_components.pai.engine`: the command line for agent authors (see cli)."""

import sys

from .cli import main

sys.exit(main())
