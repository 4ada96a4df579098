"""Issue 15 item 2 (D-IST-1/2): the server validates each section with the same declarative definition
the page is rendered from; every bad answer gets its own message (Italian and English) by its field."""

import pytest
from istanze.forms.validation import validate_section

SCHOOLS = {"RMIC8AB00X": "IC Roma 1", "RMPS01000A": "Liceo Roma", "MIIS00900T": "IIS Milano"}
FORM = {
    "sections": [
        {
            "id": "dati",
            "fields": [
                {"name": "nota", "type": "text", "max_length": 10},
                {"name": "anni", "type": "number", "integer": True, "min": 0, "max": 45, "required": True},
                {"name": "nascita", "type": "date", "required": True},
                {"name": "profilo", "type": "choice", "options": ["cs", "aa"], "required": True},
            ],
        },
        {
            "id": "sedi",
            "fields": [
                {"name": "sedi", "type": "schools", "max_items": 2, "required": True},
                {"name": "dpr445", "type": "declaration", "required": True},
                {"name": "allegato", "type": "attachment", "max_bytes": 100},
            ],
        },
    ]
}


def test_good_answers_come_back_cleaned() -> None:
    cleaned, errors = validate_section(
        FORM,
        "dati",
        {"nota": " ciao ", "anni": "12", "nascita": "1980-02-29", "profilo": "cs"},
        schools=SCHOOLS,
    )
    assert errors == {}
    assert cleaned == {"nota": "ciao", "anni": "12", "nascita": "1980-02-29", "profilo": "cs"}


def test_each_bad_answer_has_its_own_message_in_both_languages() -> None:
    _, errors = validate_section(
        FORM,
        "dati",
        {"nota": "x" * 11, "anni": "4.5", "nascita": "1980-02-30", "profilo": "zz", "hidden": "1"},
        schools=SCHOOLS,
    )
    assert {name: e.reason for name, e in errors.items()} == {
        "nota": "too_long",
        "anni": "not_number",
        "nascita": "not_date",
        "profilo": "not_an_option",
        "hidden": "unknown_field",  # a tampered or hidden field the form does not have
    }
    assert errors["nota"].message("it") == "Testo troppo lungo (massimo 10 caratteri)."
    assert errors["nota"].message("en") == "Too long (at most 10 characters)."


def test_required_fields_and_ranges() -> None:
    _, errors = validate_section(FORM, "dati", {"anni": "46"}, schools=SCHOOLS)
    assert {n: e.reason for n, e in errors.items()} == {
        "anni": "out_of_range",
        "nascita": "required",
        "profilo": "required",
    }


def test_schools_are_an_ordered_list_of_known_schools_up_to_the_limit() -> None:
    cleaned, errors = validate_section(
        FORM, "sedi", {"sedi": ["rmps01000a", "RMIC8AB00X"], "dpr445": "on"}, schools=SCHOOLS
    )
    assert errors == {} and cleaned == {"sedi": ["RMPS01000A", "RMIC8AB00X"], "dpr445": True}
    for sedi, reason in (
        (["RMPS01000A", "RMIC8AB00X", "MIIS00900T"], "too_many_schools"),
        (["XXXX00000X"], "unknown_school"),
        (["RMPS01000A", "RMPS01000A"], "repeated_school"),
    ):
        _, errors = validate_section(FORM, "sedi", {"sedi": sedi, "dpr445": "on"}, schools=SCHOOLS)
        assert errors["sedi"].reason == reason


def test_dpr_445_declarations_must_be_ticked() -> None:
    _, errors = validate_section(FORM, "sedi", {"sedi": ["RMPS01000A"]}, schools=SCHOOLS)
    assert errors["dpr445"].reason == "not_ticked"


@pytest.mark.parametrize(
    ("content", "reason"), [(b"%PDF-1.7" + b"x" * 200, "too_large"), (b"GIF89a not a pdf", "not_pdf")]
)
def test_attachments_are_pdfs_within_the_size_limit(content: bytes, reason: str) -> None:
    answers = {"sedi": ["RMPS01000A"], "dpr445": "on", "allegato": content}
    _, errors = validate_section(FORM, "sedi", answers, schools=SCHOOLS)
    assert errors["allegato"].reason == reason
    cleaned, errors = validate_section(FORM, "sedi", {**answers, "allegato": b"%PDF-1.7 ok"}, schools=SCHOOLS)
    assert errors == {} and cleaned["allegato"]["size"] == len(b"%PDF-1.7 ok")
    # What is kept ({"filename", "content_base64", ...}) validates again at submission; a string is refused.
    again, errors = validate_section(
        FORM, "sedi", {**answers, "allegato": cleaned["allegato"]}, schools=SCHOOLS
    )
    assert errors == {} and again["allegato"] == cleaned["allegato"]
    _, errors = validate_section(FORM, "sedi", {**answers, "allegato": "%PDF-1.7 text"}, schools=SCHOOLS)
    assert errors["allegato"].reason == "not_a_file"


def test_an_unknown_section_is_refused() -> None:
    with pytest.raises(KeyError):
        validate_section(FORM, "nope", {}, schools=SCHOOLS)
