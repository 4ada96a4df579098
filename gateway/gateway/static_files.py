"""The static files (Bootstrap Italia, fonts, ALTCHA, the site's CSS): fingerprinted, compressed, cached.

At start the gateway reads its static folder once: each file gets a name with its content's hash
(`css/gateway.css` -> `css/gateway.<12 hex>.css`), served with `Cache-Control: public, max-age=31536000,
immutable`; the plain name still answers, with a short cache (GATEWAY_STATIC_MAX_AGE) and revalidation by
ETag. The site's CSS has its `url(...)`s rewritten to the fingerprinted names of the fonts it loads (the
hash is that of the rewritten CSS). Text files go out compressed, Brotli or gzip as the browser accepts:
the files `npm run assets` precompressed beside the vendor files (`.br`, `.gz`; used only when they
decompress to the very file), else compressed here once per process and kept in memory.

Every HTML page the gateway answers, its own and the ones it forwards from the services (their polis.ui
layout links `/static/<file>?v=...`, not knowing the gateway's hashes), has its asset URLs rewritten to the
fingerprinted ones in one place (`fingerprint_page_assets`).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import mimetypes
import posixpath
import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from flask import Flask, Request, Response, request
from werkzeug.exceptions import NotFound

try:  # Brotli: in the gateway's dependencies; without it the answers are gzip only
    import brotli
except ImportError:  # pragma: no cover - the dependency is installed
    brotli = None

log = logging.getLogger("gateway.static")

HASH_LENGTH = 12
IMMUTABLE = "public, max-age=31536000, immutable"
COMPRESSIBLE = frozenset({".css", ".js", ".mjs", ".svg", ".json", ".txt", ".map", ".html", ".xml"})
PRECOMPRESSED = {"br": ".br", "gzip": ".gz"}
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
FINGERPRINT = re.compile(rf"^(?P<stem>.+)\.[0-9a-f]{{{HASH_LENGTH}}}(?P<suffix>\.[A-Za-z0-9]+)$")
CSS_URL = re.compile(r"""url\(\s*(?P<quote>["']?)(?P<ref>[^"')\s]+)(?P=quote)\s*\)""")
# An asset URL in a page: inside an attribute value, optionally with polis.ui's ?v=<version>, before the
# closing quote or a fragment (the sprites' #icon).
PAGE_ASSET = re.compile(rb"""/static/(?P<path>[A-Za-z0-9_./-]+)(?:\?v=[A-Za-z0-9_.+-]*)?(?=["'#])""")
MARKER = b"/static/"
QUOTES = (b'"', b"'")
EXTENSION = "gateway.static_files"


@dataclass
class Asset:
    """One static file: its bytes (as served), their hash, and its compressed forms once made."""

    path: str  # relative to the static folder, with "/"
    source: Path
    body: bytes
    content_type: str
    mtime: float
    rewritten: bool = False  # the body is not the file's bytes (CSS with fingerprinted url()s)
    encoded: dict[str, bytes | None] = field(default_factory=dict)

    @cached_property
    def digest(self) -> str:  # computed once, after the CSS's url()s are rewritten
        return hashlib.sha256(self.body).hexdigest()

    @property
    def compressible(self) -> bool:
        return self.source.suffix.lower() in COMPRESSIBLE

    @cached_property
    def fingerprinted(self) -> str:
        head, dot, suffix = self.path.rpartition(".")
        if not dot or "/" in suffix:
            return f"{self.path}.{self.digest[:HASH_LENGTH]}"
        return f"{head}.{self.digest[:HASH_LENGTH]}.{suffix}"


class StaticFiles:
    """The static folder read once; answers /static/<name> with the right cache and encoding."""

    def __init__(self, folder: str | Path, *, max_age: int = 600) -> None:
        self.folder = Path(folder)
        self.max_age = max_age
        self._lock = threading.Lock()
        self.assets: dict[str, Asset] = {}
        self.by_fingerprint: dict[str, Asset] = {}
        self._load()

    # -- reading the folder ---------------------------------------------------------------------------

    def _load(self) -> None:
        if not self.folder.is_dir():
            log.warning("static folder %s is missing", self.folder)
            return
        files = sorted(
            p
            for p in self.folder.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p.suffix not in (".br", ".gz")
        )
        # Other files first: the CSS then refers to their fingerprinted names.
        for source in sorted(files, key=lambda p: p.suffix.lower() == ".css"):
            path = source.relative_to(self.folder).as_posix()
            body = source.read_bytes()
            asset = Asset(path, source, body, _content_type(source), source.stat().st_mtime)
            if source.suffix.lower() == ".css":
                asset.body = self._rewrite_css(path, body)
                asset.rewritten = asset.body != body
            self.assets[path] = asset
        self.by_fingerprint = {asset.fingerprinted: asset for asset in self.assets.values()}

    def _rewrite_css(self, path: str, css: bytes) -> bytes:
        text = css.decode("utf-8", "surrogateescape")
        base = posixpath.dirname(path)

        def fingerprinted(match: re.Match[str]) -> str:
            ref = match["ref"]
            if ref.startswith(("data:", "http:", "https:", "//", "#", "/")):
                return match[0]
            plain = ref.partition("?")[0]
            plain, hashmark, fragment = plain.partition("#")
            target = self.assets.get(posixpath.normpath(posixpath.join(base, plain)))
            if target is None:
                return match[0]
            name = posixpath.join(posixpath.dirname(plain), posixpath.basename(target.fingerprinted))
            return f'url("{name}{hashmark}{fragment}")'

        return CSS_URL.sub(fingerprinted, text).encode("utf-8", "surrogateescape")

    # -- URLs -----------------------------------------------------------------------------------------

    def url(self, filename: str) -> str | None:
        """The fingerprinted URL of a static file, or None when there is no such file."""
        asset = self.assets.get(filename.lstrip("/"))
        return f"/static/{asset.fingerprinted}" if asset else None

    def fingerprint_page(self, page: bytes) -> bytes:
        """`page` with its /static/ URLs (with or without ?v=) turned into the fingerprinted ones: only
        inside attribute values (after a quote), only for files that exist."""
        at = page.find(MARKER)
        parts: list[bytes] = []
        done = 0
        while at >= 0:
            match = PAGE_ASSET.match(page, at) if at and page[at - 1 : at] in QUOTES else None
            asset = self.assets.get(match["path"].decode("ascii")) if match else None
            if match and asset:
                parts += (page[done:at], f"/static/{asset.fingerprinted}".encode())
                done = match.end()
            at = page.find(MARKER, at + len(MARKER))
        if not parts:
            return page
        parts.append(page[done:])
        return b"".join(parts)

    def find(self, filename: str) -> tuple[Asset, bool] | None:
        """The asset a request names, and whether the name was its current fingerprinted one."""
        asset = self.by_fingerprint.get(filename)
        if asset is not None:
            return asset, True
        asset = self.assets.get(filename)
        if asset is None:
            # A fingerprint of another version (a page from before a deploy): the current file, briefly.
            match = FINGERPRINT.match(filename)
            asset = self.assets.get(match["stem"] + match["suffix"]) if match else None
        return (asset, False) if asset is not None else None

    # -- answers --------------------------------------------------------------------------------------

    def encoded(self, asset: Asset, encoding: str) -> bytes | None:
        """The asset's body in `encoding` (br, gzip), or None when that would not be smaller."""
        if encoding in asset.encoded:
            return asset.encoded[encoding]
        with self._lock:
            if encoding not in asset.encoded:
                asset.encoded[encoding] = self._encode(asset, encoding)
        return asset.encoded[encoding]

    def _encode(self, asset: Asset, encoding: str) -> bytes | None:
        data = None if asset.rewritten else self._precompressed(asset, encoding)
        if data is None:
            if encoding == "gzip":
                data = gzip.compress(asset.body, compresslevel=9, mtime=0)
            elif encoding == "br" and brotli is not None:
                data = brotli.compress(asset.body, quality=9)
        return data if data is not None and len(data) < len(asset.body) else None

    def _precompressed(self, asset: Asset, encoding: str) -> bytes | None:
        sibling = asset.source.with_name(asset.source.name + PRECOMPRESSED[encoding])
        if not sibling.is_file():
            return None
        data = sibling.read_bytes()
        try:
            plain = gzip.decompress(data) if encoding == "gzip" else _brotli_decompress(data)
        except Exception:  # a damaged file is just not used
            plain = None
        if plain != asset.body:
            log.warning("precompressed %s does not match its file: compressing it here", sibling.name)
            return None
        return data

    def answer(self, req: Request, filename: str) -> Response:
        found = self.find(filename)
        if found is None:
            raise NotFound()
        asset, immutable = found
        encoding, body = None, asset.body
        if asset.compressible:
            for candidate in ("br", "gzip"):
                if req.accept_encodings[candidate] and (data := self.encoded(asset, candidate)) is not None:
                    encoding, body = candidate, data
                    break
        response = Response(body, content_type=asset.content_type)
        if encoding:
            response.headers["Content-Encoding"] = encoding
        if asset.compressible:
            response.vary.add("Accept-Encoding")
        # One strong validator per representation: the identity's hash, suffixed by the encoding.
        response.set_etag(asset.digest[:32] + (f"-{encoding}" if encoding else ""))
        response.last_modified = asset.mtime  # type: ignore[assignment]
        response.headers["Cache-Control"] = IMMUTABLE if immutable else f"public, max-age={self.max_age}"
        response.make_conditional(req)  # 304 to a matching If-None-Match / If-Modified-Since
        return response


def _brotli_decompress(data: bytes) -> bytes | None:
    return brotli.decompress(data) if brotli is not None else None


def _content_type(source: Path) -> str:
    suffix = source.suffix.lower()
    if suffix in TYPES:
        return TYPES[suffix]
    guessed = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def static_files(app: Flask) -> StaticFiles:
    files: StaticFiles = app.extensions[EXTENSION]
    return files


def register_static_files(app: Flask) -> None:
    """Serve /static/ from a StaticFiles (Flask's static endpoint, so url_for("static") still works) and
    fingerprint the asset URLs of every HTML page."""
    files = StaticFiles(app.static_folder or "", max_age=app.config["GATEWAY_STATIC_MAX_AGE"])
    app.extensions[EXTENSION] = files

    def serve(filename: str) -> Response:
        return files.answer(request, filename)

    app.view_functions["static"] = serve

    @app.after_request
    def fingerprint_page_assets(response: Response) -> Response:
        if response.mimetype == "text/html" and not response.is_streamed and not response.direct_passthrough:
            page = response.get_data()
            rewritten = files.fingerprint_page(page)
            if rewritten is not page:
                response.set_data(rewritten)
        return response


__all__ = ["StaticFiles", "register_static_files", "static_files"]
