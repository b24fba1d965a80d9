"""A person in Chromium: search, page forward, log in, add a country, delete
it; hostile names stay text and are deleted only after the confirmation."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from helpers import DEMO_USER, basic_auth


def names(browser) -> list[str]:
    return [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#countries td.name")]


def test_search_page_login_add_delete(browser, base_url, citydb, tmp_path):
    browser.get(f"{base_url}/")
    assert browser.title == "国家(地区)列表"
    assert browser.find_element(By.ID, "total").text == "183"
    assert names(browser)[:2] == ["Angola", "Afghanistan"]
    assert browser.find_element(By.ID, "app-version").text == "1.0"

    # Search by name, case-insensitive substring.
    box = browser.find_element(By.NAME, "countryname")
    box.send_keys("LAND")
    box.submit()
    WebDriverWait(browser, 5).until(ec.url_contains("countryname=LAND"))
    found = names(browser)
    assert found and all("land" in n.lower() for n in found)

    # Page forward through the unfiltered list.
    browser.get(f"{base_url}/countries")
    browser.find_element(By.ID, "next").click()
    WebDriverWait(browser, 5).until(ec.url_contains("page=2"))
    assert (
        names(browser)[0] == "Austria"
        and browser.find_element(By.CSS_SELECTOR, ".pager .current").text == "2"
    )

    # Log in from the header link and come back.
    browser.find_element(By.ID, "login-link").click()
    browser.find_element(By.NAME, "username").send_keys(DEMO_USER[0])
    browser.find_element(By.NAME, "password").send_keys(DEMO_USER[1])
    browser.find_element(By.ID, "login-submit").click()
    WebDriverWait(browser, 5).until(ec.presence_of_element_located((By.ID, "logout")))
    assert "page=2" in browser.current_url

    # Add a country, see it listed and stored.
    browser.find_element(By.ID, "add").click()
    browser.find_element(By.NAME, "countryname").send_keys("Browserland")
    browser.find_element(By.NAME, "countrycode").send_keys("BL")
    browser.find_element(By.ID, "save").click()
    WebDriverWait(browser, 5).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".flash.success"))
    )
    assert names(browser) == ["Browserland"]
    assert citydb.query("SELECT countrycode FROM country WHERE countryname = 'Browserland'") == (
        ("BL",),
    )
    browser.save_screenshot(str(tmp_path / "added.png"))

    # Delete it (the confirm dialog is accepted), and it is gone.
    browser.find_element(By.CSS_SELECTOR, "#countries button.delete").click()
    WebDriverWait(browser, 5).until(ec.alert_is_present()).accept()
    WebDriverWait(browser, 5).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash.success"), "已删除")
    )
    assert citydb.query("SELECT COUNT(*) FROM country WHERE countryname = 'Browserland'") == ((0,),)
    assert browser.find_element(By.ID, "total").text == "183"


HOSTILE = {
    "quotes": 'Cote d\'Ivoire "the Ivory" Coast',
    "script-string": "x'+(document.title='PWNED')+'",
    "script-tag": "</script><script>document.title='PWNED'</script>",
}


def _login(browser, base_url) -> None:
    browser.get(f"{base_url}/login")
    browser.find_element(By.NAME, "username").send_keys(DEMO_USER[0])
    browser.find_element(By.NAME, "password").send_keys(DEMO_USER[1])
    browser.find_element(By.ID, "login-submit").click()
    WebDriverWait(browser, 5).until(ec.presence_of_element_located((By.ID, "logout")))


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_name_is_text_and_deleted_only_after_confirmation(
    browser, base_url, edge, citydb, tmp_path, case
):
    name = HOSTILE[case]
    created = requests.post(
        f"{base_url}/api/v1/countries",
        json={"countryname": name, "countrycode": "HX"},
        headers=basic_auth(*DEMO_USER),
        timeout=10,
        verify=edge.ca,
    )
    assert created.status_code == 201
    row = created.json()["id"]
    _login(browser, base_url)
    browser.get(f"{base_url}/countries?countrycode=HX")
    title = browser.title
    assert names(browser) == [name]  # shown as text, exactly

    # Dismissing the confirmation keeps the row.
    browser.find_element(By.CSS_SELECTOR, "#countries button.delete").click()
    alert = WebDriverWait(browser, 5).until(ec.alert_is_present())
    assert alert.text == f"删除 (delete) {name}?"
    alert.dismiss()
    assert browser.title == title != "PWNED"
    assert citydb.query("SELECT countryname FROM country WHERE id = %s", row) == ((name,),)
    browser.save_screenshot(str(tmp_path / f"{case}.png"))

    # Accepting it deletes the row; no script ran at any point.
    browser.find_element(By.CSS_SELECTOR, "#countries button.delete").click()
    WebDriverWait(browser, 5).until(ec.alert_is_present()).accept()
    WebDriverWait(browser, 5).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash.success"), "已删除")
    )
    assert citydb.query("SELECT COUNT(*) FROM country WHERE id = %s", row) == ((0,),)
    assert browser.title != "PWNED" and "PWNED" not in browser.execute_script(
        "return document.title"
    )
    logs = [e["message"] for e in browser.get_log("browser")]
    assert not [m for m in logs if "Content Security Policy" in m], logs
