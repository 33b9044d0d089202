import sys

from methods.cli import main

sys.exit(main())
