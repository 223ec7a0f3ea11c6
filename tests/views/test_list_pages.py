"""List pages through the test client: upload, mapping, progress, report, browsing, opt-outs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from helpers import confirm, form_errors, import_file, import_id_of, make_list, upload, xlsx_bytes
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import (
    Campaign,
    CampaignStatus,
    ImportStatus,
    ListImport,
    OptOut,
    Recipient,
    RecipientList,
    Role,
    utcnow,
)

CUSTOMERS = (
    "Name,Mobile,City\n"
    "Ida,20 12 34 56,Vejle\n"
    "Bo,+46 8 123 456 78,Stockholm\n"
    "Eva,123,Køge\n"
    "Ida again,+4520123456,Vejle\n"
)


@pytest.fixture
def sender(login_as):
    return login_as(Role.SENDER)


# --- Lists page and upload -------------------------------------------------------------------


def test_lists_page_shows_each_list_with_its_figures(app, sender):
    with app.app_context():
        make_list(db.session, "Spring customers", ["4520123456", "4521345678"], fields=["city"])

    page = sender.get("/lists/").text

    assert "Spring customers" in page
    assert '<td class="num" data-label="Recipients">2</td>' in page
    assert "<code>%city%</code>" in page
    assert 'action="/lists/upload"' in page
    assert "Opt-out list (0)" in page


def test_navigation_links_to_the_lists(sender):
    assert '<a href="/lists/"' in sender.get("/").text


def test_a_viewer_sees_lists_but_no_upload_form(app, login_as):
    with app.app_context():
        make_list(db.session, "Viewable", ["4520123456"])
    page = login_as(Role.VIEWER).get("/lists/").text
    assert "Viewable" in page
    assert 'action="/lists/upload"' not in page


def test_upload_leads_to_the_mapping_step_with_the_phone_column_guessed(sender):
    response = upload(sender, CUSTOMERS)
    import_id = import_id_of(response)

    page = sender.get(f"/lists/imports/{import_id}/mapping").text

    assert "Choose the columns" in page
    assert 'name="phone_column" value="1" checked' in page
    assert 'name="keep" value="0" checked' in page and 'name="keep" value="2" checked' in page
    assert 'name="name_0" value="name"' in page
    assert "<td>+46 8 123 456 78</td>" in page
    assert "new list <strong>customers</strong>" in page


def test_an_upload_without_a_file_says_so(sender):
    response = sender.post("/lists/upload", data={"name": "x"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a CSV or Excel file to upload." in form_errors(response.text)


def test_an_old_workbook_is_refused_with_what_to_do(app, sender):
    response = upload(sender, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 an OLE file", "customers.xls")
    assert response.status_code == 400
    assert "This is an old Excel workbook (.xls)" in response.text
    assert "“Excel Workbook (.xlsx)” or “CSV UTF-8”" in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RecipientList)) == 0


def test_an_image_is_refused_saying_what_it_looks_like(app, sender):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"
    response = upload(sender, png, filename="contacts.csv")
    assert response.status_code == 400
    assert "This is a PNG image, not a CSV file" in form_errors(response.text)[0]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ListImport)) == 0


def test_a_workbook_is_mapped_on_its_chosen_sheet_and_imported(app, sender, jobs):
    content = xlsx_bytes(
        {
            "Read me": [["This list is for the spring campaign"]],
            "Customers": [
                ["Name", "Mobile"],
                ["Ida", 4520123456.0],
                ["Bo", "=B2"],
                [],
                ["Eva", 21345678],
            ],
        }
    )
    import_id = import_id_of(upload(sender, content, filename="Spring.xlsx"))

    page = sender.get(f"/lists/imports/{import_id}/mapping").text
    fragment = sender.get(
        f"/lists/imports/{import_id}/mapping?sheet=Customers&header=1",
        headers={"HX-Request": "true"},
    ).text

    assert '<select name="sheet">' in page and '<option value="Read me" selected>' in page
    assert "Encoding" not in page
    assert '<input type="hidden" name="sheet" value="Customers">' in fragment
    assert "<td>4520123456</td>" in fragment
    response = confirm(sender, import_id, sheet="Customers", header="1", keep=["0"], name_0="name")
    assert response.status_code == 302, response.text
    jobs.run_pending()
    report = sender.get(f"/lists/imports/{import_id}").text
    assert re.search(
        r'<td class="num"[^>]*>3</td><td[^>]*>a formula \(=B2\), not a phone number', report
    )
    with app.app_context():
        list_import = db.session.get(ListImport, import_id)
        assert (list_import.status, list_import.sheet) == (ImportStatus.DONE, "Customers")
        assert (list_import.rows, list_import.imported, list_import.invalid) == (3, 2, 1)
        assert list_import.recipient_list.name == "Spring"


def test_an_upload_waiting_for_its_columns_is_not_a_list_yet(app, sender):
    with app.app_context():
        make_list(db.session, "Customers", ["4520123456", "4521345678"])
        make_list(db.session, "Nobody", [])
    upload(sender, "phone\n22334455\n", filename="half-done.csv")

    dashboard = sender.get("/").text
    compose = sender.get("/campaigns/new").text

    # "Nobody" was imported (every row rejected): a list, but nothing to send to.
    assert re.search(r"<div class=\"value\">2</div><div class=\"label\">recipient lists", dashboard)
    assert "Customers (2 recipients)" in compose
    assert "half-done" not in compose and "Nobody" not in compose


def test_an_upload_without_csrf_token_is_rejected(app, sender):
    response = sender.post(
        "/lists/upload",
        data={"file": (io.BytesIO(b"phone\n20123456\n"), "a.csv")},
        content_type="multipart/form-data",
        csrf=False,
    )
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ListImport)) == 0


@pytest.mark.parametrize("app_config", [{"MAX_UPLOAD_MB": 1}])
def test_a_file_over_the_limit_is_refused_before_anything_is_stored(app, sender):
    big = b"phone\n" + b"20123456\n" * 150_000

    response = upload(sender, big)

    assert response.status_code == 413
    assert "The file is larger than the limit of 1 MB. Nothing was stored." in response.text
    assert 'action="/lists/upload"' in response.text  # the form, to try another file
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ListImport)) == 0
    uploads = Path(app.instance_path) / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


@pytest.mark.parametrize("app_config", [{"MAX_UPLOAD_MB": 1}])
def test_appending_or_opting_out_a_file_over_the_limit_is_refused_too(app, sender):
    with app.app_context():
        list_id = make_list(db.session, "L", ["4520123456"]).id
    big = b"phone\n" + b"20123456\n" * 150_000
    for url, heading in [
        (f"/lists/{list_id}/append", "Add another file"),
        ("/lists/opt-outs/upload", "Opt-out list"),
    ]:
        response = sender.post(
            url,
            data={"file": (io.BytesIO(big), "big.csv")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 413, url
        assert "larger than the limit of 1 MB. Nothing was stored." in response.text
        assert heading in response.text


# --- Mapping ---------------------------------------------------------------------------------


def test_a_format_correction_reloads_only_the_mapping_with_htmx(sender):
    import_id = import_id_of(upload(sender, "phone;name\n20123456;Ida\n"))

    fragment = sender.get(
        f"/lists/imports/{import_id}/mapping?delimiter=comma&header=0",
        headers={"HX-Request": "true"},
    ).text
    page = sender.get(f"/lists/imports/{import_id}/mapping?delimiter=comma&header=0").text

    assert fragment.startswith('\n<div id="mapping">') or fragment.lstrip().startswith(
        '<div id="mapping">'
    )
    assert "<html" not in fragment
    assert "<td>phone;name</td>" in fragment
    assert '<input type="hidden" name="delimiter" value="comma">' in fragment
    assert "<html" in page and "<td>phone;name</td>" in page


def test_mapping_without_a_phone_column_is_refused_beside_the_table(sender):
    import_id = import_id_of(upload(sender, CUSTOMERS))
    response = sender.post(f"/lists/imports/{import_id}/mapping", data={"keep": ["0"]})
    assert response.status_code == 400
    assert "Choose the column that holds the phone numbers." in response.text


def test_two_fields_with_one_name_are_refused_and_the_choices_kept(sender):
    import_id = import_id_of(upload(sender, CUSTOMERS))
    response = confirm(
        sender, import_id, keep=["0", "2"], name_0="Town", name_2="town", name_1="phone"
    )
    assert response.status_code == 400
    assert "Two columns would both be the field %town%" in response.text
    assert 'name="name_0" value="Town"' in response.text
    assert 'name="phone_column" value="1" checked' in response.text


def test_confirmed_mapping_queues_the_import_and_polls_its_progress(sender, jobs):
    import_id = import_id_of(upload(sender, CUSTOMERS))

    response = confirm(sender, import_id, keep=["0"], name_0="first_name")
    page = sender.get(response.headers["Location"]).text

    assert response.headers["Location"] == f"/lists/imports/{import_id}"
    assert 'hx-trigger="every 1s"' in page
    assert "Waiting to start" in page
    lists_page = sender.get("/lists/").text
    assert "Imports in progress" in lists_page and "queued" in lists_page


def test_a_running_import_shows_its_progress_and_keeps_polling(app, sender):
    import_id = import_id_of(upload(sender, CUSTOMERS))
    confirm(sender, import_id, keep=[])
    with app.app_context():
        list_import = db.session.get(ListImport, import_id)
        list_import.status = ImportStatus.RUNNING
        list_import.size_bytes, list_import.bytes_done = 1000, 500
        list_import.rows = 2
        db.session.commit()

    fragment = sender.get(f"/lists/imports/{import_id}/status", headers={"HX-Request": "true"}).text

    assert 'hx-trigger="every 1s"' in fragment
    assert '<span class="w-50"></span>' in fragment
    assert "2 rows read" in fragment
    assert "Cancel the import" in fragment
    assert "importing 50 %" in sender.get("/lists/").text  # the lists page shows it in progress


def test_the_progress_fragment_stops_polling_with_the_report(sender, jobs):
    import_id = import_id_of(upload(sender, CUSTOMERS))
    confirm(sender, import_id, keep=["0"], name_0="first_name")
    jobs.run_pending()

    fragment = sender.get(f"/lists/imports/{import_id}/status", headers={"HX-Request": "true"})

    assert "<html" not in fragment.text
    assert "hx-trigger" not in fragment.text
    assert 'data-test="rows">4<' in fragment.text
    assert 'data-test="imported">2<' in fragment.text
    assert 'data-test="invalid">1<' in fragment.text
    assert 'data-test="duplicates">1<' in fragment.text
    assert 'data-test="landlines">1<' in fragment.text
    assert "probably a landline" in fragment.text


def test_the_report_lists_rejected_rows_and_offers_them_as_csv(app, sender, jobs):
    list_import = import_file(sender, jobs, CUSTOMERS)

    page = sender.get(f"/lists/imports/{list_import.id}").text
    download = sender.get(f"/lists/imports/{list_import.id}/rejected.csv")

    assert (
        '<td class="num" data-label="Line">4</td><td data-label="Why">not a valid number for DK'
        " (+45)</td>" in page
    )
    assert "Download the 2 rejected rows (CSV)" in page
    assert download.mimetype == "text/csv"
    assert 'filename="customers-rejected-rows.csv"' in download.headers["Content-Disposition"]
    assert download.text == (
        "\ufeffName,Mobile,City,line,reason\r\n"
        "Eva,123,Køge,4,not a valid number for DK (+45)\r\n"
        "Ida again,+4520123456,Vejle,5,duplicate of line 2\r\n"
    )


def test_rejected_rows_go_back_in_the_uploads_own_delimiter_and_encoding(app, sender, jobs):
    content = (
        "Navn;Mobil;Beløb;Note\r\n"
        "Søren;20123456;-5;ok\r\n"
        'Åse;123;+12,50;=HYPERLINK("x")\r\n'
        ";;;\r\n"
        "Ærø;;-3;@SUM(A1)\r\n"
    ).encode("cp1252")
    list_import = import_file(sender, jobs, content, filename="kunder.csv")

    download = sender.get(f"/lists/imports/{list_import.id}/rejected.csv")

    assert download.headers["Content-Type"] == "text/csv"
    assert download.data.decode("cp1252") == (
        "Navn;Mobil;Beløb;Note;line;reason\r\n"
        'Åse;123;+12,50;"\'=HYPERLINK(""x"")";3;not a valid number for DK (+45)\r\n'
        "Ærø;;-3;'@SUM(A1);5;missing phone number\r\n"
    )


def test_rejected_rows_of_a_file_without_header_get_a_header_for_line_and_reason(sender, jobs):
    list_import = import_file(sender, jobs, "20123456,Ida\n123,Bo,Vejle\n")

    download = sender.get(f"/lists/imports/{list_import.id}/rejected.csv")

    assert download.text == (
        "\ufeff,,,line,reason\r\n123,Bo,Vejle,2,not a valid number for DK (+45)\r\n"
    )


def test_rejected_rows_of_a_workbook_come_back_as_utf8_csv(sender, jobs):
    content = xlsx_bytes({"Kunder": [["Mobil", "Navn"], [123, "Åse"], [20123456, "Bo"]]})
    list_import = import_file(sender, jobs, content, filename="kunder.xlsx")

    download = sender.get(f"/lists/imports/{list_import.id}/rejected.csv")

    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert download.text == (
        "\ufeffMobil,Navn,line,reason\r\n123,Åse,2,not a valid number for DK (+45)\r\n"
    )


def test_a_failed_import_says_why_and_adds_nobody(app, sender, jobs):
    rows = "".join(f"2012{n:04d},n{n}\n" for n in range(100))
    list_import = import_file(sender, jobs, "phone,name\n" + rows + "20999999," + "x" * 200_000)

    page = sender.get(f"/lists/imports/{list_import.id}").text

    assert list_import.status == ImportStatus.FAILED
    assert "The import failed" in page
    assert "Line 102: field larger than field limit" in page
    assert "No recipient from this file was added to the list" in page


def test_cancelling_a_queued_import_and_discarding_an_upload(app, sender, jobs):
    queued = import_id_of(upload(sender, CUSTOMERS, name="Queued"))
    confirm(sender, queued, keep=[])
    unmapped = import_id_of(upload(sender, CUSTOMERS, name="Unmapped"))

    cancelled = sender.post(f"/lists/imports/{queued}/cancel")
    discarded = sender.post(f"/lists/imports/{unmapped}/cancel")
    jobs.run_pending()

    assert cancelled.status_code == discarded.status_code == 302
    assert "Cancelled by sender@example.com" in sender.get(f"/lists/imports/{queued}").text
    assert discarded.headers["Location"] == "/lists/"
    with app.app_context():
        assert db.session.get(ListImport, queued).status == ImportStatus.FAILED
        assert db.session.get(ListImport, unmapped) is None
        assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


# --- A list ----------------------------------------------------------------------------------


def test_list_page_shows_recipients_fields_flags_and_imports(app, sender, jobs):
    list_import = import_file(sender, jobs, CUSTOMERS)
    with app.app_context():
        db.session.add(OptOut(msisdn="46812345678"))
        db.session.commit()

    page = sender.get(f"/lists/{list_import.list_id}").text

    assert '<td data-label="%city%">Vejle</td>' in page and '<th scope="col">%city%</th>' in page
    assert "probably a landline" in page
    assert "opted out" in page  # opted out after the import: kept, but never sent to
    assert "customers.csv" in page and "Report</a>" in page
    assert "2 recipients." in page


def test_recipients_are_searched_by_number_or_field_value(app, sender, jobs):
    list_id = import_file(sender, jobs, CUSTOMERS).list_id

    def search(query, **extra):
        return sender.get(
            f"/lists/{list_id}/recipients",
            query_string={"q": query, **extra},
            headers={"HX-Request": "true"},
        ).text

    assert "+4520123456" in search("20 12") and "+46812345678" not in search("20 12")
    assert "+46812345678" in search("stockholm") and "+4520123456" not in search("stockholm")
    assert "1 recipient matches." in search("Vej")
    assert "No recipient matches." in search("Aarhus")
    assert "+46812345678" in search("", landlines="1") and "+452012" not in search(
        "", landlines="1"
    )
    assert "<html" not in search("Vejle")


def test_search_matches_field_values_with_letters_beyond_ascii(app, sender, jobs):
    list_id = import_file(sender, jobs, "phone,city\n20123456,Køge\n21345678,Vejle\n").list_id
    fragment = sender.get(
        f"/lists/{list_id}/recipients", query_string={"q": "Køge"}, headers={"HX-Request": "true"}
    ).text
    assert "+4520123456" in fragment and "+4521345678" not in fragment


def test_recipients_come_a_page_at_a_time(app, sender):
    with app.app_context():
        numbers = [f"452012{n:04d}" for n in range(120)]
        list_id = make_list(db.session, "Many", numbers).id

    first = sender.get(f"/lists/{list_id}").text
    third = sender.get(f"/lists/{list_id}/recipients?page=3", headers={"HX-Request": "true"}).text

    assert "Page 1 of 3" in first and "+4520120000" in first and "+4520120050" not in first
    assert "+4520120119" in third and "Next</a>" not in third
    assert sender.get(f"/lists/{list_id}/recipients?page=2").status_code == 302


def test_a_list_can_be_renamed_but_not_to_another_lists_name(app, sender):
    with app.app_context():
        list_id = make_list(db.session, "Old", ["4520123456"]).id
        make_list(db.session, "Taken", ["4520123456"])

    renamed = sender.post(f"/lists/{list_id}/rename", data={"name": "  New   name "})
    clash = sender.post(f"/lists/{list_id}/rename", data={"name": "taken"})

    assert renamed.status_code == 302
    assert clash.status_code == 400
    assert "A list called “taken” already exists" in clash.text
    with app.app_context():
        assert db.session.get(RecipientList, list_id).name == "New name"


def test_deleting_an_unused_list_removes_it_and_its_recipients(app, sender):
    with app.app_context():
        list_id = make_list(db.session, "Gone", ["4520123456"]).id
        draft = Campaign(
            name="draft", sender="Shop", lists=[db.session.get(RecipientList, list_id)]
        )
        db.session.add(draft)
        db.session.commit()
        draft_id = draft.id

    response = sender.post(f"/lists/{list_id}/delete")

    assert response.headers["Location"] == "/lists/"
    with app.app_context():
        assert db.session.get(RecipientList, list_id) is None
        assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0
        assert db.session.get(Campaign, draft_id).lists == []
    assert "was deleted" in sender.get("/lists/").text


def test_a_list_a_sent_campaign_used_is_only_hidden(app, sender):
    with app.app_context():
        recipient_list = make_list(db.session, "History", ["4520123456"])
        list_id = recipient_list.id
        db.session.add(
            Campaign(
                name="sent",
                sender="Shop",
                lists=[recipient_list],
                status=CampaignStatus.DONE,
                confirmed_at=utcnow(),
            )
        )
        db.session.commit()

    sender.post(f"/lists/{list_id}/delete")

    with app.app_context():
        kept = db.session.get(RecipientList, list_id)
        assert kept is not None and kept.hidden
        assert db.session.scalar(select(func.count()).select_from(Recipient)) == 1
    assert f'href="/lists/{list_id}"' not in sender.get("/lists/").text
    assert sender.get(f"/lists/{list_id}").status_code == 404


def test_export_neutralises_cells_a_spreadsheet_would_run(app, sender):
    with app.app_context():
        list_id = make_list(
            db.session,
            "Risky",
            [
                ("4520123456", {"name": '=HYPERLINK("x")', "note": "+1"}),
                ("4521345678", {"name": "@SUM(A1)", "note": "-2, plain"}),
            ],
            fields=["name", "note"],
        ).id

    response = sender.get(f"/lists/{list_id}/export.csv")

    assert response.mimetype == "text/csv"
    assert 'filename="Risky.csv"' in response.headers["Content-Disposition"]
    assert response.text == (
        "\ufeffmsisdn,name,note\r\n"
        '4520123456,"\'=HYPERLINK(""x"")",+1\r\n'
        "4521345678,'@SUM(A1),\"'-2, plain\"\r\n"
    )


def test_appending_a_file_counts_numbers_already_in_the_list(app, sender, jobs):
    first = import_file(sender, jobs, CUSTOMERS)
    response = sender.post(
        f"/lists/{first.list_id}/append",
        data={
            "file": (
                io.BytesIO(b"Mobile,City\n+45 20 12 34 56,Ribe\n21345678,Odense\n"),
                "more.csv",
            )
        },
        content_type="multipart/form-data",
    )
    import_id = import_id_of(response)
    confirm(sender, import_id, phone_column="0", keep=["1"], name_1="city")
    jobs.run_pending()

    report = sender.get(f"/lists/imports/{import_id}").text
    list_page = sender.get(f"/lists/{first.list_id}").text

    assert 'data-test="imported">1<' in report and 'data-test="duplicates">1<' in report
    assert "already in the list" in report
    assert "3 recipients." in list_page


def test_a_viewer_can_look_and_download_but_not_change(app, login_as, jobs):
    sender = login_as(Role.SENDER)
    list_import = import_file(sender, jobs, CUSTOMERS)
    sender.post("/logout")
    viewer = login_as(Role.VIEWER)
    list_id = list_import.list_id

    for url in [
        "/lists/",
        f"/lists/{list_id}",
        f"/lists/{list_id}/export.csv",
        f"/lists/imports/{list_import.id}",
        f"/lists/imports/{list_import.id}/rejected.csv",
        "/lists/opt-outs",
    ]:
        assert viewer.get(url).status_code == 200, url
    assert "Delete list" not in viewer.get(f"/lists/{list_id}").text
    for url in [f"/lists/{list_id}/rename", f"/lists/{list_id}/delete", "/lists/opt-outs/add"]:
        assert viewer.post(url, data={"name": "x", "numbers": "20123456"}).status_code == 403
    assert viewer.get(f"/lists/imports/{list_import.id}/mapping").status_code == 403


# --- Opt-outs --------------------------------------------------------------------------------


def test_opt_outs_are_added_by_hand_and_by_file_and_removed(app, sender):
    added = sender.post(
        "/lists/opt-outs/add", data={"numbers": "20 12 34 56\n+46 70 123 45 67", "note": "STOP"}
    )
    uploaded = sender.post(
        "/lists/opt-outs/upload",
        data={"file": (io.BytesIO(b"phone\n21345678\n20123456\n"), "stop.csv")},
        content_type="multipart/form-data",
    )
    page = sender.get("/lists/opt-outs").text

    assert added.status_code == uploaded.status_code == 302
    assert 'data-test="opt-out-count">3<' in page
    assert "1 added, 1 already on the list, 0 not understood." in page
    removed = sender.post("/lists/opt-outs/4520123456/remove")
    assert removed.status_code == 302
    with app.app_context():
        assert sorted(db.session.scalars(select(OptOut.msisdn))) == ["4521345678", "46701234567"]


def test_numbers_not_understood_are_listed_with_the_reason(sender):
    response = sender.post("/lists/opt-outs/add", data={"numbers": "20123456, hello"})
    assert response.status_code == 200
    assert "<code>hello</code>: not a phone number" in response.text
    assert "1 added, 0 already on the list, 1 not understood." in response.text


def test_a_viewer_sees_the_opt_out_count_but_no_forms(app, login_as):
    with app.app_context():
        db.session.add(OptOut(msisdn="4520123456"))
        db.session.commit()
    page = login_as(Role.VIEWER).get("/lists/opt-outs").text
    assert 'data-test="opt-out-count">1<' in page
    assert "/lists/opt-outs/add" not in page and "Remove" not in page


def test_a_viewer_downloads_the_consent_record_of_one_number(app, sender, login_as):
    sender.post("/lists/opt-outs/add", data={"numbers": "20123456\n21345678"})
    sender.post("/lists/opt-outs/4520123456/remove")
    sender.post("/logout")
    response = login_as(Role.VIEWER, "reader@example.com").get(
        "/lists/opt-outs/consent.csv?number=%2B45%2020123456"
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="consent-4520123456.csv"' in response.headers["Content-Disposition"]
    rows = [line.split(",")[:3] for line in response.text.lstrip("\ufeff").splitlines()[1:]]
    assert rows == [["4520123456", "opt_out", "typed"], ["4520123456", "opt_in", "typed"]]


# --- Escaping --------------------------------------------------------------------------------


def test_every_user_text_is_shown_literally(app, sender, jobs):
    content = (
        "Mobile,{{7*7}},<script>x</script>\n"
        "20123456,{{7*7}},<script>x</script>\n"
        "<script>x</script>,{{7*7}},bad\n"
    )
    import_id = import_id_of(
        upload(sender, content, filename="<script>x</script>.csv", name="<script>x</script>")
    )
    mapping = sender.get(f"/lists/imports/{import_id}/mapping").text
    lists_in_progress = sender.get("/lists/").text
    confirm(sender, import_id, phone_column="0", keep=["1", "2"], name_1="a", name_2="b")
    jobs.run_pending()
    with app.app_context():
        list_id = db.session.get(ListImport, import_id).list_id
    sender.post("/lists/opt-outs/add", data={"numbers": "21345678", "note": "<script>x</script>"})

    pages = {
        "mapping": mapping,
        "lists in progress": lists_in_progress,
        "lists": sender.get("/lists/").text,
        "list": sender.get(f"/lists/{list_id}").text,
        "report": sender.get(f"/lists/imports/{import_id}").text,
        "opt-outs": sender.get("/lists/opt-outs").text,
    }
    for name, page in pages.items():
        assert "<script>x</script>" not in page, name
        assert "&lt;script&gt;x&lt;/script&gt;" in page, name
    for name in ("mapping", "list", "report"):
        assert "{{7*7}}" in pages[name], name


# --- Words (issue 15, item 10) ---------------------------------------------------------------


def test_import_report_counts_in_the_singular_when_one(sender, jobs):
    done = import_file(sender, jobs, CUSTOMERS)  # one duplicate: "Ida again"
    page = sender.get(f"/lists/imports/{done.id}").text
    assert '<div class="label">duplicate</div>' in page
    assert "+ 1 duplicate\n" in page or "+ 1 duplicate " in page
    assert "1 duplicates" not in page


def test_mapping_of_a_file_with_only_a_header_shows_no_first_rows(sender):
    import_id = import_id_of(upload(sender, "Name,Mobile\n"))
    page = sender.get(f"/lists/imports/{import_id}/mapping").text
    assert "The file has no data rows" in page
    assert "The first 0 rows" not in page
