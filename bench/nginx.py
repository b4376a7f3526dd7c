"""The nginx of docs/deployment.rst (``docs/nginx/medialib.conf``), made runnable on loopback.

The benchmark and the tests run that very file, so what they measure and prove is what the
docs tell people to run: this puts loopback addresses and throw-away folders in place of the
production ones (and, for plain http, drops TLS and the http-to-https server; with ``tls``
it keeps both, with the given certificate), and wraps it in a main config for one nginx
process of the current user. Each replaced text must appear exactly once,
so an edit of the docs that this no longer fits fails loudly instead of drifting.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "docs" / "nginx" / "medialib.conf"
NGINX = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin")
ACCEL = "/_medialib_files"  # the internal location of the template

MAIN = """daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{site}
}}
"""

_TLS = (
    "    ssl_certificate     /etc/letsencrypt/live/media.example.com/fullchain.pem;\n",
    "    ssl_certificate_key /etc/letsencrypt/live/media.example.com/privkey.pem;\n",
)
_PLAIN_HTTP = "# Plain http: to https."


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"{TEMPLATE} no longer holds {old!r} exactly once; update bench/nginx.py")
    return text.replace(old, new)


@dataclass(frozen=True)
class TLS:
    """The certificate and key in place of the docs' ones, and the loopback port of the plain http server."""

    cert: Path
    key: Path
    http_port: int


def site(
    port: int, app_port: int, storage: Path, cache: Path, access_log: Path | None = None, tls: TLS | None = None
) -> str:
    """The template's http-block text for loopback: the app on ``app_port``; plain http on ``port``,
    or with ``tls`` https on ``port`` and the docs' http-to-https server on ``tls.http_port``."""
    text = TEMPLATE.read_text()
    if text.count(_PLAIN_HTTP) != 1:
        raise ValueError(f"{TEMPLATE} no longer holds {_PLAIN_HTTP!r} exactly once; update bench/nginx.py")
    if tls is None:
        text = text[: text.index(_PLAIN_HTTP)]
        for line in _TLS:
            text = _replace_once(text, line, "")
        text = _replace_once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
    else:
        for line, path in zip(_TLS, (tls.cert, tls.key), strict=True):
            text = _replace_once(text, line, line.replace(line.split()[-1], f"{path.resolve()};"))
        text = _replace_once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
        text = _replace_once(text, "listen 80;", f"listen 127.0.0.1:{tls.http_port};")
    text = _replace_once(text, "server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    text = _replace_once(text, "alias /srv/medialib/storage/;", f"alias {storage.resolve()}/;")
    text = _replace_once(text, "proxy_cache_path /var/cache/nginx/medialib ", f"proxy_cache_path {cache} ")
    log = f"access_log {access_log} medialib_no_query;" if access_log else "access_log off;"
    return _replace_once(text, "access_log /var/log/nginx/medialib.log medialib_no_query;", log)


def write_conf(
    folder: Path, port: int, app_port: int, storage: Path, access_log: Path | None = None, tls: TLS | None = None
) -> list[str]:
    """Writes ``folder/nginx.conf`` (cache and temporary files under ``folder``); the argv that runs it."""
    if NGINX is None:
        raise RuntimeError("nginx is missing: apt-get install nginx-light")
    folder.mkdir(parents=True, exist_ok=True)
    text = site(port, app_port, storage, folder / "cache", access_log, tls)
    conf = folder / "nginx.conf"
    conf.write_text(MAIN.format(tmp=folder, site=text))
    return [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)]
