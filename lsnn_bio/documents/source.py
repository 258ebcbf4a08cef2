"""A YAML document that can point at the line of any key, so every error names file, line and key."""

from pathlib import Path

import yaml
from brian2.units.fundamentalunits import get_dimensions

from ..errors import DocumentError
from ..units import describe_dimensions, parse_quantity


def read_text(path):
    """A document's text; a missing, unreadable or non-UTF-8 file is one DocumentError."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a document" if path.is_dir() else "file not found"
        raise DocumentError(str(path), None, problem, "a path to a .yaml document")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DocumentError(str(path), None, f"cannot be read: {error.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DocumentError(
            f"{path}:{line}", None, f"not UTF-8 text (byte 0x{data[error.start]:02x})", "a YAML document saved as UTF-8"
        ) from None


class Document:
    """The parsed YAML plus a way to point at the line of a key.

    ``text`` is given for a document held in memory (a checkpoint's); ``path`` then only names it.
    """

    def __init__(self, path, expected_top_key, text=None):
        self.path = Path(path)
        if text is None:
            text = read_text(self.path)
        self.text = text
        try:
            self.data = yaml.safe_load(self.text)
            self.root = yaml.compose(self.text)
        except yaml.YAMLError as error:
            raise DocumentError(str(path), None, f"not valid YAML: {error}") from None
        if not isinstance(self.data, dict) or expected_top_key not in self.data:
            raise DocumentError(str(path), None, f"expected a mapping with a top-level '{expected_top_key}' key")

    def where(self, key):
        """'file:line' for a dotted key path, as precise as the document allows."""
        node, line = self.root, None
        for part in key.split(".") if key else []:
            if not isinstance(node, yaml.MappingNode):
                break
            for k, v in node.value:
                if k.value == part:
                    node, line = v, k.start_mark.line + 1
                    break
            else:
                break
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, key, problem, accepted=None):
        return DocumentError(self.where(key), key, problem, accepted)

    def check_keys(self, mapping, allowed, key_prefix):
        if not isinstance(mapping, dict):
            raise self.error(key_prefix, f"expected a mapping, got {type(mapping).__name__}")
        for key in mapping:
            if key not in allowed:
                full = f"{key_prefix}.{key}" if key_prefix else key
                raise self.error(full, f"unknown key '{key}'", ", ".join(sorted(allowed)))

    def quantity(self, value, key, like=None):
        try:
            q = parse_quantity(value)
        except ValueError as error:
            raise self.error(key, str(error), "a number with Brian2 units such as '20 ms'") from None
        if like is not None and get_dimensions(q) is not get_dimensions(like):
            raise self.error(
                key,
                f"'{value}' has units {describe_dimensions(q)}, expected {describe_dimensions(like)}",
                f"a quantity like {like}",
            )
        return q
