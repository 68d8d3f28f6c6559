"""Remote recordings, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import escope
from escope import DownloadError, Recording
from tests.makefiles import make_files


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; a few paths misbehave on purpose."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        if name.startswith("trickle"):
            # Headers at once, then a byte every 0.2 s: each read is well
            # within the timeout, the whole transfer never ends on its own.
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100):  # bounded: 20 s at most
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
        elif name.startswith("err500"):
            self.send_error(500, "Internal Server Error")
        elif name.startswith("slow"):
            time.sleep(2.0)
            self.send_error(404)
        elif name == "cut.dat":
            body = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)  # end the stream mid-file
        else:
            super().do_GET()


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    monkeypatch.setenv("ESCOPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ESCOPE_TIMEOUT", "0.5")
    handler = lambda *a, **k: Handler(*a, directory=str(root), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/data"
    (root / "data").mkdir()
    yield url, root / "data", httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_remote_recording_reads_like_local_and_is_cached(server, tmp_path):
    url, folder, httpd = server
    raw = np.random.default_rng(0).normal(size=(2, 3000)).astype(np.float32)
    escope.write(folder / "20241007-123412", raw, 20000, ["ai0", "ai1"], ["1 uV", "1 uV"])
    rec = Recording(f"{url}/20241007-123412.escope")
    assert np.array_equal(rec.rawdata(), raw)
    assert rec.filename.startswith(str(tmp_path / "cache"))
    assert rec.info()["url"] == f"{url}/20241007-123412.escope"
    first = list(httpd.requests)
    assert sorted(p.rsplit("/", 1)[-1] for p in first) == ["20241007-123412.dat",
                                                           "20241007-123412.escope"]
    for name in ("20241007-123412", "20241007-123412.dat", "20241007-123412.escope"):
        assert np.array_equal(Recording(f"{url}/{name}").rawdata(), raw)
    assert httpd.requests == first  # nothing downloaded again
    escope._remote.clear_cache(f"{url}/20241007-123412")
    Recording(f"{url}/20241007-123412")
    assert len(httpd.requests) == 2 * len(first)


def test_old_version_fetches_config(server):
    url, folder, httpd = server
    raw = np.arange(40, dtype=np.float64).reshape(2, 20)
    make_files(folder / "old", raw, version="escope-3")
    rec = Recording(f"{url}/old.config")
    assert np.array_equal(rec.rawdata(), raw) and rec.rawdata().dtype == np.float64
    assert rec.header.config_path is not None and rec.header.config_path.is_file()
    assert any(p.endswith("old.config") for p in httpd.requests)


def test_404_names_url_and_status(server):
    url, _, _ = server
    with pytest.raises(DownloadError, match=r"could not download .*/data/missing\.escope: HTTP 404"):
        Recording(f"{url}/missing.escope")
    assert issubclass(DownloadError, OSError)


def test_missing_dat_is_404_and_leaves_no_dat(server, tmp_path):
    url, folder, _ = server
    escope.write(folder / "nodat", np.zeros((1, 10), np.float32), 1000, ["a"], ["1 mV"])
    (folder / "nodat.dat").unlink()
    with pytest.raises(DownloadError, match=r"nodat\.dat: HTTP 404"):
        Recording(f"{url}/nodat.escope")
    assert not list((tmp_path / "cache").rglob("*.dat"))


def test_500(server):
    url, _, _ = server
    with pytest.raises(DownloadError, match=r"err500\.escope: HTTP 500"):
        Recording(f"{url}/err500.escope")


def test_connection_dropped_mid_file_leaves_nothing_complete(server, tmp_path):
    url, folder, _ = server
    escope.write(folder / "cut", np.ones((2, 50_000), np.float32), 1000, ["a", "b"],
                 ["1 mV", "1 mV"])
    with pytest.raises(DownloadError, match=r"cut\.dat: connection dropped mid-file"):
        Recording(f"{url}/cut.escope")
    cached = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert "cut.dat" not in cached  # no truncated file under the real name


def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: nobody listens
    with pytest.raises(DownloadError, match=rf"127\.0\.0\.1:{port}/x\.escope: connection failed"):
        Recording(f"http://127.0.0.1:{port}/x.escope")


def test_timeout(server):
    url, _, _ = server
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match=r"slow\.escope: timed out after 0\.5 s"):
        Recording(f"{url}/slow.escope")
    assert time.perf_counter() - t0 < 2.0


def test_cli_info_from_url(server, capsys):
    from escope.__main__ import main

    url, folder, _ = server
    escope.write(folder / "cli", np.random.default_rng(1).normal(size=(1, 1000)).astype("f4"),
                 1000, ["ai3"], ["1 mV"])
    assert main(["info", f"{url}/cli.escope"]) == 0
    assert "ai3" in capsys.readouterr().out
    assert main(["info", f"{url}/nothing.escope"]) == 2
    assert "HTTP 404" in capsys.readouterr().err


def test_query_string_is_kept_on_every_file_and_out_of_cache_names(server, tmp_path):
    url, folder, httpd = server
    raw = np.random.default_rng(5).normal(size=(2, 500)).astype(np.float32)
    escope.write(folder / "signed", raw, 1000, ["a", "b"], ["1 mV", "1 mV"])
    make_files(folder / "old", raw.astype(np.float64), version="escope-3")
    # The server ignores the query (as many do): a wrong file name would get
    # the sidecar again and read it as samples.
    rec = Recording(f"{url}/signed.escope?token=abc#frag")
    assert np.array_equal(rec.rawdata(), raw)
    assert Recording(f"{url}/old.dat?token=abc").rawdata().dtype == np.float64
    names = [p.rsplit("/", 1)[-1] for p in httpd.requests]
    assert sorted(names) == ["old.config?token=abc", "old.dat?token=abc", "old.escope?token=abc",
                             "signed.dat?token=abc", "signed.escope?token=abc"]
    cached = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert sorted(cached) == ["old.config", "old.dat", "old.escope", "signed.dat",
                              "signed.escope"]
    # Another query may select other content: it is cached apart.
    Recording(f"{url}/signed.escope?token=def")
    assert names.count("signed.dat?token=abc") == 1 and httpd.requests[-1].endswith("?token=def")


def test_trickling_server_is_abandoned_in_bounded_time(server, tmp_path):
    url, folder, _ = server
    escope.write(folder / "trickle", np.zeros((1, 10), np.float32), 1000, ["a"], ["1 mV"])
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match=r"trickle\.escope: stalled \(\d+ bytes in "):
        Recording(f"{url}/trickle.escope")
    assert time.perf_counter() - t0 < 3.0  # timeout 0.5 s: one window and a read
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_oversized_sidecar_is_refused(server, monkeypatch):
    url, folder, _ = server
    monkeypatch.setattr(escope._remote, "_MAX_SMALL", 1000)
    escope.write(folder / "big", np.zeros((1, 10), np.float32), 1000, ["a"], ["1 mV"])
    with pytest.raises(DownloadError, match=r"big\.escope: \d+ bytes is too large"):
        Recording(f"{url}/big.escope")


def test_remote_33_without_config_says_what_local_says(server, tmp_path):
    url, folder, httpd = server
    local = make_files(folder / "nocfg", np.zeros((1, 10)), sidecar_overrides={"config": ...})
    with pytest.raises(escope.FormatError) as here:
        Recording(local)
    with pytest.raises(escope.FormatError) as there:
        Recording(f"{url}/nocfg.escope")
    assert "missing key 'config'" in str(here.value)
    assert str(there.value).split(": ", 1)[1] == str(here.value).split(": ", 1)[1]
    assert not any(p.endswith(".config") for p in httpd.requests)


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", "1e300"])
def test_bad_timeout_setting_names_the_variable(server, monkeypatch, value):
    url, folder, httpd = server
    monkeypatch.setenv("ESCOPE_TIMEOUT", value)
    with pytest.raises(ValueError, match=rf"ESCOPE_TIMEOUT must be a number of seconds .*"
                                         rf"not '{value}'"):
        Recording(f"{url}/anything.escope")
    assert httpd.requests == []  # refused before anything was asked


def test_cache_dir_expands_the_home_folder(server, tmp_path, monkeypatch):
    url, folder, _ = server
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ESCOPE_CACHE_DIR", "~/escope-cache")
    monkeypatch.chdir(tmp_path)
    escope.write(folder / "r", np.zeros((1, 10), np.float32), 1000, ["a"], ["1 mV"])
    rec = Recording(f"{url}/r.escope")
    assert rec.filename.startswith(str(tmp_path / "home" / "escope-cache"))
    assert not (tmp_path / "~").exists()


def test_a_killed_downloads_temporary_is_removed_by_the_next(server, tmp_path):
    url, folder, _ = server
    raw = np.ones((2, 100), np.float32)
    escope.write(folder / "r", raw, 1000, ["a", "b"], ["1 mV", "1 mV"])
    cache = escope._remote._cache_folder(f"{url}")
    cache.mkdir(parents=True)
    stale = cache / ".r.dat.0123456789ab.part"  # what a killed download leaves
    stale.write_bytes(b"half a file")
    assert np.array_equal(Recording(f"{url}/r.escope").rawdata(), raw)
    assert sorted(p.name for p in cache.iterdir()) == ["r.dat", "r.escope"]
