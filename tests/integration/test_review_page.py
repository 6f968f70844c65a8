"""Issue 20: the review page of the demo day, opened in a real headless Chromium (the system's
chromium and chromedriver; scripts/test-all.sh installs them when missing) through Selenium."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from adapter.cli import main

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


class DemoDay:
    def __init__(self, out: Path, summary: dict[str, str]) -> None:
        self.out = out
        self.summary = summary
        self.page = out / "report.html"

    def read(self, rtype: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.out / f"{rtype}.ndjson").read_text().splitlines()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoDay:
    """The demo day coded into a directory (as `make demo` does), its run summary, its page."""
    out = tmp_path_factory.mktemp("demo") / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", "--sink", str(out)]) == 0
    summary = dict(
        (match[1].strip(), match[2].strip())
        for match in re.finditer(r"^\s{2}([a-z ]+):\s+(.*)$", printed.getvalue(), re.M)
    )
    assert main(["report", "--source", str(out), "--out", str(out / "report.html")]) == 0
    return DemoDay(out, summary)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("needs the system chromium and chromium-driver packages (make test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Without the background-networking flags Chromium keeps calling out to hosts this machine
    # cannot reach; a fresh profile keeps runs independent.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1600",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def page(demo: DemoDay, browser: WebDriver) -> WebDriver:
    browser.get(demo.page.as_uri())
    return browser


def visible_cases(driver: WebDriver) -> list[WebElement]:
    return [a for a in driver.find_elements(By.CSS_SELECTOR, "article.case") if a.is_displayed()]


def squash(text: str) -> str:
    return " ".join(text.split())


def test_the_page_loads_without_console_errors_or_network(page: WebDriver, demo: DemoDay) -> None:
    logs: list[dict[str, Any]] = page.get_log("browser")  # type: ignore[no-untyped-call]
    errors = [entry for entry in logs if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    html = demo.page.read_text()
    assert "<link" not in html and " src=" not in html and "@import" not in html  # self-contained
    assert page.find_element(By.ID, "shown").text == str(len(page.find_elements(By.CSS_SELECTOR, "article.case")))


def test_summary_counts_equal_the_run_summary(page: WebDriver, demo: DemoDay) -> None:
    def count(key: str) -> int:
        return int(page.find_element(By.CSS_SELECTOR, f'dd[data-count="{key}"]').text)

    assert count("active") == int(demo.summary["claims active"])
    assert count("held") == int(demo.summary["claims held"].split()[0])
    assert count("tasks") == int(demo.summary["review tasks"])
    assert count("warnings") == int(demo.summary["coding warnings"].split()[0])
    assert count("problems") == int(demo.summary["input problems"].split()[0])
    chart = {
        bar.get_attribute("data-rule"): int(bar.get_attribute("data-count") or 0)
        for bar in page.find_elements(By.CSS_SELECTOR, "#holds-chart g.bar")
    }
    printed = dict(pair.split("=") for pair in demo.summary["holds by rule"].split(", "))
    assert chart == {rule: int(n) for rule, n in printed.items()}
    assert count("held") > 0 and count("active") > 0


def test_filtering_by_a_rule_shows_exactly_the_cases_it_holds(page: WebDriver, demo: DemoDay) -> None:
    drafts = {c["id"] for c in demo.read("Claim") if c["status"] == "draft"}
    held_by: dict[str, set[str]] = {}
    for task in demo.read("Task"):
        claim = task["focus"]["reference"]
        if claim.removeprefix("Claim/") in drafts:
            for entry in task["input"]:
                held_by.setdefault(entry["type"]["coding"][0]["code"], set()).add(claim)
    rule_filter = Select(page.find_element(By.ID, "f-rule"))
    offered = [str(o.get_attribute("value")) for o in rule_filter.options if o.get_attribute("value")]
    assert sorted(offered) == sorted(held_by)
    for rule, claims in held_by.items():
        rule_filter.select_by_value(rule)
        shown = {a.get_attribute("id") for a in visible_cases(page)}
        assert shown == claims, rule
        assert page.find_element(By.ID, "shown").text == str(len(claims))
    rule_filter.select_by_value("")
    assert len(visible_cases(page)) == len(page.find_elements(By.CSS_SELECTOR, "article.case"))


def test_patient_and_status_filters(page: WebDriver, demo: DemoDay) -> None:
    claim = next(c for c in demo.read("Claim") if c["status"] == "active")
    patient = claim["patient"]["reference"]
    box = page.find_element(By.ID, "f-patient")
    box.send_keys(patient)
    shown = visible_cases(page)
    assert shown and all(a.get_attribute("data-patient") == patient for a in shown)
    assert f"Claim/{claim['id']}" in {a.get_attribute("id") for a in shown}
    box.clear()
    Select(page.find_element(By.ID, "f-status")).select_by_value("active")
    assert len(visible_cases(page)) == sum(1 for c in demo.read("Claim") if c["status"] == "active")


def test_a_held_case_shows_every_reason_its_task_lists(page: WebDriver, demo: DemoDay) -> None:
    tasks = [t for t in demo.read("Task") if t["focus"]["reference"].startswith("Claim/")]
    assert tasks
    for task in tasks:
        case = page.find_element(By.ID, task["focus"]["reference"])
        assert case.get_attribute("data-status") == "draft"
        reasons = [squash(li.text) for li in case.find_elements(By.CSS_SELECTOR, "ul.reasons li")]
        wanted = [squash(f"{i['type']['coding'][0]['code']} {i['valueString']}") for i in task["input"]]
        assert sorted(reasons) == sorted(wanted)


def test_an_active_20561_shows_its_three_muscles_with_sources(page: WebDriver, demo: DemoDay) -> None:
    three = [
        c
        for c in demo.read("Claim")
        if c["status"] == "active"
        and c["item"][0]["productOrService"]["coding"][0]["code"] == "20561"
        and any(str(i.get("valueString", "")).startswith("3 muscle(s)") for i in c["supportingInfo"])
    ]
    assert three, "the demo day has an active 20561 with three muscles"
    for claim in three:
        infos = [str(i.get("valueString", "")) for i in claim["supportingInfo"]]
        needled = next(text for text in infos if "muscle(s) needled" in text)
        case = page.find_element(By.ID, f"Claim/{claim['id']}")
        rows = case.find_elements(By.CSS_SELECTOR, "table.muscles tr.muscle")
        assert len(rows) == 3
        for row in rows:
            name, side, sources = (cell.text for cell in row.find_elements(By.TAG_NAME, "td"))
            assert f"{name} ({side})" in needled
            assert sources and all(line.split("/")[0] in ("Procedure", "Observation") for line in sources.splitlines())
        assert "R6" in str(case.find_element(By.CSS_SELECTOR, "details.trace").get_attribute("textContent"))


def test_print_hides_the_filters_and_prints(page: WebDriver) -> None:
    page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not page.find_element(By.ID, "filters").is_displayed()
        pdf = page.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})
        assert len(pdf["data"]) > 10_000
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_warnings_are_grouped_by_kind(page: WebDriver, demo: DemoDay) -> None:
    groups = page.find_elements(By.CSS_SELECTOR, "details.warning-kind")
    sizes = [int(g.get_attribute("data-count") or 0) for g in groups]
    assert sum(sizes) == int(demo.summary["coding warnings"].split()[0])
    assert len(groups) < sum(sizes)  # grouped, not one per warning
    by_rule = Counter(g.get_attribute("data-rule") for g in groups)
    assert set(by_rule) <= {f"R{n}" for n in range(1, 12)} | {"R2a"}


def test_the_page_of_a_server_with_names_only_when_asked(fhir_base: str, tmp_path: Path) -> None:
    """From a server: our tagged Claims, Tasks and Provenances (other tests' too, so ids are checked,
    not totals); patient names appear only with --patient-names."""
    from tests.helpers import SCENARIOS, put_transaction, scenario_resources

    put_transaction(fhir_base, scenario_resources("DN-031.json") + scenario_resources("DN-003.json"))
    for bundle in ("DN-031.json", "DN-003.json"):
        assert main(["run", "--source", str(SCENARIOS / bundle), "--sink", fhir_base]) == 0
    plain, named = tmp_path / "plain.html", tmp_path / "named.html"
    assert main(["report", "--source", fhir_base, "--out", str(plain)]) == 0
    assert main(["report", "--source", fhir_base, "--out", str(named), "--patient-names"]) == 0
    held = 'data-patient="Patient/dn-031-patient"'
    assert held in plain.read_text() and 'data-patient="Patient/dn-003-patient"' in plain.read_text()
    assert "Kowalski" not in plain.read_text()
    assert "Kai Kowalski" in named.read_text()
    assert "CQ" in plain.read_text().split(held, 1)[1].split("</article>", 1)[0]
