"""iCalendar feeds (RFC 5545, with RFC 7986's COLOR and NAME): one ``.ics`` per calendar, made
with the ``icalendar`` library. The default publication target when no Google account is set up.

Deterministic, so two builds of the same data are the same bytes and a calendar client sees
changes only when there are some:

* UID from the event id; DTSTAMP is the time of the event's last workflow step (not a clock);
* SEQUENCE counts the changes of the event's time, place or status over its committed versions
  in git (plus one if the working copy changes them again); 0 outside a git repository;
* events in start order, a VTIMEZONE for every zone used, no generation time anywhere.

Which events a feed holds: by default what the public may see, the published items (and, so
that clients drop them, items cancelled after they were published, as STATUS:CANCELLED);
``all_stages`` adds the items still in the workflow as TENTATIVE (before confirmation) or
CONFIRMED, for the protocol office's own feeds.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import icalendar

from bangka_ops.agenda import gitrepo, yamlload
from bangka_ops.agenda.model import (
    CANCELLED,
    TENTATIVE,
    Config,
    Event,
    data_of,
    description,
    ever_published,
)
from bangka_ops.agenda.repository import EVENTS_DIR, Agenda

DOMAIN = "agenda.bangka.go.id"
FEED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.ics$")
PRODID = "-//Pemerintah Kabupaten Bangka//PROTOCLOUD//ID"
# The parts of an event whose change a calendar client must be told about (SEQUENCE).
SIGNIFICANT = ("start", "end", "all_day", "timezone", "venue", "room", "status", "recurrence")


def significant(data: Any) -> tuple[Any, ...] | None:
    if not isinstance(data, dict):
        return None
    return tuple(repr(data.get(key)) for key in SIGNIFICANT)


def sequences(agenda: Agenda, root: Path) -> dict[str, int]:
    """Event id -> number of significant changes over its versions in git, oldest first."""
    if not gitrepo.is_repo(root):
        return {}
    history = list(gitrepo.blob_history(root, EVENTS_DIR))
    contents = gitrepo.blobs(root, sorted({blob for _, blob in history}))
    versions: dict[str, list[tuple[Any, ...]]] = {}
    for path, blob in history:
        text = contents.get(blob)
        if text is None:
            continue
        doc = yamlload.parse(text, path)
        if (
            doc.problems
            or not isinstance(doc.data, dict)
            or not isinstance(doc.data.get("id"), str)
        ):
            continue
        key = significant(doc.data)
        if key is not None:
            versions.setdefault(doc.data["id"], []).append(key)
    for event in agenda.events:  # the working copy, if it differs from the last commit
        key = significant(data_of(event))
        if key is not None:
            versions.setdefault(event.id, []).append(key)
    counts = {}
    for event_id, keys in versions.items():
        counts[event_id] = sum(1 for before, after in itertools.pairwise(keys) if before != after)
    return counts


@functools.cache
def css_colour(hex_colour: str) -> str:
    """The CSS colour name nearest to ``#rrggbb`` (RFC 7986 COLOR takes a CSS3 name)."""
    from matplotlib import colors  # noqa: PLC0415 (only feeds need it)

    target = colors.to_rgb(hex_colour)
    return min(
        sorted(colors.CSS4_COLORS.items()),
        key=lambda item: sum(
            (a - b) ** 2 for a, b in zip(colors.to_rgb(item[1]), target, strict=True)
        ),
    )[0]


def stamp(event: Event) -> dt.datetime:
    return max(entry.at for entry in event.history).astimezone(dt.UTC)


def shown(event: Event, all_stages: bool) -> bool:
    if all_stages:
        return True
    if event.status == CANCELLED:
        return ever_published(event)
    return event.status == "dipublikasikan"


def status_of(event: Event) -> str:
    if event.status == CANCELLED:
        return "CANCELLED"
    return "TENTATIVE" if event.status in TENTATIVE else "CONFIRMED"


def vevent(event: Event, config: Config, sequence: int, owner: str | None) -> icalendar.Event:
    data = data_of(event)
    item = icalendar.Event()
    item.add("uid", f"{event.id}@{DOMAIN}")
    item.add("dtstamp", stamp(event))
    item.add("sequence", sequence)
    if event.all_day:
        item.add("dtstart", event.start.date())
        item.add("dtend", event.end.date())
    else:
        item.add("dtstart", event.start)
        item.add("dtend", event.end)
    item.add("summary", event.title)
    item.add("location", config.location(event.venue, event.room))
    item.add("description", description(event, config))
    category = config.categories[event.category]
    item.add("categories", [category["name"]])
    item.add("color", css_colour(category["colour"]))
    item.add("status", status_of(event))
    item.add("transp", "OPAQUE" if event.busy else "TRANSPARENT")
    item.add("x-protocloud-stage", event.status)
    if event.rrule:
        item.add("rrule", icalendar.vRecur.from_ical(event.rrule))
        for skipped in event.exdates:
            item.add("exdate", skipped.date() if event.all_day else skipped)
    for document in data.get("documents", ()):
        item.add("attach", document["url"])
    for guest in data.get("invitees", ()):
        if "email" in guest:
            attendee = icalendar.vCalAddress(f"mailto:{guest['email']}")
            attendee.params["cn"] = icalendar.vText(guest["name"])
            attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
            item.add("attendee", attendee, encode=False)
    reminders = data.get("reminders", category.get("reminders", ()))
    for reminder in reminders:
        alarm = icalendar.Alarm()
        minutes = int(reminder["minutes"])
        alarm.add("trigger", dt.timedelta(minutes=-minutes))
        if reminder.get("method") == "email" and owner:
            alarm.add("action", "EMAIL")
            alarm.add("summary", f"Pengingat / reminder: {event.title}")
            alarm.add("description", description(event, config))
            alarm.add("attendee", f"mailto:{owner}")
        else:
            alarm.add("action", "DISPLAY")
            alarm.add("description", f"{event.title} ({minutes} menit lagi / minutes)")
        item.add_component(alarm)
    return item


def feeds(
    agenda: Agenda, sequence: dict[str, int], *, all_stages: bool = False
) -> dict[str, bytes]:
    """Calendar key -> the ``.ics`` bytes."""
    config = agenda.config
    if config is None:
        raise ValueError("the agenda's configuration is not valid")
    chosen: dict[str, list[Event]] = {key: [] for key in config.calendars}
    for event in agenda.events:
        if shown(event, all_stages):
            for key in config.calendars_of(event):
                chosen[key].append(event)
    out = {}
    for key, events in chosen.items():
        out[key] = calendar(key, config, events, sequence)
    return out


def calendar(key: str, config: Config, events: Iterable[Event], sequence: dict[str, int]) -> bytes:
    settings = config.calendars[key]
    feed = icalendar.Calendar()
    feed.add("prodid", PRODID)
    feed.add("version", "2.0")
    feed.add("calscale", "GREGORIAN")
    feed.add("method", "PUBLISH")
    feed.add("name", settings["name"])
    feed.add("x-wr-calname", settings["name"])
    feed.add("x-wr-timezone", config.timezone)
    if settings.get("description"):
        feed.add("description", settings["description"])
        feed.add("x-wr-caldesc", settings["description"])
    for event in sorted(events, key=lambda e: (e.start, e.id)):
        feed.add_component(vevent(event, config, sequence.get(event.id, 0), settings.get("owner")))
    feed.add_missing_timezones()
    # The zones come out in set order (it follows the hash seed): sorted, first, for the same
    # bytes on every build.
    zones = sorted(
        (c for c in feed.subcomponents if c.name == "VTIMEZONE"), key=lambda c: str(c["TZID"])
    )
    feed.subcomponents = zones + [c for c in feed.subcomponents if c.name != "VTIMEZONE"]
    data: bytes = feed.to_ical()
    return data


MANIFEST = ".protocloud-feeds.json"


def write(out_dir: Path, built: dict[str, bytes]) -> list[tuple[Path, str]]:
    """Write each feed atomically; a feed whose bytes did not change is not touched (so its
    time stamp and a client's cache stay valid). A feed this command wrote before whose
    calendar is gone from ``calendars.yaml`` is removed (the folder's manifest lists what it
    wrote; nothing else in the folder is touched). Returns (path, "written" | "unchanged" |
    "removed") per feed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    try:
        before = json.loads(manifest.read_text("utf-8")).get("feeds", [])
    except (OSError, ValueError, AttributeError, RecursionError):  # RecursionError: too deep
        before = []
    result = []
    for key, data in sorted(built.items()):
        path = out_dir / f"{key}.ics"
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
            result.append((path, "unchanged"))
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.write_bytes(data)
        tmp.chmod(0o644)
        tmp.replace(path)
        result.append((path, "written"))
    names = sorted(f"{key}.ics" for key in built)
    for name in before if isinstance(before, list) else []:
        if isinstance(name, str) and name not in names and FEED_NAME.match(name):
            stale = out_dir / name
            if stale.is_file() or stale.is_symlink():
                stale.unlink()
                result.append((stale, "removed"))
    tmp = manifest.with_name(f"{MANIFEST}.tmp")
    tmp.write_text(json.dumps({"feeds": names}, indent=1) + "\n", "utf-8")
    tmp.replace(manifest)
    return result
