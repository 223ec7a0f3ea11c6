"""Column headers: which column holds the phone numbers, and how headers become tag names."""

from __future__ import annotations

import pytest

from webapp.csvimport import fold_name, guess_phone_column, is_phone_header


@pytest.mark.parametrize(
    "name",
    ["Phone", "phone number", "Mobile", "MSISDN", "Telefon", "Telefonnummer", "Mobil", "Tlf.",
     "Mobilnummer", "Handy", "Portable", "Celular", "Cell phone", "Mobile Phone", "Kunde tlf"],
)  # fmt: skip
def test_phone_column_names_in_several_languages_are_recognised(name):
    assert is_phone_header(name)


@pytest.mark.parametrize("name", ["Name", "First name", "City", "By", "Email", "Hotel", ""])
def test_other_column_names_are_not_phone_columns(name):
    assert not is_phone_header(name)


def test_phone_column_is_guessed_by_name():
    header = ["Name", "Mobil", "City"]
    rows = [["Karen", "20123456", "Vejle"], ["Peter", "22334455", "Herning"]]

    assert guess_phone_column(header, rows, "DK") == 1


def test_phone_named_column_wins_even_when_its_numbers_are_broken():
    header = ["Kundenr", "Mobile"]
    rows = [["20123456", "4,52E+09"], ["22334455", "4,52E+09"]]

    assert guess_phone_column(header, rows, "DK") == 1


def test_specific_phone_name_beats_a_generic_one():
    header = ["Number", "Mobile"]
    rows = [["20123456", "22334455"]]

    assert guess_phone_column(header, rows, "DK") == 1


def test_generic_name_needs_numbers_under_it():
    header = ["Number", "Contact"]
    rows = [["1", "20123456"], ["2", "22334455"]]

    assert guess_phone_column(header, rows, "DK") == 1


def test_phone_column_is_guessed_by_content_without_a_header():
    header = ["column_1", "column_2", "column_3"]
    rows = [["Karen", "Vejle", "+45 20123456"], ["Peter", "Herning", "22 33 44 55"]]

    assert guess_phone_column(header, rows, "DK") == 2


def test_no_phone_column_when_no_column_holds_numbers():
    assert guess_phone_column(["Name", "City"], [["Karen", "Vejle"]], "DK") is None


def test_column_names_fold_to_ascii_words():
    assert fold_name("First name") == "first_name"
    assert fold_name("  Ærø Købstad ") == "aeroe_koebstad"
    assert fold_name("Prénom (2)") == "prenom_2"
    assert fold_name("!!!") == ""
