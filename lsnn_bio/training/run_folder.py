"""A training run's folder, left as it was found when a run fails before it has anything worth keeping.

A folder *holds a run* when it has a checkpoint, a metrics log or a summary. A new run there
needs ``overwrite``: the old run's files are set aside (``.NAME.replaced``) and deleted only
once the new run has written its first checkpoint; a run that fails before that puts them back,
removes what it wrote and the folder if it made it. Temporary files of a killed write and
set-aside files of a killed run are cleaned up when the next run starts. A run is resumed with
the settings its checkpoint stored (:func:`resumed_experiment`), never retyped.
"""

import json
import os
from contextlib import contextmanager
from pathlib import Path

from ..errors import LsnnBioError
from ..files import check_output_folder, remove_stale_temporaries, write_atomically
from . import checkpoint as checkpoints

CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
RUN_FILES = (CHECKPOINT, METRICS, SUMMARY)


def folder_of(path):
    """The run folder at ``path``, or the one holding the checkpoint ``path``: what the recipes that read a run's
    metrics and summary take, as the commands that read its checkpoint take either."""
    path = Path(path)
    return path.parent if path.suffix == ".safetensors" else path


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
            finished = SUMMARY in self.held  # tested: it cannot be trained on
            again = "--resume to continue it, " if CHECKPOINT in self.held and not finished else ""
            raise RunFolderError(
                f"{self.path} already holds a {'finished ' if finished else ''}run ({', '.join(self.held)}); "
                f"use {again}--overwrite to replace it, or choose another --out"
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

    def metrics_until(self, iteration):
        """The records of ``metrics.jsonl`` up to ``iteration``, without the test line."""
        return [record for _, record in self._metrics(iteration)]

    def truncate_metrics(self, iteration):
        """Drop lines a failed or interrupted run wrote after its last checkpoint, so the log matches the state."""
        if (self.path / METRICS).exists():
            write_atomically(self.path / METRICS, "".join(line + "\n" for line, _ in self._metrics(iteration)))

    def _metrics(self, iteration):
        path = self.path / METRICS
        if not path.exists():
            return []
        lines = []
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:  # a line cut short when the machine stopped
                record = None
            if isinstance(record, dict) and record.get("iteration", 0) <= iteration and record.get("split") != "test":
                lines.append((line, record))
        return lines

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


def resumed_experiment(out, settings=(), document=None):
    """The experiment of the run in ``out``, as its checkpoint stored it: resuming needs no document and no --set.

    ``settings`` may only change the iterations; ``document``, if given, must be the one the run started from.
    """
    from .experiment import experiment_from_documents

    path = Path(out) / CHECKPOINT
    if not path.is_file():
        raise LsnnBioError(
            f"--resume: no {CHECKPOINT} in {out} to resume from (accepted: a run folder of lsnn-bio train)"
        )
    saved = checkpoints.read(path)
    config = saved.meta["experiment"]
    for setting in settings:
        key, _, value = setting.partition("=")
        if key.strip() != "iterations":
            raise LsnnBioError(
                f"--resume --set {setting}: a resumed run keeps the settings it started with "
                "(accepted on --resume: --iterations N; for other settings start a new run in another --out)"
            )
        config = {**config, "iterations": _iterations(value.strip())}
    if document is not None:
        name = Path(document).name
        stored = saved.meta["documents"].get(name)
        if stored is None or not Path(document).is_file() or Path(document).read_bytes() != stored.encode():
            raise LsnnBioError(
                f"--resume {document}: the run in {out} was started from {'another' if stored is None else 'an earlier'} "
                "version of this document and resumes with the one stored in its checkpoint "
                f"(accepted: lsnn-bio train --out {out} --resume, without the document)"
            )
    return experiment_from_documents(config, saved.meta["documents"], source=path)


def _iterations(text):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise LsnnBioError(f"--set iterations={text}: not a whole number of iterations (accepted: 1 or more)")
    return value
