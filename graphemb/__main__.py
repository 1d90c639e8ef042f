"""``python -m graphemb`` is the ``graphemb`` command."""
import sys

from graphemb.cli.main import main

sys.exit(main())
