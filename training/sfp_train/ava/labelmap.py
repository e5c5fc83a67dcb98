"""AVA label maps in pbtxt form.

Two spellings occur: `item { name: "stand" id: 12 }` (mmaction2, the TF object-detection API) and the official AVA
files' `label { name: "stand" label_id: 12 label_type: PERSON_MOVEMENT }`. Both parse into the same ordered list of
`LabelEntry(id, name)`, in file order. AVA has 80 actions; the official evaluation (and the ActivityNet challenge)
scores only the 60 in `AVA_EVALUATION_CLASS_IDS`, which is what `ava_action_list_v2.x_for_activitynet_*.pbtxt` lists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from sfp.errors import SfpError, StorageError

AVA_NUM_ACTIONS = 80
"""Number of action classes annotated in AVA v2.x (ids 1..80)."""

AVA_EVALUATION_CLASS_IDS: frozenset[int] = frozenset(
    {1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 20, 22, 24, 26, 27, 28, 29, 30, 34, 36, 37, 38, 41, 43, 45}
    | {46, 47, 48, 49, 51, 52, 54, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 72, 73, 74, 76, 77}
    | {78, 79, 80}
)
"""The 60 action ids the official AVA evaluation scores (the classes with enough validation examples)."""

_BLOCK_NAMES = ("item", "label")
_ID_FIELDS = ("id", "label_id")
_TOKEN = re.compile(r'\s+|#[^\n]*|"(?:[^"\\\n]|\\.)*"|[{}:]|[^\s{}:"#]+')


class LabelEntry(NamedTuple):
    """One class of a label map; compares equal to the plain tuple `(id, name)`."""

    id: int
    name: str


def read_labelmap(path: str | Path) -> list[LabelEntry]:
    """Read a pbtxt label map file (either spelling) into `LabelEntry`s in file order."""
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"label map not found: {path}")
    return parse_labelmap(path.read_text(encoding="utf-8"), source=str(path))


def parse_labelmap(text: str, *, source: str = "<label map>") -> list[LabelEntry]:
    """Parse pbtxt text: blocks `item {...}` or `label {...}` with a quoted `name` and an integer `id`/`label_id`.

    Other fields (`label_type`, `display_name`) are ignored. Unlike the reference's line-prefix reader
    (`read_labelmap` in get_ava_performance.py), any layout works, including one block per line.
    """
    entries: list[LabelEntry] = []
    seen: dict[int, int] = {}
    tokens = _tokenize(text, source)
    position = 0
    while position < len(tokens):
        line, block = tokens[position]
        if block not in _BLOCK_NAMES or position + 1 >= len(tokens) or tokens[position + 1][1] != "{":
            raise SfpError(f"{source}:{line}: expected 'item {{' or 'label {{', got {block!r}")
        fields, position = _read_block(tokens, position + 2, source, line)
        entry = _entry_from_fields(fields, source, line)
        if entry.id in seen:
            raise SfpError(f"{source}:{line}: class id {entry.id} already defined on line {seen[entry.id]}")
        seen[entry.id] = line
        entries.append(entry)
    if not entries:
        raise SfpError(f"{source}: label map has no classes")
    return entries


def _tokenize(text: str, source: str) -> list[tuple[int, str]]:
    """Split pbtxt into (line number, token) pairs, dropping whitespace and `#` comments."""
    tokens: list[tuple[int, str]] = []
    line = 1
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only an unterminated string gets here
            raise SfpError(f"{source}:{line}: unterminated string")
        token = match.group()
        if not token.isspace() and not token.startswith("#"):
            tokens.append((line, token))
        line += token.count("\n")
        position = match.end()
    return tokens


def _read_block(
    tokens: list[tuple[int, str]], position: int, source: str, start_line: int
) -> tuple[dict[str, tuple[int, str]], int]:
    """Read `key: value` pairs up to the closing brace; returns the fields and the position after the brace."""
    fields: dict[str, tuple[int, str]] = {}
    while position < len(tokens) and tokens[position][1] != "}":
        line, key = tokens[position]
        well_formed = position + 2 < len(tokens) and tokens[position + 1][1] == ":"
        if not well_formed or tokens[position + 2][1] in ("{", "}", ":"):
            raise SfpError(f"{source}:{line}: expected 'field: value' inside the block, got {key!r}")
        fields[key] = (line, tokens[position + 2][1])
        position += 3
    if position >= len(tokens):
        raise SfpError(f"{source}:{start_line}: block is not closed with '}}'")
    return fields, position + 1


def _entry_from_fields(fields: dict[str, tuple[int, str]], source: str, line: int) -> LabelEntry:
    if "name" not in fields:
        raise SfpError(f"{source}:{line}: block has no 'name'")
    name_line, raw_name = fields["name"]
    if not (len(raw_name) >= 2 and raw_name.startswith('"') and raw_name.endswith('"')):
        raise SfpError(f"{source}:{name_line}: name must be a quoted string, got {raw_name}")
    id_field = next((key for key in _ID_FIELDS if key in fields), None)
    if id_field is None:
        raise SfpError(f"{source}:{line}: block has no 'id' or 'label_id'")
    id_line, raw_id = fields[id_field]
    try:
        class_id = int(raw_id)
    except ValueError:
        raise SfpError(f"{source}:{id_line}: {id_field} must be an integer, got {raw_id!r}") from None
    name = re.sub(r"\\(.)", r"\1", raw_name[1:-1])
    return LabelEntry(class_id, name)
