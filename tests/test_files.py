"""Files appear whole or not at all, with the umask's permissions, and killed writes leave nothing for long."""

import os
import stat
import subprocess
import sys

import pytest

from lsnn_bio.files import OutputPathError, remove_stale_temporaries, write_atomically


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o002])
def test_permissions_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        path = write_atomically(tmp_path / "report.md", "text")
    finally:
        os.umask(previous)
    assert mode(path) == 0o666 & ~umask and path.read_text() == "text"


def test_bytes_text_or_a_writer_that_opens_the_file_by_name(tmp_path):
    assert write_atomically(tmp_path / "a.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert write_atomically(tmp_path / "b.txt", "é").read_bytes() == "é".encode()
    seen = []

    def writer(temporary):
        seen.append(temporary)
        temporary.write_text("by name")

    path = write_atomically(tmp_path / "c.nwb", writer)
    assert path.read_text() == "by name" and seen[0].parent == tmp_path and seen[0].name.endswith(".tmp.nwb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "c.nwb"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, error):
    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes(b"old")

    def dies_half_way(temporary):
        temporary.write_bytes(b"half")
        raise error

    with pytest.raises(type(error)):
        write_atomically(path, dies_half_way)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_killed_write_is_cleaned_up_by_the_next_one(tmp_path):
    """SIGKILL during a write leaves its temporary file; the next write of that file removes it."""
    path = tmp_path / "metrics.json"
    code = (
        "import sys, time\nfrom lsnn_bio.files import write_atomically\n"
        "def slow(p):\n    p.write_text('partial')\n    print('writing', flush=True)\n    time.sleep(60)\n"
        f"write_atomically({str(path)!r}, slow)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    child.kill()
    child.wait()
    (stale,) = [p for p in tmp_path.iterdir()]
    assert stale.name.startswith(f".metrics.json.{child.pid}.") and not path.exists()
    live = tmp_path / f".metrics.json.{os.getppid()}.abcdefgh.tmp.json"  # a running process's write: kept
    live.write_text("in progress")
    other = tmp_path / f".other.json.{child.pid}.abcdefgh.tmp.json"  # another file's temporary: not ours to remove
    other.write_text("x")
    write_atomically(path, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, live.name, other.name])
    assert remove_stale_temporaries(tmp_path / "other.json") == 1


def test_paths_that_cannot_be_written_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="the folder .*missing does not exist"):  # caught as the builtin too
        write_atomically(tmp_path / "missing" / "a.txt", "x")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputPathError, match=r"file is a file, not a folder"):
        write_atomically(tmp_path / "file" / "deeper" / "a.txt", "x")
    with pytest.raises(OutputPathError, match="is a folder, not a file name"):
        write_atomically(tmp_path, "x")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
