"""Screenshots of TensorBoard's Scalars, Images, Projector, HParams (and Profile) pages for the docs, taken by a
headless Chromium (not run in CI: it needs the `chromium` Debian package or any Chromium on PATH).

Usage:
  .venv/bin/python bench/tensorboard_screenshots.py --logdir=runs/ --out_dir=docs/images [--pages=timeseries,hparams]

Starts TensorBoard in this process (tensorboard.program, a free localhost port), waits until it has loaded the
event files, then lets Chromium render each page for `--seconds` of virtual time and save a PNG
(`tensorboard_<page>.png`).
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

PAGES = ("timeseries", "scalars", "images", "projector", "hparams", "profile")


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise SystemExit("tensorboard_screenshots.py: no Chromium on PATH (Debian: apt-get install chromium)")


def start_tensorboard(logdir):
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, f"--logdir={logdir}", "--host=127.0.0.1", "--port=0", "--reload_interval=2"])
    url = board.launch().rstrip("/")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the event files are read after the server starts
        with urllib.request.urlopen(url + "/data/runs", timeout=30) as response:
            if json.loads(response.read()):
                break
        time.sleep(1)
    time.sleep(5)  # plugins decide whether they have data in background threads
    return url


def screenshot(browser, url, path, seconds, size):
    profile = tempfile.mkdtemp(prefix="vidrep-chromium-")
    try:
        subprocess.run([browser, "--headless=new", "--no-sandbox", "--hide-scrollbars", "--ignore-gpu-blocklist",
                        "--enable-webgl", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                        f"--user-data-dir={profile}", f"--window-size={size}",
                        f"--virtual-time-budget={int(seconds * 1000)}", f"--screenshot={path}", url],
                       check=True, capture_output=True, timeout=300)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", required=True)
    parser.add_argument("--out_dir", default="docs/images")
    parser.add_argument("--pages", default="timeseries,projector,hparams")
    parser.add_argument("--seconds", type=float, default=20.0, help="virtual time each page gets to render")
    parser.add_argument("--size", default="1400,900", help="window width,height")
    parser.add_argument("--tag_filter", default="^loss/(future|reconstruction)$|animation",
                        help="scalars and images pages: show the tags this regex matches")
    args = parser.parse_args()
    pages = args.pages.split(",")
    unknown = sorted(set(pages) - set(PAGES))
    if unknown:
        raise SystemExit(f"--pages: unknown {', '.join(unknown)} (known: {', '.join(PAGES)})")
    if not os.path.isdir(args.logdir):
        raise SystemExit(f"--logdir {args.logdir!r} is not a folder")
    browser = chromium()
    os.makedirs(args.out_dir, exist_ok=True)
    url = start_tensorboard(args.logdir)
    for page in pages:
        fragment = f"{page}&tagFilter={urllib.parse.quote(args.tag_filter, safe='')}" if page in (
            "scalars", "images") and args.tag_filter else page
        path = screenshot(browser, f"{url}/#{fragment}", os.path.join(args.out_dir, f"tensorboard_{page}.png"),
                          args.seconds, args.size)
        print(f"{page}: {path}")


if __name__ == "__main__":
    main()
