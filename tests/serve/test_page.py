"""The web page at ``/``, driven in headless Chromium (Playwright) against a real server on a
loopback port: generated text appears as it streams, a tune in ABC notation as notation with a
file to download, class probabilities as bars, entities marked in the text, a translation with
its attention; with an API key, the page asks for it. A screenshot of each view is saved under
the test's tmp_path."""

import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")

from fastapi.testclient import TestClient

from rnnkit.serve import ServeSettings
from rnnkit.serve.app import create_app
from rnnkit.serve.settings import load_models
from tests.serve.server import running

TIMEOUT_MS = 15_000
KEY = "s3cret-key"


class StubTagger:
    """A tagger whose entities are the capitalised words and the Chinese ones, with their
    character offsets (a tiny trained tagger may find none)."""

    task, labels, vocabulary_sizes, parameter_count = "tag", ["O", "B-X"], {"tokens": 1}, 1

    def tag(self, texts, source=None):
        return [self.tag_one(text) for text in texts]

    @staticmethod
    def tag_one(text):
        tokens, entities, at = text.split(), [], 0
        for index, token in enumerate(tokens):
            start = text.index(token, at)
            at = start + len(token)
            if token[:1].isupper() or "\u4e00" <= token[:1] <= "\u9fff":
                kind = "LOC" if token in ("Paris", "北京") else "PER"
                entities.append({"type": kind, "text": token, "first": index, "last": index,
                                 "start": start, "end": at})
        tags = ["O"] * len(tokens)
        for entity in entities:
            tags[entity["first"]] = "B-" + entity["type"]
        return {"tokens": tokens, "tags": tags, "entities": entities}


@pytest.fixture(scope="module")
def pipelines(tiny_models, abc_model):
    loaded = load_models([tiny_models[name] for name in ("lm", "classify", "translate")]
                         + [abc_model])
    return {**loaded, "ner": StubTagger()}


def test_the_page_and_its_files_are_served_without_the_key(pipelines):
    with TestClient(create_app(pipelines, ServeSettings(api_key=KEY))) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'charset="utf-8"' in page.text and "static/app.js" in page.text
        for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
            response = client.get(f"/static/{name}")
            assert response.status_code == 200 and kind in response.headers["content-type"]
        assert client.get("/v1/models").status_code == 401
        assert client.get("/static/%2e%2e/app.py").status_code == 404  # no way out of static/


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="needs Playwright: pip install 'rnnkit[test]'")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("needs a chromium binary for the browser tests: apt-get install chromium")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def url(pipelines):
    with running(create_app(pipelines)) as url:
        yield url


@pytest.fixture
def page(browser, url):
    page = browser.new_page(viewport={"width": 900, "height": 600})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#model option", state="attached")
    yield page
    page.close()


def run(page, model: str, text: str) -> None:
    page.select_option("#model", model)
    page.fill("#input", text)
    page.click("#run")


def test_generated_text_appears_as_it_streams(page, pipelines, tmp_path):
    page.select_option("#model", "lm")
    assert page.is_visible("#temperature") and page.is_visible("#top-p")
    page.fill("#temperature", "0.5")  # a range input takes its value as text
    assert page.text_content("#temperature-value") == "0.5"
    page.fill("#max-tokens", "15")
    run(page, "lm", "the")
    page.wait_for_selector("#generated[data-done=true]")
    text = page.text_content("#generated")
    assert text.startswith("the") and len(text.split()) > 1
    page.wait_for_selector("#gates")  # the LSTM's gates over the prompt: i, f, o and c
    tokens, gates = pipelines["lm"].trace_gates("the")
    tables = page.query_selector_all("#gates table")
    assert [table.query_selector("caption").text_content() for table in tables] == [
        "input gate i", "forget gate f", "output gate o", "cell state c"]
    cells = tables[1].query_selector_all("tbody tr:first-child td")
    assert len(cells) == len(tokens)
    assert [float(cell.get_attribute("title")) for cell in cells] == pytest.approx(
        gates["f"][:, 0].tolist(), abs=1e-3)
    assert len(tables[0].query_selector_all("tbody tr")) == min(16, gates["i"].shape[1])
    assert page.eval_on_selector("#generated", "node => node.tagName") == "DIV"
    assert page.query_selector("#download-abc") is None  # a text model's result is text
    page.screenshot(path=tmp_path / "generate.png", full_page=True)


def test_a_tune_shows_as_notation_with_a_file_to_download(page, tmp_path):
    page.select_option("#model", "tunes")
    assert page.input_value("#input") == "X:1"  # a tune starts at its reference number
    assert "ABC" in page.get_attribute("#input", "placeholder")
    assert page.is_visible("#temperature")
    page.fill("#temperature", "0.1")  # the tiny model knows one tune: close to greedy
    assert page.input_value("#max-tokens") == "1000"  # room for a whole tune
    page.click("#run")
    page.wait_for_selector("#generated[data-done=true]")
    notation = page.query_selector("#generated")
    assert notation.evaluate("node => node.tagName") == "PRE"
    assert "monospace" in notation.evaluate("node => getComputedStyle(node).fontFamily")
    text = notation.text_content()
    assert text.startswith("X:1") and text.count("\n") >= 2
    assert notation.evaluate("node => node.innerText") == text  # each line shown as a line
    with page.expect_download() as downloading:
        page.click("#download-abc")
    download = downloading.value
    assert download.suggested_filename == "tunes.abc"
    tune = Path(download.path()).read_text("utf-8")
    assert tune == text.removesuffix("\n") + "\n"
    assert sum(line.startswith("X:") for line in tune.splitlines()) == 1  # one tune
    page.screenshot(path=tmp_path / "tune.png", full_page=True)
    page.select_option("#model", "lm")  # the tune's prompt and length go with its model
    assert page.input_value("#input") == ""
    assert page.input_value("#max-tokens") == "200"


def test_the_page_asks_for_no_more_tokens_than_the_server_allows(browser, pipelines):
    with running(create_app(pipelines, ServeSettings(max_tokens=300))) as url:
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.wait_for_selector("#model option", state="attached")
        page.select_option("#model", "tunes")
        assert page.input_value("#max-tokens") == "300"
        assert page.get_attribute("#max-tokens", "max") == "300"
        page.select_option("#model", "lm")
        assert page.input_value("#max-tokens") == "200"
        page.close()


def test_class_probabilities_show_as_bars(page, pipelines, tmp_path):
    run(page, "classify", "a great fun movie")
    page.wait_for_selector("#bars .bar-row")
    assert page.is_hidden("#sampling")  # the sliders are a language model's
    expected = pipelines["classify"].predict("a great fun movie")
    assert page.text_content("#bars .bar-label.top") == expected.label
    widths = page.eval_on_selector_all(
        "#bars .bar-row", "rows => rows.map(row => [row.dataset.label, row.firstChild.style.width])")
    assert {label: float(width.rstrip("%")) for label, width in widths} == {
        label: pytest.approx(100 * probability, abs=0.06)
        for label, probability in expected.probabilities.items()}
    page.screenshot(path=tmp_path / "classify.png")


def test_entities_are_marked_in_the_text(page, tmp_path):
    sentence = "John lives in Paris and 小明 lives in 北京 ."
    run(page, "ner", sentence)
    page.wait_for_selector("#tagged mark.entity")
    marks = page.eval_on_selector_all(
        "#tagged mark.entity", "marks => marks.map(m => [m.firstChild.textContent, "
                                "m.dataset.type])")
    assert marks == [["John", "PER"], ["Paris", "LOC"], ["小明", "PER"], ["北京", "LOC"]]
    text = page.eval_on_selector(
        "#tagged", "node => Array.from(node.childNodes).map(child => child.nodeType === 3 ? "
                   "child.textContent : child.firstChild.textContent).join('')")
    assert text == sentence  # the marks sit at the character offsets, nothing lost or moved
    page.screenshot(path=tmp_path / "tag.png")


def test_a_translation_shows_its_attention(page, pipelines, tmp_path):
    run(page, "translate", "i am happy .")
    page.wait_for_selector("#attention tbody tr")
    expected = pipelines["translate"].translate("i am happy .", return_attention=True)
    assert page.text_content("#translation") == expected.text
    assert page.locator("#attention tbody tr").count() == len(expected.attention)
    assert page.locator("#attention thead th").count() == len(expected.source_tokens) + 1
    page.screenshot(path=tmp_path / "translate.png")


def test_with_an_api_key_the_page_asks_for_it(browser, pipelines, tmp_path):
    with running(create_app(pipelines, ServeSettings(api_key=KEY))) as url:
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.wait_for_selector("#key-row:not([hidden])")
        assert "API key" in page.text_content("#error")
        page.fill("#api-key", KEY)
        page.click("#key-save")
        page.wait_for_selector("#model option[value=classify]", state="attached")
        run(page, "classify", "terrible and dull")
        page.wait_for_selector("#bars .bar-row")
        assert page.is_hidden("#error")
        page.close()
