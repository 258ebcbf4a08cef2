"""Progress in a log file: plain lines at most once a minute, never a carriage-return animation."""

import io

import tqdm

from lsnn_bio import progress


def test_a_bar_into_a_file_writes_plain_lines_with_the_rate_and_what_is_left(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    bar = progress.bar(4, "train", unit="iteration", initial=1)
    assert isinstance(bar, progress.LogLines)
    for i in range(3):
        bar.set_postfix({"mse": f"0.25{i}"}, refresh=False)  # as the trainer does: this iteration's figures
        bar.update(1)
    bar.set_postfix_str("twin64")  # what check's bar shows
    bar.write("validation mse 0.2")
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines[0].startswith("train: 2/4 iterations after") and "s/iteration" in lines[0] and "left" in lines[0]
    assert lines[0].endswith("[mse=0.250]") and lines[2].startswith("train: 4/4") and lines[2].endswith("[mse=0.252]")
    assert lines[3] == "validation mse 0.2"
    assert len(lines) == 4  # close() adds nothing: the last count was already written


def test_a_short_loop_into_a_file_stays_silent_and_a_disabled_bar_writes_nothing(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with progress.bar(3, "validate") as bar:
        bar.update(3)
    quiet = progress.bar(3, "validate", enabled=False)
    quiet.update(3)
    quiet.close()
    assert isinstance(quiet, tqdm.tqdm) and log.getvalue() == ""


def test_silenced_turns_off_every_bar_inside_even_on_a_terminal(monkeypatch):
    terminal = io.StringIO()
    terminal.isatty = lambda: True
    monkeypatch.setattr("sys.stderr", terminal)
    with progress.silenced():
        with progress.silenced(False):  # an inner command without the flag does not undo the outer one
            bar = progress.bar(2, "TIMIT features", unit="utterance")
            bar.update(2)
            bar.close()
    assert terminal.getvalue() == "" and not progress.SILENCED
    progress.bar(1, "after").close()
    assert "after" in terminal.getvalue()


def test_a_terminal_gets_tqdms_bar_and_its_lines_never_reach_stdout(monkeypatch, capsys):
    terminal = io.StringIO()
    terminal.isatty = lambda: True
    monkeypatch.setattr("sys.stderr", terminal)
    bar = progress.bar(2, "twin")
    bar.update(2)
    bar.write("iteration 2: validation error 0.1")
    bar.close()
    assert isinstance(bar, tqdm.tqdm) and "twin" in terminal.getvalue() and "\r" in terminal.getvalue()
    assert "iteration 2: validation error 0.1\n" in terminal.getvalue()
    off = progress.bar(2, "twin", enabled=False)
    off.write("iteration 2: validation error 0.1")
    off.close()
    assert capsys.readouterr().out == "" and terminal.getvalue().count("validation") == 1


def test_a_closed_or_missing_stderr_loses_lines_not_the_run(monkeypatch):
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    for stream in (closed, None):
        monkeypatch.setattr("sys.stderr", stream)
        bar = progress.LogLines(2, "train")
        bar.update(1)
        bar.write("validation")
        bar.close()
