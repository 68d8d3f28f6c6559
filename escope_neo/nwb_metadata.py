"""Metadata for NWB files, in neuroconv's layout, checked before anything is written.

A YAML file (or a dict) with two sections, as neuroconv users write them::

    NWBFile:
      session_description: Sciatic nerve, evoked responses to 1-10 V pulses
      experiment_description: Conduction velocity before and after lidocaine
      experimenter: ["Doe, Jane"]
      institution: University of Somewhere
      lab: Nerve lab
      keywords: [sciatic nerve, compound action potential]
      session_id: "2024-10-07-a"
    Subject:
      subject_id: rat-17
      species: Rattus norvegicus
      sex: M
      age: P90D

:func:`load_metadata` reads it and checks every key and value, naming the
file, the key and the value of whatever is wrong; :func:`merge` lays it over
what the recording provides (session start, a description, an identifier).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

__all__ = ["load_metadata", "merge", "MetadataError", "NWBFILE_KEYS", "SUBJECT_KEYS"]

_STR = "a string"
_STRS = "a list of strings"
#: What NWBFile may hold here, and the kind of each value.
NWBFILE_KEYS = {
    "session_description": _STR, "experiment_description": _STR, "experimenter": _STRS,
    "institution": _STR, "lab": _STR, "keywords": _STRS, "session_id": _STR,
    "identifier": _STR, "related_publications": _STRS, "notes": _STR, "protocol": _STR,
    "surgery": _STR, "pharmacology": _STR, "virus": _STR, "stimulus_notes": _STR,
    "data_collection": _STR, "source_script": _STR, "session_start_time": "a date and time",
}
#: What Subject may hold here, and the kind of each value.
SUBJECT_KEYS = {
    "subject_id": _STR, "species": _STR, "sex": _STR, "age": _STR, "age__reference": _STR,
    "date_of_birth": "a date", "description": _STR, "genotype": _STR, "strain": _STR,
    "weight": _STR,
}
_SEXES = {"M": "male", "F": "female", "U": "unknown", "O": "other"}
_BINOMIAL = re.compile(r"^[A-Z][a-z]+ [a-z]+( [a-z]+)?$")
_TAXON = re.compile(r"^https?://(purl\.obolibrary\.org/obo/NCBITaxon_\d+|"
                    r"www\.ncbi\.nlm\.nih\.gov/Taxonomy/Browser/wwwtax\.cgi\?id=\d+)$")
_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
#: Largest metadata file read: real ones are a few hundred bytes.
MAX_BYTES = 1 << 20


class MetadataError(ValueError):
    """Metadata that cannot go into an NWB file; the message names the file,
    the key and the value."""


def _where(source: str | None, key: str) -> str:
    return f"{source}: {key}" if source else key


def _check(section: str, values: Mapping, allowed: dict[str, str], source: str | None) -> dict:
    if not isinstance(values, Mapping):
        raise MetadataError(f"{_where(source, section)} must be a mapping of keys to values, "
                            f"not {values!r}")
    out = {}
    for key, value in values.items():
        where = _where(source, f"{section}.{key}")
        if key not in allowed:
            raise MetadataError(f"{where}: unknown key (known: {', '.join(sorted(allowed))})")
        kind = allowed[key]
        if kind == _STR:
            if not isinstance(value, str) or not value.strip():
                raise MetadataError(f"{where} must be {kind}, not {value!r}")
        elif kind == _STRS:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not value or not all(
                    isinstance(v, str) and v.strip() for v in value):
                raise MetadataError(f"{where} must be {kind}, not {value!r}")
            value = list(value)
        elif kind == "a date and time":
            value = _datetime(value, where)
        elif kind == "a date":
            value = _datetime(value, where, date_only=True)
        out[key] = value
    return out


def _datetime(value: Any, where: str, date_only: bool = False) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        raise MetadataError(f"{where} must be an ISO 8601 {'date' if date_only else 'date and time'}"
                            f" (e.g. 2024-10-07{'' if date_only else 'T12:34:12+02:00'}), not "
                            f"{value!r}")
    if parsed.tzinfo is None:
        raise MetadataError(f"{where} must say its time zone (e.g. +02:00), not {value!r}")
    return parsed


def _subject(values: dict, source: str | None) -> dict:
    where = lambda key: _where(source, f"Subject.{key}")  # noqa: E731
    species = values.get("species")
    if species is not None and not (_BINOMIAL.match(species) or _TAXON.match(species)):
        raise MetadataError(f"{where('species')} must be a Latin binomial such as "
                            f"'Rattus norvegicus' or an NCBI taxonomy link, not {species!r}")
    sex = values.get("sex")
    if sex is not None and sex not in _SEXES:
        raise MetadataError(f"{where('sex')} must be one of NWB's codes "
                            f"{', '.join(f'{k} ({v})' for k, v in _SEXES.items())}, not {sex!r}")
    age = values.get("age")
    if age is not None:
        parts = age.split("/")
        if not (1 <= len(parts) <= 2 and all(_DURATION.match(p) for p in parts if p)
                and parts[0]):
            raise MetadataError(f"{where('age')} must be an ISO 8601 duration such as 'P90D' "
                                f"(90 days) or 'P12W', or a range 'P90D/P120D', not {age!r}")
    ref = values.get("age__reference")
    if ref is not None and ref not in ("birth", "gestational"):
        raise MetadataError(f"{where('age__reference')} must be 'birth' or 'gestational', "
                            f"not {ref!r}")
    return values


def load_metadata(metadata: Any) -> dict[str, dict]:
    """Read (a YAML file's path) or take (a dict) metadata and check it.

    Returns
    -------
    dict
        ``{"NWBFile": {...}, "Subject": {...}}`` with checked values
        (dates as timezone-aware datetimes, lists as lists).

    Raises
    ------
    MetadataError
        Naming the file, the key and the value: not YAML, an unknown
        section or key, a value of the wrong kind, a species that is not a
        Latin binomial or NCBI link, an age that is not an ISO 8601
        duration, a sex that is not one of NWB's codes.
    """
    source = None
    if metadata is None:
        return {"NWBFile": {}, "Subject": {}}
    if isinstance(metadata, (str, os.PathLike)):
        source = str(metadata)
        data = _read_yaml(Path(metadata))
    else:
        data = metadata
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise MetadataError(f"{source or 'metadata'}: must be a mapping with the sections "
                            f"NWBFile and Subject, not {type(data).__name__}")
    unknown = [k for k in data if k not in ("NWBFile", "Subject")]
    if unknown:
        raise MetadataError(f"{_where(source, str(unknown[0]))}: unknown section (the sections "
                            "are NWBFile and Subject)")
    nwbfile = _check("NWBFile", data.get("NWBFile") or {}, NWBFILE_KEYS, source)
    subject = _subject(_check("Subject", data.get("Subject") or {}, SUBJECT_KEYS, source),
                       source)
    return {"NWBFile": nwbfile, "Subject": subject}


def _read_yaml(path: Path) -> Any:
    import yaml

    from escope.format import FormatError, read_small_file

    try:
        raw = read_small_file(path, "metadata file", MAX_BYTES)
    except FormatError as exc:
        raise MetadataError(str(exc)) from None
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())
        raise MetadataError(f"{path}: not YAML ({problem})") from None


def merge(recording_metadata: dict, given: dict) -> dict:
    """`given` (checked) laid over what the recording provides, section by section."""
    out = {section: dict(values) for section, values in recording_metadata.items()}
    for section, values in given.items():
        out.setdefault(section, {}).update(values)
    return out
