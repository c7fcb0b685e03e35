"""``python -m countersign`` is the ``countersign`` command."""
import sys

from countersign.cli.commands import main

sys.exit(main())
