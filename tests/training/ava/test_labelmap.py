from pathlib import Path

import pytest

from sfp.errors import SfpError, StorageError
from sfp_train.ava.labelmap import (
    AVA_EVALUATION_CLASS_IDS,
    AVA_NUM_ACTIONS,
    LabelEntry,
    parse_labelmap,
    read_labelmap,
)


def _fixtures() -> Path:
    root = next(parent for parent in Path(__file__).resolve().parents if (parent / "pyproject.toml").is_file())
    return root.parent / "shared" / "fixtures"


def test_reads_item_blocks_in_file_order():
    labelmap = read_labelmap(_fixtures() / "ava" / "action_list.pbtxt")

    assert labelmap == [(12, "action1"), (17, "action2"), (79, "action3"), (80, "action3")]
    assert labelmap[0].id == 12 and labelmap[0].name == "action1"


def test_reads_the_official_label_blocks_with_label_type():
    text = (
        'label {\n  name: "bend/bow (at the waist)"\n  label_id: 1\n  label_type: PERSON_MOVEMENT\n}\n'
        'label {\n  name: "carry/hold (an object)"\n  label_id: 17\n  label_type: OBJECT_MANIPULATION\n}\n'
    )

    assert parse_labelmap(text) == [(1, "bend/bow (at the waist)"), (17, "carry/hold (an object)")]


def test_reads_one_block_per_line_comments_and_escaped_quotes():
    text = '# AVA\nitem { name: "say \\"hi\\"" id: 3 }  # a comment\nitem{name:"run/jog" id:10 display_name: "x"}\n'

    assert parse_labelmap(text) == [LabelEntry(3, 'say "hi"'), LabelEntry(10, "run/jog")]


def test_selects_the_sixty_evaluation_classes_from_the_eighty_actions():
    all_actions = [LabelEntry(class_id, f"action {class_id}") for class_id in range(1, AVA_NUM_ACTIONS + 1)]

    evaluated = [entry for entry in all_actions if entry.id in AVA_EVALUATION_CLASS_IDS]

    assert len(evaluated) == 60
    assert [entry.id for entry in evaluated][:5] == [1, 3, 4, 5, 6]
    assert {2, 16, 18, 19, 21, 23, 25, 75}.isdisjoint(entry.id for entry in evaluated)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('item {\n  name: "a"\n}\n', "<label map>:1: block has no 'id' or 'label_id'"),
        ('item {\n  id: 1\n}\n', "<label map>:1: block has no 'name'"),
        ('item { name: "a" id: one }', "<label map>:1: id must be an integer, got 'one'"),
        ('item { name: "a" id: 1 }\nitem { name: "b" id: 1 }', "<label map>:2: class id 1 already defined on line 1"),
        ('item { name: "a" id: 1 ', "<label map>:1: block is not closed"),
        ('item { name: "a id: 1 }', "<label map>:1: unterminated string"),
        ("entry { }", "<label map>:1: expected 'item {' or 'label {', got 'entry'"),
        ("", "<label map>: label map has no classes"),
    ],
)
def test_malformed_label_maps_name_the_line(text, message):
    with pytest.raises(SfpError) as error:
        parse_labelmap(text)

    assert str(error.value).startswith(message)


def test_missing_label_map_is_a_storage_error(tmp_path):
    with pytest.raises(StorageError, match="label map not found: .*missing.pbtxt"):
        read_labelmap(tmp_path / "missing.pbtxt")
