"""
Reading a recording from a URL
==============================

``escope.Recording`` accepts ``http://`` and ``https://`` names: the
sidecar, the ``.dat`` (and the ``.config`` of old versions) are downloaded
into a cache, streamed to disk and written atomically; opening the same URL
again downloads nothing. To keep this example self-contained, it serves a
folder from this machine (``127.0.0.1``) with Python's ``http.server``.
"""

import functools
import http.server
import os
import tempfile
import threading
from pathlib import Path

import matplotlib.pyplot as plt

import escope
from escope.synth import make_recording

# Figures go to output/ beside this script (the current folder when there is
# no script file, as in a notebook).
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUTPUT = HERE / "output"
OUTPUT.mkdir(exist_ok=True)

www = Path(tempfile.mkdtemp())
make_recording(www / "20241007-123412", duration_s=3.0, n_channels=2)
os.environ["ESCOPE_CACHE_DIR"] = tempfile.mkdtemp()  # keep the user's cache clean

handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
http.server.SimpleHTTPRequestHandler.log_message = lambda *args: None  # quiet
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/20241007-123412.escope"

# %%
# Open by URL, exactly as a local file.
try:
    rec = escope.Recording(url)
    print(rec)
    print("cached at", rec.filename)
    rec.plot()
    top = plt.gcf().axes[0]
    top.set_title(f"{top.get_title()}\nopened from {url}", fontsize=9)
    plt.savefig(OUTPUT / "from_url.png", dpi=100)
    again = escope.Recording(url)  # from the cache: no request is made
finally:
    server.shutdown()
    server.server_close()
