import sys

from sdcheck.cli import main

sys.exit(main())
