from __future__ import annotations

import re

import pytest

from baton.errors import InputError
from baton.prompts.vocabulary import list_vocabularies, load_vocabulary

from .helpers import TINY_VOCAB, write_tiny_vocab

ORDER_WORDS = re.compile(
    r"\b(then|after|before|while|as|followed|with|over|and|once|finally|first|mixed|together|same|background)\b"
)


def test_builtin_audiocaps200_has_200_well_formed_events():
    vocab = load_vocabulary("audiocaps200")
    assert vocab.name == "audiocaps200"
    assert len(vocab) == 200
    assert len(set(vocab.ids)) == 200
    assert "baton authors" in vocab.description and "AudioSet/AudioCaps" in vocab.description
    assert len({event.category for event in vocab.events}) >= 8
    for event in vocab.events:
        assert 2 <= len(event.clauses) <= 3, event.id
        assert 2 <= len(event.nouns) <= 3, event.id


def test_audiocaps200_phrases_cannot_be_mistaken_for_each_other_or_for_template_words():
    # A phrase of one event is never inside a phrase of another (so a text can be parsed back), and
    # no phrase carries a word the templates use to state order or overlap.
    vocab = load_vocabulary("audiocaps200")
    owner = {phrase: event.id for event in vocab.events for phrase in event.clauses + event.nouns}
    for phrase, event_id in owner.items():
        assert not ORDER_WORDS.search(phrase), phrase
        assert "," not in phrase, phrase
        inside = [other for other, other_id in owner.items() if other_id != event_id and phrase in other]
        assert not inside, (phrase, inside)


def test_list_vocabularies_names_the_builtin_files():
    names = list_vocabularies()
    assert "audiocaps200" in names
    assert names == sorted(names)


def test_load_from_a_file_path(tmp_path):
    path = write_tiny_vocab(tmp_path)
    vocab = load_vocabulary(path)
    assert vocab.name == "tiny"
    assert vocab.ids == ["dog_bark", "car_horn", "bell", "rain"]
    assert vocab.get("dog_bark").clauses == ("a dog barks", "a dog is barking")
    assert vocab.get("dog_bark").category == "animals"
    assert vocab.get("car_horn").category is None
    assert load_vocabulary(str(path)) == vocab


def test_unknown_name_lists_the_builtin_ones():
    with pytest.raises(InputError) as error:
        load_vocabulary("no_such_vocab")
    assert "no_such_vocab" in str(error.value)
    assert "audiocaps200" in str(error.value)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(InputError) as error:
        load_vocabulary(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in str(error.value)


def _error_for(tmp_path, text: str) -> InputError:
    path = write_tiny_vocab(tmp_path, text)
    with pytest.raises(InputError) as error:
        load_vocabulary(path)
    assert error.value.path == str(path)
    return error.value


def test_duplicate_id_names_both_events(tmp_path):
    text = TINY_VOCAB.replace("id: bell", "id: dog_bark")
    error = _error_for(tmp_path, text)
    assert error.field == "events[2].id"
    assert "duplicate id 'dog_bark'" in error.reason and "events[0]" in error.reason
    assert error.line == 11  # 3 header lines, 4 + 3 lines of events, then "- id: dog_bark" again
    assert str(error).startswith(f"{error.path}, line 11, field 'events[2].id'")


def test_empty_phrasing_names_the_field(tmp_path):
    error = _error_for(tmp_path, TINY_VOCAB.replace('["a bell rings"]', '["a bell rings", ""]'))
    assert error.field == "events[2].clauses[1]"
    assert "empty" in error.reason


def test_empty_list_of_phrasings(tmp_path):
    error = _error_for(tmp_path, TINY_VOCAB.replace('["falling rain"]', "[]"))
    assert error.field == "events[3].nouns"


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ('    nouns: ["a car horn honking"]\n', "", "events[1].nouns", "required field is missing"),
        ("  - id: bell\n", "  - category: x\n", "events[2].id", "required field is missing"),
        ("id: rain", "id: Rain-Fall", "events[3].id", "snake_case"),
        ('["rain falls"]', '["Rain falls"]', "events[3].clauses[0]", "lower case"),
        ('["rain falls"]', '["rain falls."]', "events[3].clauses[0]", "punctuation"),
        ('["rain falls"]', '["rain falls", "rain falls"]', "events[3].clauses[1]", "repeated"),
        (
            "    category: animals\n",
            "    category: animals\n    sound: woof\n",
            "events[0].sound",
            "unknown key",
        ),
        ("name: tiny\n", "", "name", "name"),
    ],
)
def test_field_errors(tmp_path, old, new, field, words):
    assert old in TINY_VOCAB
    error = _error_for(tmp_path, TINY_VOCAB.replace(old, new))
    assert error.field == field
    assert words in error.reason


def test_not_a_mapping_and_no_events(tmp_path):
    assert "mapping" in _error_for(tmp_path, "- a\n- b\n").reason
    assert _error_for(tmp_path, "name: x\nevents: []\n").field == "events"


def test_yaml_syntax_error_names_the_line(tmp_path):
    error = _error_for(tmp_path, TINY_VOCAB.replace('nouns: ["falling rain"]', 'nouns: ["falling rain"'))
    assert "not valid YAML" in error.reason
    assert error.line == 17  # the last line, where the bracket is left open
