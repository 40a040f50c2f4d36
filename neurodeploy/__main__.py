"""`python -m neurodeploy` = the `neurodeploy` command."""
import sys

from .cli import main

sys.exit(main())
