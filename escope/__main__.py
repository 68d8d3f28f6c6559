"""Command line: ``python -m escope {info,plot,demo}`` (also ``escope-analysis``).

Examples
--------
::

    python -m escope info 20231030-154906.escope
    python -m escope info https://example.org/data/20241007-123412.escope
    python -m escope plot 20231030-154906.escope -o overview.png
    python -m escope demo demo-folder
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Sequence

from . import Recording


def summary(rec: Recording) -> str:
    """A human-readable summary of a recording, with the noise level per channel."""
    from .spikex import rmsnoise

    h = rec.header
    lines = [
        f"file:      {rec.filename}",
        f"version:   {h.version}",
        f"date:      {rec.rundate or h.rundate}",
        f"layout:    {h.kind}",
        f"rate:      {h.rate_Hz:g} Hz",
        f"duration:  {rec.duration:.6g} s"
        + (f" ({h.n_sweeps} sweeps of {h.n_scans} scans, trigger at scan {h.trigger_index})"
           if h.triggered else f" ({h.n_scans} scans)"),
        "channels:",
    ]
    for c, (name, unit, scale) in enumerate(zip(h.channels, h.units, h.scale)):
        y, _ = rec.data(c)
        try:
            noise = f"noise {rmsnoise(y):.4g} {unit}"
        except ValueError as exc:  # too short for one chunk, or all NaN
            noise = f"noise n/a ({exc})"
        lines.append(f"  {c}: {name:<6} {unit:<3} (scale {scale}), {noise}")
    return "\n".join(lines)


def _info(args: argparse.Namespace) -> None:
    print(summary(Recording(args.file)))


def _plot(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = Recording(args.file)
    out = Path(args.output or Path(rec.filename).with_suffix(".png").name)
    rec.plot()
    plt.savefig(out, dpi=args.dpi)
    plt.close("all")
    print(f"wrote {out}")


def _demo(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .spikex import detectspikes, rmsnoise
    from .synth import make_recording

    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    path, truth = make_recording(folder / "20241007-123412", overwrite=True)
    print(f"wrote a synthetic recording with known spikes: {path}\n")
    rec = Recording(path)
    print(summary(rec))
    print("\nspike detection (negative-going, threshold 5 × noise):")
    for c, name in enumerate(rec.channels):
        y = rec.data(c, "uV")
        threshold = 5 * rmsnoise(y)
        found = detectspikes(y, threshold, polarity=-1)
        hits = sum(int(abs(found - t).min() <= 2) for t in truth[name]) if len(found) else 0
        print(f"  {name}: {len(found)} spikes below -{threshold:.1f} µV; "
              f"{hits} of the {len(truth[name])} spikes put in the recording")
    rec.plot()
    out = folder / "20241007-123412.png"
    plt.savefig(out, dpi=100)
    plt.close("all")
    print(f"\nplot: {out}")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # Users see what happened to their file, not our source line.
    print(f"escope-analysis: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 on bad input, 1 on
    any other failure). Errors and warnings are one line each on stderr."""
    parser = argparse.ArgumentParser(
        prog="escope-analysis", description="Look at EScope recordings.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="summary: version, date, channels, rate, duration, noise")
    p.add_argument("file", help="NAME.escope, NAME.dat, NAME or an http(s) URL")
    p.set_defaults(run=_info)
    p = sub.add_parser("plot", help="plot every channel to a PNG")
    p.add_argument("file")
    p.add_argument("-o", "--output", help="PNG to write (default: NAME.png here)")
    p.add_argument("--dpi", type=int, default=100)
    p.set_defaults(run=_plot)
    p = sub.add_parser("demo", help="write a synthetic recording, summarise, detect, plot")
    p.add_argument("folder", nargs="?", default="escope-demo")
    p.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _one_line_warning
            args.run(args)
    except (OSError, ValueError) as exc:  # FormatError, missing files, downloads
        print(f"escope-analysis {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"escope-analysis {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        print(f"escope-analysis {args.command}: error: {type(exc).__name__}: {_one_line(exc)}",
              file=sys.stderr)
        return 1
    return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
