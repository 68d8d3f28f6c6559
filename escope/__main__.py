"""Command line: ``python -m escope {info,ls,spikes,sweeps,watch,nwb,plot,convert,demo}`` (also ``escope-analysis``).

A thin layer over the public functions: :class:`escope.Recording`,
:func:`escope.folder.scan`, :func:`escope.batch.detect_folder`,
:func:`escope.convert`; it parses arguments and prints (the texts come from
:mod:`escope.report`). Every error
is one line on stderr naming the file (exit status 2 for bad input, 1 for
anything else); warnings are one line too.

Examples
--------
::

    python -m escope info 20231030-154906.escope
    python -m escope info https://example.org/data/20241007-123412.escope
    python -m escope ls data/
    python -m escope spikes data/ -o results/ -k 5 --jobs 2
    python -m escope plot 20231030-154906.escope -o overview.png --spikes
    python -m escope convert 20120317-101112.escope     # an EScope 1.x/2.0 recording
    python -m escope watch data/ --csv spikes.csv       # a capture while it is recorded
    python -m escope demo demo-folder
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Sequence

from . import Recording, __version__
from .report import display_unit, summary

def _info(args: argparse.Namespace) -> None:
    print(summary(Recording(args.file)))


def _ls(args: argparse.Namespace) -> int:
    from .folder import scan

    listing = scan(args.folder, recursive=args.recursive)
    if not listing:
        print(f"escope-analysis ls: error: {args.folder}: no recordings in this folder",
              file=sys.stderr)
        return 2
    header = ("name", "date", "layout", "channels", "rate", "duration", "sweeps", "size",
              "version")
    rows = []
    for r in listing:
        if r.error:
            rows.append((r.name, "", "BROKEN", r.error, "", "", "", "", ""))
            continue
        chans = " ".join(f"{c}[{display_unit(u)}]" for c, u in zip(r.channels, r.units))
        rows.append((r.name, r.rundate.strftime("%Y-%m-%d %H:%M:%S") if r.rundate else "?",
                     r.layout, chans, f"{r.rate_Hz / 1000:g} kHz", f"{r.duration_s:.1f} s",
                     str(r.n_sweeps) if r.layout == "triggered" else "",
                     f"{r.size_bytes / 1e6:.1f} MB", r.version))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        # an error message is the last thing on its line, however long
        cells = [str(x).ljust(w) if i < 3 else str(x) for i, (x, w) in
                 enumerate(zip(row, widths))] if row[2] == "BROKEN" else \
            [str(x).ljust(w) for x, w in zip(row, widths)]
        print("  ".join(cells).rstrip())
    ok = sum(1 for r in listing if r.ok)
    print(f"\n{ok} recording(s), {len(listing) - ok} broken", file=sys.stderr)
    return 0


def _spikes(args: argparse.Namespace) -> int:
    from .batch import detect_folder

    result = detect_folder(args.paths, args.output, k=args.k, polarity=args.polarity,
                           channels=args.channels, jobs=args.jobs, scheduler=args.scheduler,
                           force=args.force, recursive=args.recursive)
    n = len(result.done) + len(result.skipped) + len(result.failed)
    spikes = sum(r["n_spikes"] for r in result.summary if r["status"] == "ok")
    print(f"{n} recording(s): {len(result.done)} analysed, {len(result.skipped)} already done, "
          f"{len(result.failed)} failed; {spikes} spikes")
    print(f"wrote {Path(args.output) / 'spikes.csv'} and {Path(args.output) / 'summary.csv'}")
    for row in result.summary:
        if row["status"] != "ok":
            print(f"escope-analysis spikes: failed: {row['path']}: {row['error']}",
                  file=sys.stderr)
    return 1 if result.failed else 0


def _nwb(args: argparse.Namespace) -> int:
    try:
        from escope_neo.nwb import write_nwb
    except ImportError as exc:  # pynwb missing
        raise ValueError(f"the nwb command needs the [nwb] extra: pip install "
                         f"'escope-analysis[nwb]' ({exc})") from None
    paths, output = list(args.paths), args.output
    if output is None and len(paths) == 2 and paths[1].lower().endswith(".nwb"):
        paths, output = paths[:1], paths[1]  # nwb FILE OUT.nwb
    single = (len(paths) == 1 and not Path(paths[0]).is_dir()
              and (output is None or output.lower().endswith(".nwb")))
    options = dict(metadata=args.metadata, spikes=args.spikes, k=args.k,
                   compress=not args.no_compress, require_dandi=args.require_dandi,
                   timezone=args.timezone)
    if single:
        report: list = []
        out = write_nwb(paths[0], output, overwrite=args.force, report=report, **options)
        print(f"wrote {out} (validated)")
        _print_inspection(report)
        return 0
    if output is None:
        raise ValueError("give the output folder with -o OUTDIR (several recordings, or a "
                         "folder)")
    from escope_neo.nwb_folder import write_nwb_folder

    result = write_nwb_folder(paths, output, jobs=args.jobs, scheduler=args.scheduler,
                              force=args.force, recursive=args.recursive, **options)
    for row in result.rows:
        name = Path(row["output"]).name
        if row["status"] == "failed":
            print(f"failed   {Path(row['path']).name}: {row['error']}")
        elif row["status"] == "skipped":
            print(f"skipped  {name} (done by an earlier run; --force redoes it)")
        else:
            found = ", ".join(f"{n} {kind.lower().replace('_', ' ')}"
                              for kind, n in row["inspector"].items()) or "nothing"
            print(f"wrote    {name} (NWB Inspector: {found})")
    failed = len(result.failed)
    print(f"{len(result.rows)} recording(s): {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def _print_inspection(report: list) -> None:
    if not report:
        print("NWB Inspector (DANDI's configuration): nothing to report")
        return
    print("NWB Inspector (DANDI's configuration), most important first:")
    for m in report:
        print(f"  {m.importance}: {m.message} [{m.location}]")


def _plot(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = Recording(args.file)
    out = Path(args.output or Path(rec.filename).with_suffix(".png").name)
    spikes = rec.detectspikes(k=args.k, progress=False) if args.spikes else None
    rec.plot(spikes=spikes)
    plt.savefig(out, dpi=args.dpi)  # the format follows the extension
    plt.close("all")
    kind = out.suffix.lstrip(".").upper() or "PNG"
    print(f"wrote {out} ({kind})")


def _watch(args: argparse.Namespace) -> int:
    from .watch import watch

    return watch(args.target, k=args.k, noise_s=args.noise_s, channels=args.channels,
                 csv=args.csv,
                 idle_timeout_s=args.idle_timeout, poll_s=args.poll, interval_s=args.interval,
                 svg=args.svg)


def _sweeps(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .atomic import replace_atomically
    from .tables import cell

    from .sweeps import SweepView

    rec = Recording(args.file)
    SweepView.of(rec, "sweeps")  # a triggered capture, or a clear error first
    channel = args.channel if args.channel is not None else rec.channels[0]
    spikes = rec.detectspikes(k=args.k, polarity=args.polarity, channels=[channel],
                              progress=False)
    rec.plot_sweeps(channel, spikes=spikes, bin_s=args.bin)
    out = Path(args.output)
    plt.savefig(out, dpi=args.dpi)
    plt.close("all")
    print(f"wrote {out}: {rec.n_sweeps} sweeps of {channel}, "
          f"{spikes.counts()[channel]} spikes (k = {args.k:g})")
    if args.csv:
        from .tables import write_sweep_stats

        window = args.window or (0.0, (rec.n_scans - rec.trigger_index) / rec.rate)
        write_sweep_stats(Path(args.csv), rec, channel, window)
        print(f"wrote {args.csv}: peak, latency, mean and area per sweep in "
              f"[{window[0]:g}, {window[1]:g}) s from the trigger")


def _convert(args: argparse.Namespace) -> None:
    from .conversion import convert

    out = convert(args.old, args.new, allow_rounding=args.allow_rounding)
    print(f"wrote {out} (escope-3.3)")


def _demo(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .synth import make_recording

    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    path, truth = make_recording(folder / "20241007-123412", overwrite=True)
    print(f"wrote a synthetic recording with known spikes: {path}\n")
    rec = Recording(path)
    print(summary(rec))
    print("\nspike detection (negative-going, threshold 5 × noise):")
    spikes = rec.detectspikes(k=5, polarity=-1, units="uV", progress=False)
    for name, found in spikes.items():
        hits = sum(int(abs(found - t).min() <= 2) for t in truth[name]) if len(found) else 0
        print(f"  {name}: {len(found)} spikes below -{spikes.thresholds[name]:.1f} µV; "
              f"{hits} of the {len(truth[name])} spikes put in the recording")
    rec.plot(spikes=spikes)
    out = folder / "20241007-123412.png"
    plt.savefig(out, dpi=100)
    plt.close("all")
    print(f"\nplot (spikes marked, ±threshold dashed): {out}")


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="escope-analysis", formatter_class=fmt,
        description="Look at and analyse EScope recordings (.escope + .dat).")
    parser.add_argument("--version", action="version", version=f"escope-analysis {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", formatter_class=fmt,
                       help="summary of one recording: version, date, channels, rate, "
                            "duration, noise")
    p.add_argument("file", help="NAME.escope, NAME.dat, NAME or an http(s) URL")
    p.set_defaults(run=_info)

    p = sub.add_parser("ls", formatter_class=fmt,
                       help="list the recordings in a folder (broken ones with their error)")
    p.add_argument("folder", help="a folder of recordings")
    p.add_argument("-r", "--recursive", action="store_true", help="also look in sub-folders")
    p.set_defaults(run=_ls)

    p = sub.add_parser("spikes", formatter_class=fmt,
                       help="noise, threshold and spikes of every channel of many recordings, "
                            "as tables")
    p.add_argument("paths", nargs="+", help="recordings, folders of recordings or URLs")
    p.add_argument("-o", "--output", required=True,
                   help="folder for spikes.csv and summary.csv (and .parquet with pyarrow)")
    p.add_argument("-k", type=float, default=5.0,
                   help="threshold in multiples of each channel's RMS noise")
    p.add_argument("--polarity", type=int, choices=(-1, 0, 1), default=0,
                   help="1: positive spikes, -1: negative, 0: both")
    p.add_argument("--channels", nargs="+", metavar="NAME", default=None,
                   help="only these channels (default: all)")
    p.add_argument("--jobs", type=int, default=None,
                   help="local processes (default: all cores; 1: in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on this Dask cluster, e.g. tcp://host:8786 (needs the [dask] "
                        "extra and the files on every worker)")
    p.add_argument("--force", action="store_true",
                   help="redo recordings done by an earlier run with the same settings")
    p.add_argument("-r", "--recursive", action="store_true", help="also look in sub-folders")
    p.set_defaults(run=_spikes)

    p = sub.add_parser("nwb", formatter_class=fmt,
                       help="convert recordings to NWB (voltages as an ElectricalSeries in "
                            "volts, currents as TimeSeries in amperes), checked by the NWB "
                            "Inspector; needs the [nwb] extra")
    p.add_argument("paths", nargs="+",
                   help="a recording (then optionally OUT.nwb), or recordings and folders "
                        "(then -o OUTDIR)")
    p.add_argument("-o", "--output", default=None,
                   help="the .nwb file (one recording; default NAME.nwb beside it) or the "
                        "output folder")
    p.add_argument("--metadata", default=None, metavar="FILE.yaml",
                   help="NWBFile and Subject metadata in neuroconv's layout (see the docs)")
    p.add_argument("--spikes", action="store_true",
                   help="add the spikes of the voltage channels (EventDetection)")
    p.add_argument("-k", type=float, default=5.0,
                   help="with --spikes: threshold in multiples of the RMS noise")
    p.add_argument("--no-compress", action="store_true",
                   help="store the samples uncompressed")
    p.add_argument("--require-dandi", action="store_true",
                   help="refuse (nothing written, exit status 2) while the NWB Inspector "
                        "reports anything CRITICAL")
    p.add_argument("--timezone", default=None,
                   help="zone of the run date, e.g. Europe/Berlin (default: $ESCOPE_TIMEZONE, "
                        "else this computer's)")
    p.add_argument("--jobs", type=int, default=None,
                   help="folders: local processes (default: all cores; 1: in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="folders: run on this Dask cluster (needs the [dask] extra)")
    p.add_argument("-r", "--recursive", action="store_true", help="also look in sub-folders")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output (folders: redo recordings done before)")
    p.set_defaults(run=_nwb)

    p = sub.add_parser("plot", formatter_class=fmt, help="plot every channel to an image file")
    p.add_argument("file", help="NAME.escope, NAME.dat, NAME or an http(s) URL")
    p.add_argument("-o", "--output", default=None,
                   help="image to write; its extension sets the format (.png, .pdf, .svg, "
                        ".jpg…). Default: NAME.png in the current folder")
    p.add_argument("--dpi", type=int, default=100, help="resolution of raster images")
    p.add_argument("--spikes", action="store_true",
                   help="detect spikes, mark them and draw ±threshold")
    p.add_argument("-k", type=float, default=5.0,
                   help="with --spikes: threshold in multiples of the RMS noise")
    p.set_defaults(run=_plot)

    p = sub.add_parser("sweeps", formatter_class=fmt,
                       help="a triggered capture's evoked responses: sweeps, mean ± SD, "
                            "raster and PSTH, and statistics per sweep")
    p.add_argument("file", help="NAME.escope, NAME.dat, NAME or an http(s) URL")
    p.add_argument("-c", "--channel", default=None, help="channel name (default: the first)")
    p.add_argument("-k", type=float, default=5.0,
                   help="spike threshold in multiples of the channel's RMS noise")
    p.add_argument("--polarity", type=int, choices=(-1, 0, 1), default=0,
                   help="1: positive spikes, -1: negative, 0: both")
    p.add_argument("-o", "--output", required=True, help="image to write (.png, .pdf, .svg…)")
    p.add_argument("--bin", type=float, default=None, metavar="S", help="PSTH bin in seconds")
    p.add_argument("--csv", default=None, metavar="STATS",
                   help="write peak, latency, mean and area per sweep to this CSV file")
    p.add_argument("--window", type=float, nargs=2, default=None, metavar=("T0", "T1"),
                   help="window of the statistics, seconds from the trigger (default: from "
                        "the trigger to the end of the sweep)")
    p.add_argument("--dpi", type=int, default=100, help="resolution of raster images")
    p.set_defaults(run=_sweeps)

    p = sub.add_parser("watch", formatter_class=fmt,
                       help="follow a capture while it is recorded: spike rates per channel, "
                            "live")
    p.add_argument("target", help="a recording being written, or a folder (its newest "
                                  "recording, then each new one)")
    p.add_argument("-k", type=float, default=5.0,
                   help="threshold in multiples of each channel's noise over the first "
                        "--noise-s seconds")
    p.add_argument("--noise-s", type=float, default=10.0, metavar="S",
                   help="seconds of recording the noise is measured on (no spike is shown "
                        "before; none is lost)")
    p.add_argument("--channels", nargs="+", metavar="NAME", default=None,
                   help="only these channels (default: all)")
    p.add_argument("--csv", default=None, metavar="OUT",
                   help="append one line per spike to this CSV file as it is found")
    p.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                   help="end when nothing was written for S seconds (default: run until "
                        "Ctrl-C)")
    p.add_argument("--poll", type=float, default=0.25, metavar="S",
                   help="seconds between looks at the file")
    p.add_argument("--interval", type=float, default=1.0, metavar="S",
                   help="without a terminal: seconds between printed lines")
    p.add_argument("--svg", default=None, metavar="FILE",
                   help="save the last screen as an SVG picture")
    p.set_defaults(run=_watch)

    p = sub.add_parser("convert", formatter_class=fmt,
                       help="rewrite a recording (an EScope 1.x/2.0 one above all) as "
                            "escope-3.3, refusing to round any sample")
    p.add_argument("old", help="NAME.escope, NAME.txt, NAME.dat or NAME")
    p.add_argument("new", nargs="?", default=None,
                   help="NAME of the new recording, or a folder to write it into "
                        "(default: a folder escope-3.3 beside the old recording)")
    p.add_argument("--allow-rounding", action="store_true",
                   help="store samples that float32 cannot hold exactly, rounded")
    p.set_defaults(run=_convert)

    p = sub.add_parser("demo", formatter_class=fmt,
                       help="write a synthetic recording, summarise it, detect spikes, plot")
    p.add_argument("folder", nargs="?", default="escope-demo", help="where to write it")
    p.set_defaults(run=_demo)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # Users see what happened to their file, not our source line.
    print(f"escope-analysis: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 on bad input, 1 on
    any other failure). Errors and warnings are one line each on stderr."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _one_line_warning
            status = args.run(args)
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
    return status or 0


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return " ".join(text.split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
