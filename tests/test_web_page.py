"""The try-it page in a real browser: Debian's chromium driven by Playwright against a
started model server (REST) and ``python -m fashion_tf.web`` on a phone-sized screen."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import server_process
from server_process import free_port, stop_server, wait_until
from serving_fixtures import fixture_keras_model

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
K = 6
PHONE = {"width": 390, "height": 844}


def export_with_personalizer(path: Path, item_ids: list[str], dim: int = 16) -> None:
    """The production serving graph (serving_default, similar, personalize) around random
    weights, over the test shop's items: the page offers the sections these signatures allow."""
    import tensorflow as tf

    from fashion_tf.models.personalizer import build_personalizer
    from fashion_tf.serving_graph import ServingModule

    rng = np.random.default_rng(0)
    personalizer = build_personalizer(item_ids, rng.normal(size=(len(item_ids), dim)), hidden_units=(16,))
    module = ServingModule(fixture_keras_model(image_size=32, dim=dim), [f"label_{i:02d}" for i in range(8)], 32,
                           item_ids, personalizer.get_layer("cart").catalog_embeddings().numpy(),
                           personalizer=personalizer)
    tf.saved_model.save(module, str(path), signatures=module.signatures())


@pytest.fixture(scope="module")
def page_url(tiny_shop, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium (.ci/run does)")
    from fashion_tf.data.catalog import load_catalog

    root = tmp_path_factory.mktemp("web")
    item_ids = sorted(load_catalog(tiny_shop).items["item_id"].astype(str).unique())
    export_with_personalizer(root / "fx" / "1", item_ids)
    rest_port, web_port = free_port(), free_port()
    server, _ = server_process.start_server("fx", root / "server.log", "--model_name", "fx", "--model_base_path",
                                            str(root / "fx"), "--rest_api_port", str(rest_port))
    with open(root / "web.log", "w") as log:
        web = subprocess.Popen([sys.executable, "-m", "fashion_tf.web", "--rest", f"http://127.0.0.1:{rest_port}",
                                "--model", "fx", "--catalog", str(tiny_shop), "--port", str(web_port), "--k", str(K)],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{web_port}/"

    def up():
        assert web.poll() is None, (root / "web.log").read_text()[-2000:]
        try:
            return urllib.request.urlopen(url, timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_until(up, 90, "the web page")
        yield url, set(item_ids)
    finally:
        web.kill()
        web.wait(timeout=30)
        stop_server(server)


def test_photo_to_similar_items_and_a_readable_error_for_text(page_url, tmp_path):
    from playwright.sync_api import sync_playwright

    url, catalog_ids = page_url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
            page.goto(url)
            page.wait_for_selector("#demo-photos button")
            # Hold the request so the progress state can be seen, then let it through.
            held = []

            def hold(route):
                held.append(route)

            page.route("**/api/recommend", hold)
            page.click("#demo-photos button >> nth=0")
            page.wait_for_selector("#progress", state="visible")
            assert page.get_attribute("body", "aria-busy") == "true"
            held[0].continue_()
            page.unroute("**/api/recommend")
            page.wait_for_function(f"document.querySelectorAll('#similar figure img').length === {K} && "
                                   "[...document.querySelectorAll('#similar figure img')].every(i => i.complete "
                                   "&& i.naturalWidth > 0)")
            assert page.is_hidden("#progress") and page.is_hidden("#error")
            shown = page.eval_on_selector_all("#similar figure", "fs => fs.map(f => [f.dataset.itemId, "
                                              "f.querySelector('.item-id').textContent])")
            assert len(shown) == K and all(a == b and a in catalog_ids for a, b in shown)
            assert page.locator("#labels li").count() > 0
            assert page.is_hidden("#complete-the-look")  # no complete_the_look signature is served
            assert page.inner_text("#sections-note") == "Not served by fx: complete the look."
            # "For you": a demo shopper's cart -> the personalize signature.
            assert page.is_visible("#for-you")
            page.click("#for-you-button")
            page.wait_for_function(f"document.querySelectorAll('#for-you .items figure img').length === {K} && "
                                   "[...document.querySelectorAll('#for-you img')].every(i => i.complete "
                                   "&& i.naturalWidth > 0)")
            recommended = page.eval_on_selector_all("#for-you .items figure", "fs => fs.map(f => f.dataset.itemId)")
            cart = page.eval_on_selector_all("#for-you .cart figure", "fs => fs.map(f => f.dataset.itemId)")
            assert cart and set(recommended) <= catalog_ids and not set(recommended) & set(cart)
            # Usable on a phone: nothing wider than the screen.
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            screenshot = tmp_path / "web_page.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.read_bytes().startswith(b"\x89PNG")
            if os.environ.get("FASHION_TF_WEB_SCREENSHOT"):  # docs/results/web_page.png for the README
                shutil.copy(screenshot, os.environ["FASHION_TF_WEB_SCREENSHOT"])

            page.set_input_files("#upload", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                    "buffer": b"not a photo, just some text\n"}])
            page.wait_for_selector("#error", state="visible")
            assert page.inner_text("#error") == "“notes.txt” is not an image. Choose a photo (JPEG, PNG, GIF or BMP)."
            assert page.is_hidden("#similar") and page.is_hidden("#progress")
        finally:
            browser.close()
