import sys

from token_analytics.cli import main

sys.exit(main())
