"""Read 16-bit speech recordings from NIST SPHERE files (TIMIT's format) or RIFF WAV copies of them.

A SPHERE file is ``NIST_1A``, a line with the header size (1024 for TIMIT), ``name -type value``
lines up to ``end_head``, the header padded to its size, then raw samples. libsndfile (through
soundfile) opens SPHERE too, but it silently accepts a truncated file, trailing bytes and a header
without ``sample_n_bytes`` or ``sample_byte_format``, and calls a shorten-compressed file only "an
unimplemented format"; a corpus misread without a word shows up much later as a bad accuracy. So
SPHERE is read here, checked field by field, and RIFF WAV (copies converted with sox or sph2pipe)
through soundfile. The format is told by the file's first bytes, never by its name, because TIMIT
copies name both ``.WAV``.
"""

from pathlib import Path

import numpy as np

from ..errors import LsnnBioError

SPHERE_MAGIC = b"NIST_1A\n"
RIFF_MAGIC = b"RIFF"
_BYTE_ORDERS = {"01": "<", "10": ">"}  # SPHERE's sample_byte_format: 01 little-endian (TIMIT), 10 big-endian


class AudioFormatError(LsnnBioError, ValueError):
    """An audio file is malformed or not 16-bit linear PCM (the message names the file and the field)."""


def read_sphere_header(path, raw=None) -> tuple[dict, int]:
    """(fields, header size in bytes) of a SPHERE file; integer (-i) and real (-r) fields are converted."""
    path = Path(path)
    raw = path.read_bytes() if raw is None else raw
    if not raw.startswith(SPHERE_MAGIC):
        raise AudioFormatError(f"{path}: not a NIST SPHERE file (it must start with 'NIST_1A', found {raw[:8]!r})")
    size_line = raw[8:16].split(b"\n", 1)[0].strip()
    if not size_line.isdigit() or int(size_line) < 16:
        raise AudioFormatError(
            f"{path}: malformed SPHERE header: the second line must be the header size in bytes "
            f"(e.g. '   1024'), found {size_line[:16]!r}"
        )
    header_size = int(size_line)
    if len(raw) < header_size:
        raise AudioFormatError(
            f"{path}: truncated SPHERE header: {header_size} bytes declared, the file has {len(raw)}"
        )
    try:
        text = raw[:header_size].decode("ascii")
    except UnicodeDecodeError:
        raise AudioFormatError(
            f"{path}: malformed SPHERE header: not ASCII text within its {header_size} bytes"
        ) from None
    lines = text.split("\n")[2:]
    fields = {}
    for number, line in enumerate(lines, start=3):
        if line.strip() == "end_head":
            return fields, header_size
        if not line.strip() or line.startswith(";"):
            continue
        parts = line.split(" ", 2)
        if len(parts) < 3 or not parts[1].startswith("-"):
            raise AudioFormatError(
                f"{path}: malformed SPHERE header line {number}: {line.strip()[:60]!r} "
                "(expected 'name -i|-r|-sN value')"
            )
        name, kind, value = parts
        try:
            if kind == "-i":
                fields[name] = int(value)
            elif kind == "-r":
                fields[name] = float(value)
            elif kind.startswith("-s"):
                fields[name] = value[: int(kind[2:])] if kind[2:].isdigit() else value.strip()
            else:
                raise ValueError(kind)
        except ValueError:
            raise AudioFormatError(
                f"{path}: malformed SPHERE header line {number}: {line.strip()[:60]!r} "
                "(expected 'name -i|-r|-sN value')"
            ) from None
    raise AudioFormatError(f"{path}: malformed SPHERE header: no 'end_head' line within its {header_size} bytes")


def read_sphere(path) -> tuple[np.ndarray, int]:
    """(samples, sample rate) of a mono 16-bit linear-PCM SPHERE file; samples are int16 in native order."""
    path = Path(path)
    raw = path.read_bytes()
    fields, header_size = read_sphere_header(path, raw)
    coding = str(fields.get("sample_coding", "pcm"))
    if "shorten" in coding:
        raise AudioFormatError(
            f"{path}: shorten-compressed SPHERE (sample_coding '{coding}'); decompress the corpus first, e.g. "
            "'sph2pipe -f sph IN OUT' or NIST's 'w_decode -o pcm IN OUT' (accepted: uncompressed 16-bit PCM)"
        )
    if coding.split(",")[0] != "pcm":
        raise AudioFormatError(f"{path}: sample_coding '{coding}' is not supported (accepted: pcm, 16-bit linear)")
    for name in ("sample_count", "sample_rate", "sample_n_bytes", "channel_count"):
        if not isinstance(fields.get(name), int) or fields[name] <= 0:
            raise AudioFormatError(
                f"{path}: malformed SPHERE header: field '{name} -i' missing or not a positive "
                f"integer (found {fields.get(name)!r})"
            )
    if fields["sample_n_bytes"] != 2:
        raise AudioFormatError(f"{path}: sample_n_bytes is {fields['sample_n_bytes']} (accepted: 2, 16-bit PCM)")
    if fields["channel_count"] != 1:
        raise AudioFormatError(f"{path}: channel_count is {fields['channel_count']} (accepted: 1, mono)")
    order = _BYTE_ORDERS.get(str(fields.get("sample_byte_format", "")))
    if order is None:
        raise AudioFormatError(
            f"{path}: sample_byte_format {fields.get('sample_byte_format')!r} is not supported "
            "(accepted: '01' little-endian, '10' big-endian)"
        )
    count = fields["sample_count"]
    present = len(raw) - header_size
    if present != 2 * count:
        problem = "truncated" if present < 2 * count else "unexpected trailing bytes"
        raise AudioFormatError(
            f"{path}: {problem}: the header declares {count} samples ({2 * count} bytes) after its "
            f"{header_size}-byte header, the file holds {present} bytes"
        )
    samples = np.frombuffer(raw, dtype=np.dtype(order + "i2"), count=count, offset=header_size)
    return samples.astype(np.int16), fields["sample_rate"]


def read_wav(path) -> tuple[np.ndarray, int]:
    """(samples, sample rate) of a mono 16-bit PCM RIFF WAV file, through soundfile (libsndfile)."""
    import soundfile

    path = Path(path)
    try:
        info = soundfile.info(str(path))
        if info.subtype != "PCM_16" or info.channels != 1:
            raise AudioFormatError(
                f"{path}: RIFF WAV with {info.channels} channel(s) of {info.subtype} (accepted: mono PCM_16)"
            )
        samples, rate = soundfile.read(str(path), dtype="int16")
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise AudioFormatError(f"{path}: cannot read this RIFF WAV file ({error})") from None
    return samples, int(rate)


def read_audio(path) -> tuple[np.ndarray, int]:
    """(int16 samples, sample rate) of a SPHERE or RIFF WAV file, told apart by its first bytes."""
    path = Path(path)
    with open(path, "rb") as handle:
        start = handle.read(8)
    if start.startswith(SPHERE_MAGIC):
        return read_sphere(path)
    if start.startswith(RIFF_MAGIC):
        return read_wav(path)
    raise AudioFormatError(
        f"{path}: neither NIST SPHERE (starts with 'NIST_1A') nor RIFF WAV (starts with 'RIFF'); found {start!r}"
    )
