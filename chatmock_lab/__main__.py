import sys

from chatmock_lab.cli import main

sys.exit(main())
