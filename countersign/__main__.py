"""``python -m countersign`` is the ``countersign`` command."""
import sys

from .cli import main

sys.exit(main())
