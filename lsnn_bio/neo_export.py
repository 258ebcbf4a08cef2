"""Old home of the Neo export, kept so ``from lsnn_bio.neo_export import to_block`` still works; see ``lsnn_bio.neo``."""

from .neo import *  # noqa: F401,F403
from .neo import __all__  # noqa: F401
