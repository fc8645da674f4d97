"""``python -m studies run CONFIG [--set key=value ...]``: run a study as an NNI experiment, then report it."""
import sys

from .study import main

sys.exit(main())
