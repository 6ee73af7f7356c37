"""``python -m mock_sungrow`` runs the command line."""

import sys

from mock_sungrow.cli import main

sys.exit(main())
