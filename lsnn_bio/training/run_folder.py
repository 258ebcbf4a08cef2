"""A training run's folder, left as it was found when a run fails before it has anything worth keeping.

A folder *holds a run* when it has a checkpoint, a metrics log or a summary. A new run there
needs ``overwrite``: the old run's files are set aside (``.NAME.replaced``) and deleted only
once the new run has written its first checkpoint; a run that fails before that puts them back,
removes what it wrote and the folder if it made it. Temporary files of a killed write and
set-aside files of a killed run are cleaned up when the next run starts.
"""

import os
from contextlib import contextmanager

from ..errors import LsnnBioError
from ..files import check_output_folder, remove_stale_temporaries

CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
RUN_FILES = (CHECKPOINT, METRICS, SUMMARY)


class RunFolderError(LsnnBioError, ValueError):
    """A run folder that cannot be used as asked (holds a run, has nothing to resume, is in the way)."""


def _set_aside(path, name):
    return path / f".{name}.replaced"


class RunFolder:
    """The files of one training run; checked on creation, nothing written until :meth:`session`."""

    def __init__(self, path, resume=False, overwrite=False):
        self.path = check_output_folder(path)
        self.resume, self.overwrite = resume, overwrite
        if resume and overwrite:
            raise RunFolderError("--resume and --overwrite: choose one (continue the run, or replace it)")
        if self.path.is_dir():
            self._recover()
        self.held = [name for name in RUN_FILES if (self.path / name).exists()]
        if resume and CHECKPOINT not in self.held:
            raise RunFolderError(f"--resume: no {CHECKPOINT} in {self.path} to resume from")
        if self.held and not resume and not overwrite:
            raise RunFolderError(
                f"{self.path} already holds a run ({', '.join(self.held)}); use --resume to continue it, "
                "--overwrite to replace it, or choose another --out"
            )
        self.committed = False

    def _recover(self):
        """Undo what a killed run left: its half-written files and, if it never checkpointed, its replacement."""
        for name in RUN_FILES:
            remove_stale_temporaries(self.path / name)
        aside = [name for name in RUN_FILES if _set_aside(self.path, name).exists()]
        if aside:
            for name in RUN_FILES:
                (self.path / name).unlink(missing_ok=True)
            for name in aside:
                os.replace(_set_aside(self.path, name), self.path / name)

    def commit(self):
        """The new run has a checkpoint: the files it replaced are no longer needed."""
        if not self.committed:
            self.committed = True
            for name in RUN_FILES:
                _set_aside(self.path, name).unlink(missing_ok=True)

    @contextmanager
    def session(self):
        """Create the folder, set an old run aside (overwrite); on failure before a checkpoint, undo both."""
        created = [p for p in [self.path, *self.path.parents] if not p.exists()]  # innermost first
        self.path.mkdir(parents=True, exist_ok=True)
        if self.overwrite:
            for name in self.held:
                os.replace(self.path / name, _set_aside(self.path, name))
        try:
            yield self
        except BaseException:
            if not self.committed and not self.resume:
                self._undo(created)
            raise
        self.commit()

    def _undo(self, created):
        for name in RUN_FILES:
            (self.path / name).unlink(missing_ok=True)
            remove_stale_temporaries(self.path / name)
            if _set_aside(self.path, name).exists():
                os.replace(_set_aside(self.path, name), self.path / name)
        for folder in created:
            try:
                folder.rmdir()
            except OSError:  # something else was put there meanwhile: leave it
                return
