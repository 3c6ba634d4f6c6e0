"""Reading one agenda YAML file, whatever a person or a broken editor put in it.

Every problem becomes a :class:`Diagnostic` naming the file, the line and the field; nothing here
raises on bad input. What is refused, and why:

* not UTF-8, more than one document, a YAML syntax error (with its line), an empty file;
* anchors and aliases (``&x`` / ``*x``): an agenda item has no use for them, and a few nested
  aliases make a file that expands a billion-fold ("billion laughs");
* a key given twice in one mapping (PyYAML would silently keep the last one);
* non-string keys; files over :data:`MAX_BYTES`.

Scalars stay strings unless they are plain numbers or booleans: YAML's timestamp resolver is
off, so ``2025-05-12T09:00:00`` reaches the schema and the checks as text, exactly as written.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as BaseLoader
except ImportError:  # pragma: no cover - Debian's and PyPI's PyYAML have libyaml
    from yaml import SafeLoader as BaseLoader  # type: ignore[assignment]

MAX_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int | None
    field: str | None
    message: str
    severity: str = "error"  # or "warning"
    code: str = "invalid"

    def __post_init__(self) -> None:
        # A key, a file name or a message can quote what a file holds: bounded and without
        # control characters (a terminal escape sequence), whatever made it.
        object.__setattr__(self, "message", capped(visible(self.message)))
        object.__setattr__(self, "file", capped(visible(self.file)))
        if self.field is not None:
            object.__setattr__(self, "field", capped(visible(self.field)))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = f" {self.field}:" if self.field else ""
        level = "galat/error" if self.severity == "error" else "peringatan/warning"
        return f"{where}: {level}:{what} {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
            "code": self.code,
        }


@dataclass(slots=True)
class Document:
    """A parsed file: its data, what went wrong, and (worked out only when a diagnostic needs
    one) the line of every field path."""

    file: str
    data: Any = None
    problems: list[Diagnostic] = field(default_factory=list)
    source: str | None = None
    lines: dict[str, int] = field(default_factory=dict)

    def line(self, path: str) -> int | None:
        """The line of ``path`` (``a.b[2].c``), or of its nearest parent that has one."""
        if not self.lines and self.source is not None:
            self.lines = index(self.source, self.file)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            cut = max(path.rfind("."), path.rfind("["))
            path = path[: max(cut, 0)]

    def error(self, path: str | None, message: str, code: str = "invalid") -> Diagnostic:
        return Diagnostic(
            self.file, self.line(path or ""), field_name(path), capped(message), "error", code
        )

    def warning(self, path: str | None, message: str, code: str = "warning") -> Diagnostic:
        return Diagnostic(
            self.file, self.line(path or ""), field_name(path), capped(message), "warning", code
        )


# Messages quote what a file holds only in short, escaped excerpts: the pull request's check
# posts them publicly, and a file can hold anything.
EXCERPT = 40
MESSAGE = 300
PER_FILE = 25


def excerpt(value: Any, limit: int = EXCERPT) -> str:
    """A value as a message may quote it: escaped (``repr``), at most ``limit`` characters of
    it, ``...`` after a cut."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("..." if len(value) > limit else "")
    shown = repr(value) if isinstance(value, (int, float, bool)) or value is None else ""
    if not shown:
        shown = f"<{type(value).__name__}>"
    return shown if len(shown) <= limit else shown[:limit] + "..."


CONTROL = {n: f"\\x{n:02x}" for n in (*range(0x20), *range(0x7F, 0xA0))}


def visible(text: str) -> str:
    """``text`` with control characters written as ``\\xNN``."""
    return text.translate(CONTROL) if not text.isprintable() else text


def capped(message: str) -> str:
    return message if len(message) <= MESSAGE else message[: MESSAGE - 3] + "..."


def cap(diagnostics: list[Diagnostic], most: int = PER_FILE) -> list[Diagnostic]:
    """At most ``most`` diagnostics of one file (the first by line), then one saying how many
    more there are: a broken file cannot flood the report."""
    if len(diagnostics) <= most:
        return diagnostics
    ordered = sorted(diagnostics, key=lambda d: (d.line or 0, d.field or ""))
    kept, rest = ordered[:most], ordered[most:]
    errors = sum(1 for d in rest if d.severity == "error")
    summary = Diagnostic(
        kept[0].file,
        None,
        None,
        f"dan {len(rest)} masalah lain tidak ditampilkan / {len(rest)} more problems in this "
        f"file not shown ({errors} errors): fix the ones listed first",
        "error" if errors else "warning",
        "too-many",
    )
    return [*kept, summary]


def field_name(path: str | None) -> str | None:
    return capped(path) if path else None


class _Refused(Exception):
    """Something the careful pass will name: an alias, a duplicate or non-text key."""


STR = "tag:yaml.org,2002:str"


class _Loader(BaseLoader):
    """SafeLoader without the timestamp resolver (dates stay text), refusing aliases,
    duplicate keys and non-text keys while it constructs (no extra pass in the common case)."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node in self.constructed_objects:  # the same node again: an alias
            raise _Refused
        try:
            return super().construct_object(node, deep)
        except ValueError as exc:  # e.g. an integer of more than 4300 digits: on its line
            raise yaml.constructor.ConstructorError(
                None, None, f"value not usable ({capped(str(exc))})", node.start_mark
            ) from exc

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        keys = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != STR:
                raise _Refused
            if key_node.value in keys:
                raise _Refused
            keys.add(key_node.value)
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in BaseLoader.yaml_implicit_resolvers.items()
}


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _walk(
    file: str,
    node: yaml.Node,
    path: str,
    seen: set[int],
    *,
    lines: dict[str, int],
    problems: list[Diagnostic],
) -> None:
    """Record each field's line; refuse aliases, duplicate and non-string keys."""
    if id(node) in seen:
        problems.append(
            Diagnostic(
                file,
                node.start_mark.line + 1,
                path or None,
                "anchors and aliases (&, *) are not allowed in agenda files",
                code="yaml",
            )
        )
        return
    seen.add(id(node))
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        keys: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != STR:
                problems.append(
                    Diagnostic(file, line, path or None, "keys must be plain text", code="yaml")
                )
                continue
            key = key_node.value
            if key in keys:
                problems.append(
                    Diagnostic(
                        file,
                        line,
                        join(path, key),
                        f"given twice (first on line {keys[key]})",
                        code="yaml",
                    )
                )
                continue
            keys[key] = line
            child = join(path, key)
            lines[child] = line
            _walk(file, value_node, child, seen, lines=lines, problems=problems)
    elif isinstance(node, yaml.SequenceNode):
        for number, item in enumerate(node.value):
            _walk(file, item, join(path, number), seen, lines=lines, problems=problems)


def index(source: str, file: str) -> dict[str, int]:
    """The line of every field path of a (parseable) document."""
    loader = _Loader(source)
    lines: dict[str, int] = {}
    try:
        node = loader.get_single_node()
        if node is not None:
            _walk(file, node, "", set(), lines=lines, problems=[])
    except yaml.YAMLError:
        pass
    finally:
        loader.dispose()
    return lines


def parse(text: bytes, file: str, max_bytes: int = MAX_BYTES) -> Document:
    """Parse ``text`` (the bytes of ``file``) into a :class:`Document`; never raises."""
    doc = Document(file)
    if len(text) > max_bytes:
        doc.problems.append(
            Diagnostic(file, None, None, f"larger than {max_bytes // 1024} KiB", code="yaml")
        )
        return doc
    try:
        source = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text[: exc.start].count(b"\n") + 1
        doc.problems.append(
            Diagnostic(file, line, None, f"not UTF-8 text (byte {exc.start})", code="yaml")
        )
        return doc
    if "\x00" in source:
        line = source[: source.index("\x00")].count("\n") + 1
        doc.problems.append(Diagnostic(file, line, None, "contains a NUL byte", code="yaml"))
        return doc
    doc.source = source
    loader = _Loader(source)
    try:
        node = loader.get_single_node()
        if node is None:
            doc.problems.append(Diagnostic(file, 1, None, "the file is empty", code="yaml"))
            return doc
        try:
            doc.data = loader.construct_document(node)
        except _Refused:
            # The careful pass: every alias, duplicate and non-text key, with its line.
            _walk(file, node, "", set(), lines=doc.lines, problems=doc.problems)
            if not doc.problems:  # pragma: no cover - the walk names whatever was refused
                doc.problems.append(Diagnostic(file, None, None, "not usable YAML", code="yaml"))
            doc.data = None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        # At the end of a file without a final newline libyaml points one line past it.
        last_line = source.count("\n") + (0 if source.endswith("\n") else 1)
        doc.problems.append(
            Diagnostic(
                file,
                min(mark.line + 1, max(last_line, 1)) if mark else None,
                None,
                f"YAML syntax: {message}",
                code="yaml",
            )
        )
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        doc.problems.append(Diagnostic(file, None, None, f"YAML: {exc}", code="yaml"))
    finally:
        loader.dispose()
    return doc


class Refused(Exception):
    """A file that is not read: a symbolic link, not a regular file, or too large."""


KINDS = {
    stat.S_IFLNK: "a symbolic link (not followed)",
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


def read_regular(root: Path, name: str, max_bytes: int = MAX_BYTES) -> bytes | None:
    """The bytes of ``name`` (a relative path with ``/``) under ``root``, None if there is no
    such file. Nothing is followed or read that is not a regular file inside ``root``: every
    directory on the way and the file itself are opened without following symbolic links, the
    file's type and size are checked on the open file before reading, and at most
    ``max_bytes + 1`` bytes are read. :class:`Refused` says why a file is not read."""
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise Refused(f"not a plain path inside the repository: {name!r}")
    try:
        folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            flags |= (os.O_NONBLOCK | os.O_NOCTTY) if last else os.O_DIRECTORY
            try:
                handle = os.open(part, flags, dir_fd=folder)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise Refused(why_not(folder, part, exc)) from exc
            os.close(folder)
            folder = handle
        info = os.fstat(folder)
        if not stat.S_ISREG(info.st_mode):
            kind = KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise Refused(f"{kind}: only regular files are read")
        if info.st_size > max_bytes:
            raise Refused(f"larger than {max_bytes // 1024} KiB")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(folder, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:  # it grew while being read
            raise Refused(f"larger than {max_bytes // 1024} KiB")
        return b"".join(chunks)
    finally:
        os.close(folder)


def why_not(folder: int, part: str, exc: OSError) -> str:
    """Why opening ``part`` (in the open directory ``folder``) failed, in words."""
    try:
        mode = os.stat(part, dir_fd=folder, follow_symlinks=False).st_mode
    except OSError:
        mode = 0
    if stat.S_ISLNK(mode):
        return f"{part!r} is a symbolic link: not followed"
    if exc.errno == errno.ENOTDIR:
        return f"{part!r} is not a directory"
    return f"cannot read: {exc.strerror}"


def load(path: Path, display: str | None = None, max_bytes: int = MAX_BYTES) -> Document:
    """An administrator's file (a symbolic link is followed): a regular file, at most
    ``max_bytes`` read."""
    name = display or str(path)
    try:
        # O_NONBLOCK: a named pipe is opened without waiting for a writer, then refused.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise Refused("not a regular file")
            text = handle.read(max_bytes + 1)
    except OSError as exc:
        return Document(
            name, problems=[Diagnostic(name, None, None, f"cannot read: {exc.strerror}")]
        )
    except Refused as exc:
        return Document(name, problems=[Diagnostic(name, None, None, str(exc))])
    return parse(text, name, max_bytes)
