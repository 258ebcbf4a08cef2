"""Import Brian2 without its import-time noise (imported first by the package).

Brian2 2.8 warns about a private setuptools function at import, writes a debug
log file per process and replaces ``sys.excepthook``; a library should do none
of that to its users.
"""

import logging
import sys
import warnings

warnings.filterwarnings("ignore", message="_get_vc_env is private")
_hook = sys.excepthook

import brian2  # noqa: E402

sys.excepthook = _hook
brian2.prefs.logging.file_log = False
brian2.prefs.logging.delete_log_on_exit = True
brian2.BrianLogger.console_handler.setLevel(logging.ERROR)
