"""A YAML file's text, read within the size limit; every problem is a YamlProblem at its place.
Apart from compiler/safe_yaml.py (the parse) so that reading specs whose parse is cached does not
import the YAML libraries (compiler/load.py)."""

from __future__ import annotations

from pathlib import Path

from compiler.errors import Position, SpecError

__all__ = ["MAX_YAML_BYTES", "YamlProblem", "read_text"]

# Specs are a few KB (the 1,000-model benchmark spec is 118 KB): a 20 MB file is refused unread.
MAX_YAML_BYTES = 1 << 20


class YamlProblem(Exception):
    """A file that cannot be read as YAML within the limits; `error` says where and why."""

    def __init__(self, error: SpecError) -> None:
        super().__init__(str(error))
        self.error = error


def read_text(path: Path, rel: str) -> tuple[bytes, str]:
    """The file's bytes and its text: at most MAX_YAML_BYTES of UTF-8."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise YamlProblem(SpecError(Position(rel, 1, 1), f"cannot read the file ({exc.strerror})",
                                    "check that it exists and is readable")) from None
    if len(raw) > MAX_YAML_BYTES:
        raise YamlProblem(SpecError(
            Position(rel, 1, 1), f"file is larger than {MAX_YAML_BYTES:,} bytes ({_size(path, raw)})",
            f"gatewayctl reads YAML files of at most {MAX_YAML_BYTES >> 20} MiB; split it into smaller files"))
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        col = len(raw[line_start:exc.start].decode("utf-8", "replace")) + 1
        raise YamlProblem(SpecError(Position(rel, line, col), f"file is not UTF-8 ({exc.reason})",
                                    "save the file as UTF-8")) from None


def _size(path: Path, raw: bytes) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        return f"over {len(raw):,}"
    return f"{size:,}" if size > len(raw) else f"over {len(raw):,}"
