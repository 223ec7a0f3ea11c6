"""A sender's list import in headless Chromium: upload, map the columns, watch the import finish,
read the report, search the list."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import PASSWORD, xlsx_bytes
from playwright.sync_api import expect

from webapp.models import Role

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"  # copies of ../shared/samples


@pytest.fixture
def app_config():
    return {"WORKER": "thread"}


def _sign_in(page, live_server, make_user) -> None:
    make_user(Role.SENDER, "sara@example.com")
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("sara@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Lists").click()


def _import_and_wait_for_the_report(page):
    page.get_by_role("button", name="Import", exact=True).click()
    status = page.locator("#import-status")
    expect(status.get_by_role("heading", name="Report")).to_be_visible(timeout=20_000)
    return status


def test_upload_map_import_and_search(app, live_server, page, screenshot, make_user):
    _sign_in(page, live_server, make_user)

    page.get_by_label("CSV or Excel file").set_input_files(str(SAMPLES / "contacts_utf8.csv"))
    page.get_by_label("List name").fill("Contacts")
    page.get_by_role("button", name="Upload").click()

    expect(page.get_by_role("heading", name="Choose the columns")).to_be_visible()
    mapping = page.locator("#mapping")
    expect(mapping.get_by_role("cell", name="Malmö")).to_be_visible()
    page.get_by_label("Separator").select_option("semicolon")  # wrong on purpose: one column
    expect(mapping.get_by_role("cell", name="+45 21 34 56 78,Karen,Holm,Vejle")).to_be_visible()
    page.get_by_label("Separator").select_option("comma")
    expect(mapping.get_by_role("cell", name="Malmö")).to_be_visible()
    expect(mapping.locator('input[name="phone_column"][value="0"]')).to_be_checked()
    mapping.get_by_label("Field name for First name").fill("fornavn")
    screenshot("lists-1-mapping")

    status = _import_and_wait_for_the_report(page)
    expect(status.locator('[data-test="imported"]')).to_have_text("6")
    expect(status.locator('[data-test="invalid"]')).to_have_text("3")
    expect(status.locator('[data-test="duplicates"]')).to_have_text("1")
    expect(status.get_by_role("cell", name="missing phone number")).to_be_visible()
    screenshot("lists-2-report")

    page.get_by_role("link", name="Open the list").click()
    expect(page.get_by_text("6 recipients.")).to_be_visible()
    page.get_by_label("Search").fill("Malm")
    expect(page.get_by_text("1 recipient matches.")).to_be_visible()
    expect(page.locator("#recipients").get_by_role("cell", name="Lars")).to_be_visible()
    screenshot("lists-3-list")
    assert page.console_errors == []


def test_a_png_is_refused_saying_what_it_is(
    app, live_server, page, screenshot, make_user, tmp_path
):
    _sign_in(page, live_server, make_user)
    png = tmp_path / "contacts.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))

    page.get_by_label("CSV or Excel file").set_input_files(str(png))
    page.get_by_role("button", name="Upload").click()

    expect(
        page.get_by_role("alert").filter(has_text="This is a PNG image, not a CSV file")
    ).to_be_visible()
    screenshot("lists-4-png-refused")
    # The refused upload's page comes with status 400, which Chromium logs; nothing else.
    assert [error for error in page.console_errors if "status of 400" not in error] == []


def test_an_xlsx_is_mapped_on_its_chosen_sheet_and_imported(
    app, live_server, page, screenshot, make_user, tmp_path
):
    _sign_in(page, live_server, make_user)
    workbook = tmp_path / "Spring.xlsx"
    workbook.write_bytes(
        xlsx_bytes(
            {
                "Read me": [["Customers for the spring campaign"]],
                "Customers": [
                    ["Mobil", "Fornavn"],
                    [4520123456.0, "Søren"],
                    [None, None],
                    ["=A2", "Formel"],
                    [21345678, "Åse"],
                ],
            }
        )
    )

    page.get_by_label("CSV or Excel file").set_input_files(str(workbook))
    page.get_by_role("button", name="Upload").click()

    expect(page.get_by_role("heading", name="Choose the columns")).to_be_visible()
    page.get_by_label("Sheet").select_option("Customers")
    mapping = page.locator("#mapping")
    expect(mapping.get_by_role("cell", name="4520123456")).to_be_visible()
    expect(mapping.locator('input[name="phone_column"][value="0"]')).to_be_checked()
    screenshot("lists-5-xlsx-mapping")

    status = _import_and_wait_for_the_report(page)
    expect(status.locator('[data-test="imported"]')).to_have_text("2")
    expect(status.locator('[data-test="invalid"]')).to_have_text("1")
    expect(status.get_by_role("cell", name="a formula (=A2)", exact=False)).to_be_visible()
    screenshot("lists-6-xlsx-report")
    assert page.console_errors == []
