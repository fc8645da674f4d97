"""NNI's web UI in a real browser (Playwright with the system's Chromium): what a person looks for.

A tiny real experiment (tests/tiny_tuner.py hands out MLP architectures with their web UI labels from
nni_plumbing.labels; tests/mixup_trial.py reports three intermediate results and a final one) runs to DONE;
then the overview, the trial table, a trial's detail, the hyper-parameter view and the intermediate results
chart are checked, and ``python -m mlp_nas view`` reopens the stopped experiment. Screenshots go to the test's
temporary folder; with ``NAS_TOOLKIT_SCREENSHOT=docs/webui.png`` the hyper-parameter view is also saved there.

Without Playwright or Chromium (``make browser`` installs both) the tests are skipped, and the reason says which.
"""
import json
import os
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest

from tests import nni_tiny

N_TRIALS = 4
SCREENSHOT_ENV = "NAS_TOOLKIT_SCREENSHOT"


def chromium_path() -> str | None:
    """The system Chromium (``NAS_TOOLKIT_CHROMIUM`` first): Playwright's own browser download cannot work here."""
    for candidate in (os.environ.get("NAS_TOOLKIT_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    return None


try:
    from playwright.sync_api import sync_playwright
except ImportError:
    pytest.skip("Playwright is not installed: run 'make browser' (pip install playwright, apt-get install chromium)",
                allow_module_level=True)
CHROMIUM = chromium_path()
if CHROMIUM is None:
    pytest.skip("no Chromium browser found (chromium, chromium-browser, google-chrome or NAS_TOOLKIT_CHROMIUM): run "
                "'make browser' (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recorded_trials(exp_dir: Path) -> dict:
    """Trial id -> (its parameters as NNI recorded them, its final report), from the experiment's database."""
    with sqlite3.connect(f"file:{exp_dir / 'db' / 'nni.sqlite'}?mode=ro", uri=True) as conn:
        events = conn.execute("SELECT trialJobId, data FROM TrialJobEvent WHERE data IS NOT NULL ORDER BY rowid").fetchall()
        finals = dict(conn.execute("SELECT trialJobId, data FROM MetricData WHERE type = 'FINAL'").fetchall())
    return {job: (json.loads(data)["parameters"], json.loads(json.loads(finals[job]))) for job, data in events}


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def webui(tmp_path_factory):
    """The tiny experiment, DONE, its web UI still up: dict with port, id, exp (NNI's Experiment), exp_dir, trials,
    shots (the screenshot folder)."""
    tmp = tmp_path_factory.mktemp("webui")
    port = free_port()
    with nni_tiny.running(nni_tiny.tuner_config(tmp, N_TRIALS), port) as exp:
        exp_dir = tmp / "nni" / exp.id
        yield {"port": port, "id": exp.id, "exp": exp, "exp_dir": exp_dir, "trials": recorded_trials(exp_dir),
               "shots": tmp / "screenshots"}


@pytest.fixture
def page(browser, webui):
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    yield page
    page.close()


def shoot(page, webui, name: str) -> Path:
    path = webui["shots"] / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


def open_detail(page, port: int, wait_for: str):
    page.goto(f"http://127.0.0.1:{port}/detail")
    page.wait_for_selector(f"text={wait_for}", timeout=60_000)


def test_overview_shows_the_experiment_and_its_status(page, webui):
    page.goto(f"http://127.0.0.1:{webui['port']}/oview")
    page.wait_for_selector(f"text={webui['id']}", timeout=60_000)
    body = page.inner_text("body")
    shoot(page, webui, "overview")
    assert "webui-tiny" in body
    assert "DONE" in body.split()
    assert f"{N_TRIALS}/{N_TRIALS}" in body.replace("\n", "")  # succeeded / max trial number


def test_trial_table_lists_every_trial_with_its_metric(page, webui):
    trials = webui["trials"]
    assert len(trials) == N_TRIALS
    open_detail(page, webui["port"], next(iter(trials)))
    shoot(page, webui, "trials")
    rows = page.locator(".ms-DetailsRow")
    assert rows.count() == N_TRIALS
    for job, (params, report) in trials.items():
        row = rows.filter(has_text=job)
        assert row.count() == 1, f"trial {job} is not in the table"
        assert f"{report['default']:g} (FINAL)" in row.inner_text()
        assert report["architecture"] == params["architecture"]  # what NNI shows is what the trial trained


def test_a_trials_detail_shows_its_architecture_string(page, webui):
    job, (params, _) = next(iter(webui["trials"].items()))
    open_detail(page, webui["port"], job)
    page.locator(".ms-DetailsRow").filter(has_text=job).locator('[data-automation-key="_expand"] i').click()
    detail = page.get_by_text(params["architecture"], exact=False).last
    detail.wait_for(timeout=30_000)
    shoot(page, webui, "trial_detail")
    assert " > " in params["architecture"] or params["architecture"].split()[0].isdigit()


def test_hyper_parameter_view_plots_the_flat_labels(page, webui):
    open_detail(page, webui["port"], next(iter(webui["trials"])))
    page.get_by_text("Hyper-parameter", exact=True).click()
    page.wait_for_selector("text=n_params", timeout=30_000)
    architectures = sorted({params["architecture"] for params, _ in webui["trials"].values()})
    # every trial's architecture is a labelled tick of the string axis (the page loads the trials' data in steps)
    page.wait_for_function("archs => archs.every(a => document.body.innerText.includes(a))", arg=architectures,
                           timeout=30_000)
    page.wait_for_timeout(1000)  # the chart animates its lines in
    path = shoot(page, webui, "hyper_parameters")
    body = page.inner_text("body")
    for axis in ("architecture", "n_layers", "n_params"):
        assert axis in body
    target = os.environ.get(SCREENSHOT_ENV)
    if target:  # the README's picture: this view shows the architectures at a glance
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        page.locator(".ms-Pivot").first.scroll_into_view_if_needed()
        page.screenshot(path=target, clip={"x": 60, "y": 70, "width": 1220, "height": 500})
    assert path.stat().st_size > 10_000


def coloured_pixels(page) -> int:
    """Pixels of the largest chart canvas with a clear colour: series lines and points (axes and grid are grey)."""
    return page.evaluate("""() => {
        const canvases = Array.from(document.querySelectorAll('canvas'));
        const c = canvases.sort((a, b) => b.width * b.height - a.width * a.height)[0];
        if (!c) return 0;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] > 0 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
        }
        return n;
    }""")


def test_intermediate_results_chart_has_points(page, webui):
    open_detail(page, webui["port"], next(iter(webui["trials"])))
    page.get_by_text("Intermediate result", exact=True).click()
    page.wait_for_selector("text=# Intermediate result", timeout=30_000)
    page.wait_for_timeout(1500)  # the chart animates its lines in
    shoot(page, webui, "intermediate")
    assert coloured_pixels(page) > 500


def test_mlp_nas_view_reopens_the_stopped_experiment(browser, webui, tmp_path):
    from mlp_nas.view import open_view

    webui["exp"].stop()  # the run is over; now reopen it read-only, as a user does later
    port = free_port()
    exp = open_view(webui["id"], port, webui["exp_dir"].parent)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        open_detail(page, port, next(iter(webui["trials"])))
        assert page.locator(".ms-DetailsRow").count() == N_TRIALS
        page.goto(f"http://127.0.0.1:{port}/oview")
        page.wait_for_selector(f"text={webui['id']}", timeout=60_000)
        assert "VIEWED" in page.inner_text("body")
        page.close()
    finally:
        exp.stop()


def test_view_of_an_unknown_experiment_is_one_clear_line(tmp_path):
    from mlp_nas.view import open_view

    with pytest.raises(ValueError, match="no NNI experiment 'nope' in .*check the id, or pass --workdir"):
        open_view("nope", free_port(), tmp_path)
