"""Import Brian2 without its import-time noise (imported first by the package).

Brian2 2.8 warns about a private setuptools function at import, writes a debug
log file per process into the system temp folder (left there when the process is
killed), replaces ``sys.excepthook`` and captures every Python warning into its
log; a library should do none of that to its users.
"""

import contextlib
import logging
import os
import sys
import warnings

warnings.filterwarnings("ignore", message="_get_vc_env is private")
_hook = sys.excepthook

import brian2  # noqa: E402

sys.excepthook = _hook
brian2.prefs.logging.file_log = False
brian2.prefs.logging.delete_log_on_exit = True
brian2.BrianLogger.console_handler.setLevel(logging.ERROR)
# Brian2 routes every Python warning of the process into its logger, whose console handler now shows only errors:
# the package's own warnings (a kernel that could not be compiled, ...) and the user's would vanish.
logging.captureWarnings(False)

# The debug log (and script copy) Brian2 already opened in the system temp folder at import: removed now,
# not at exit, so a killed process leaves nothing behind there either.
if brian2.BrianLogger.file_handler is not None:
    logging.getLogger("brian2").removeHandler(brian2.BrianLogger.file_handler)
    brian2.BrianLogger.file_handler.close()
    brian2.BrianLogger.file_handler = None
for _name in ("tmp_log", "tmp_script"):
    _path = getattr(brian2.BrianLogger, _name, None)
    if _path:
        with contextlib.suppress(OSError):
            os.remove(_path)
    setattr(brian2.BrianLogger, _name, None)
