"""Issue 13 item 7: static files compressed, under fingerprinted names cached for a year, the plain names
still answering with a short cache; every page (the gateway's and the forwarded ones) links the
fingerprinted URLs. On the real static folder (npm run assets) and on small folders made here."""

from __future__ import annotations

import gzip
import posixpath
import re
from pathlib import Path
from typing import Any

import brotli
import pytest
from gateway.static_files import IMMUTABLE, StaticFiles

STATIC = Path(__file__).parents[2] / "gateway" / "static"
BUNDLE = "vendor/bootstrap-italia/js/bootstrap-italia.bundle.min.js"
CSS = "vendor/bootstrap-italia/css/bootstrap-italia.min.css"
FINGERPRINTED = r"\.[0-9a-f]{12}\."


def asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', page)


def fingerprinted_url(client: Any, path: str) -> str:
    page = client.get("/").get_data(as_text=True)
    stem, suffix = path.rsplit(".", 1)
    found = re.search(rf'"(/static/{re.escape(stem)}\.[0-9a-f]{{12}}\.{suffix})[#"]', page)
    assert found, f"no fingerprinted URL of {path} in the home page"
    return found.group(1)


def test_issue_13_every_asset_url_of_a_page_carries_its_fingerprint(client: Any) -> None:
    page = client.get("/").get_data(as_text=True)

    urls = asset_urls(page) + re.findall(r'<use href="(/static/[^"#]+)', page)
    assert len(urls) >= 6  # favicon, three stylesheets, the sprites, the bundle
    for url in urls:
        assert re.search(FINGERPRINTED, url) and "?v=" not in url, url


def test_a_forwarded_services_page_links_the_fingerprinted_assets(client: Any) -> None:
    page = client.get("/iam/with-assets").get_data(as_text=True)

    assert re.search(
        rf'href="/static/vendor/bootstrap-italia/css/bootstrap-italia\.min{FINGERPRINTED}css"', page
    )
    assert re.search(
        rf'<use href="/static/vendor/bootstrap-italia/svg/sprites{FINGERPRINTED}svg#it-pa"', page
    )
    assert "<p>/static/css/gateway.css stays as it is in text</p>" in page  # not inside an attribute
    assert 'src="/static/vendor/no-such-file.js?v=ui-1"' in page  # no such asset: left alone


def test_a_fingerprinted_asset_is_gzip_for_gzip_and_cached_for_a_year(client: Any) -> None:
    url = fingerprinted_url(client, BUNDLE)

    response = client.get(url, headers={"Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.headers["Content-Type"].startswith("text/javascript")
    body = response.get_data()
    assert gzip.decompress(body) == (STATIC / BUNDLE).read_bytes()
    assert len(body) < (STATIC / BUNDLE).stat().st_size / 3  # 1 MB of JavaScript, a few hundred KB sent


def test_brotli_when_the_browser_takes_it_and_nothing_when_it_takes_neither(client: Any) -> None:
    url = fingerprinted_url(client, CSS)

    br = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    plain = client.get(url, headers={"Accept-Encoding": "identity"})

    assert br.headers["Content-Encoding"] == "br"
    assert brotli.decompress(br.get_data()) == (STATIC / CSS).read_bytes()
    assert "Content-Encoding" not in plain.headers
    assert plain.get_data() == (STATIC / CSS).read_bytes()
    assert br.headers["ETag"] != plain.headers["ETag"]  # one validator per representation


def test_an_unchanged_asset_answers_304_to_its_etag(client: Any) -> None:
    url = fingerprinted_url(client, CSS)
    first = client.get(url, headers={"Accept-Encoding": "gzip"})

    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == IMMUTABLE


def test_the_plain_name_still_works_with_a_short_cache(client: Any) -> None:
    response = client.get(f"/static/{CSS}?v=whatever", headers={"Accept-Encoding": "gzip"})

    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "public, max-age=600"
    assert response.headers["ETag"]
    again = client.get(
        f"/static/{CSS}", headers={"Accept-Encoding": "gzip", "If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304


def test_fonts_loaded_by_the_sites_css_are_fingerprinted_too(client: Any) -> None:
    css = client.get(fingerprinted_url(client, "css/fonts.css"), headers={"Accept-Encoding": "identity"})
    fonts = re.findall(r'url\("([^"]+\.woff2)"\)', css.get_data(as_text=True))

    assert fonts and all(re.search(FINGERPRINTED, font) for font in fonts)
    font = client.get(posixpath.normpath(f"/static/css/{fonts[0]}"))  # as the browser resolves it
    assert font.status_code == 200 and font.headers["Content-Type"] == "font/woff2"
    assert font.headers["Cache-Control"] == IMMUTABLE
    assert "Content-Encoding" not in font.headers  # woff2 is compressed already


def test_an_unknown_static_file_is_a_404(client: Any) -> None:
    assert client.get("/static/vendor/nothing-here.js").status_code == 404
    assert client.get("/static/../config.py").status_code == 404


# --- on a folder of its own ---------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "app.js").write_text("console.log('polis');\n" * 200)
    return tmp_path


def test_a_precompressed_file_is_served_when_it_is_the_files_own(folder: Path) -> None:
    source = (folder / "js" / "app.js").read_bytes()
    (folder / "js" / "app.js.br").write_bytes(brotli.compress(source, quality=11))
    files = StaticFiles(folder)
    [asset] = files.assets.values()

    assert files.encoded(asset, "br") == (folder / "js" / "app.js.br").read_bytes()
    assert "js/app.js.br" not in files.assets  # never an asset of its own


def test_a_stale_precompressed_file_is_ignored(folder: Path) -> None:
    (folder / "js" / "app.js.gz").write_bytes(gzip.compress(b"an older version of the file"))
    files = StaticFiles(folder)
    [asset] = files.assets.values()

    assert gzip.decompress(files.encoded(asset, "gzip") or b"") == (folder / "js" / "app.js").read_bytes()


def test_an_old_fingerprint_gets_the_current_file_without_the_long_cache(folder: Path) -> None:
    files = StaticFiles(folder)
    [asset] = files.assets.values()

    found = files.find("js/app.0123456789ab.js")

    assert found == (asset, False)
    assert files.find(asset.fingerprinted) == (asset, True)
    assert files.find("js/other.0123456789ab.js") is None
