"""TuneDeck's engine: config, data, templates, tokenisation, model loading and training.

Knows nothing of the terminal UI; everything it does is reported as typed
events (see :mod:`engine.events`) into the run directory (:mod:`engine.rundir`).
"""

__version__ = "0.1.0"

import logging as _logging

# bitsandbytes warns at import when an optional CPU kernel package is absent; the fallback works.
_logging.getLogger("bitsandbytes").setLevel(_logging.ERROR)
