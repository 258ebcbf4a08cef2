"""What a file format cannot hold of a Neo Block, written beside the data as JSON and put back on reading.

NeoMatlabIO keeps data, names and Groups but drops ``array_annotations`` and pads labels;
NWB keeps the data in its own tables but has no place for Neo's annotations, names, Groups
or original units. :func:`describe` records all of that (deduplicated across trials, so
64 identical trials cost one table); :func:`restore` applies it to a block whose segments
and objects come in the same order. Replaceable: a format that learns to keep everything
simply stops calling it.
"""

import json
from datetime import date, datetime, time

import numpy as np
import quantities as pq

FORMAT = "lsnn_bio.neo_layout"
VERSION = 2
CONTAINERS = ("spiketrains", "analogsignals", "irregularlysampledsignals", "events", "epochs")


def describe(block):
    """A JSON-able description of everything in ``block`` but the data."""
    tables, index = [], {}

    def table_id(records):
        key = json.dumps(records, sort_keys=True)
        if key not in index:
            index[key] = len(tables)
            tables.append(records)
        return index[key]

    positions, segments = {}, []
    for s, segment in enumerate(block.segments):
        entry = {
            "name": segment.name,
            "description": segment.description,
            "rec_datetime": encode(segment.rec_datetime),
            "annotations": encode(segment.annotations),
            "tables": {},
        }
        for container in CONTAINERS:
            records = []
            for i, obj in enumerate(getattr(segment, container)):
                positions[id(obj)] = (container, s, i)
                records.append(_record(obj, container))
            if records:
                entry["tables"][container] = table_id(records)
        segments.append(entry)
    annotations = {k: v for k, v in block.annotations.items() if k != "nix_name"}
    return {
        "format": FORMAT,
        "version": VERSION,
        "block": {
            "name": block.name,
            "description": block.description,
            "rec_datetime": encode(block.rec_datetime),
            "annotations": encode(annotations),
        },
        "segments": segments,
        "tables": tables,
        "groups": [_group(group, positions) for group in block.groups],
    }


def parse(text):
    """The description in ``text``, or None when it is not one this module wrote."""
    if not isinstance(text, str):
        return None
    try:
        layout = json.loads(text)
    except ValueError:
        return None
    if isinstance(layout, dict) and layout.get("format") == FORMAT and layout.get("version") == VERSION:
        return layout
    return None


def segment_tables(layout):
    """Per segment, ``{container: [records]}``: what each segment holds, in order."""
    return [{c: layout["tables"][t] for c, t in record["tables"].items()} for record in layout["segments"]]


def restore(block, layout):
    """Put names, annotations, units, labels and Groups back; objects must be in the described order.

    A segment or container whose object count differs from the description is left as read
    (it is not the file the description was written for).
    """
    meta = layout["block"]
    block.name, block.description = meta["name"], meta["description"]
    block.rec_datetime = decode(meta.get("rec_datetime"))
    block.annotations = decode(meta["annotations"])
    for segment, record, tables in zip(block.segments, layout["segments"], segment_tables(layout)):
        segment.name, segment.description = record["name"], record["description"]
        segment.rec_datetime = decode(record.get("rec_datetime")) or segment.rec_datetime
        segment.annotations = decode(record["annotations"])
        for container in CONTAINERS:
            objects, table = list(getattr(segment, container)), tables.get(container, [])
            if len(objects) != len(table):
                continue
            restored = [_restore_object(obj, r) for obj, r in zip(objects, table)]
            for obj in restored:
                obj.segment = segment
            setattr(segment, container, restored)
    block.groups = [_rebuild_group(g, block) for g in layout["groups"]]


def _record(obj, container):
    record = {
        "name": obj.name,
        "description": obj.description,
        "units": obj.units.dimensionality.string,
        "annotations": encode(obj.annotations),
        "array_annotations": _encode_arrays(obj.array_annotations),
    }
    if container == "spiketrains":
        record["t_start"], record["t_stop"] = encode(obj.t_start), encode(obj.t_stop)
    elif container == "analogsignals":
        record["t_start"], record["sampling_period"] = encode(obj.t_start), encode(obj.sampling_period)
    elif container == "irregularlysampledsignals":
        record["time_units"] = obj.times.dimensionality.string
    else:  # events and epochs: their units are time units
        record["labels"] = [str(x) for x in obj.labels]
        if container == "epochs":
            record["duration_units"] = obj.durations.dimensionality.string
    return record


def _group(group, positions):
    members = {}
    for container in CONTAINERS:
        by_segment = {}
        for obj in getattr(group, container, []):
            if id(obj) in positions:
                _, s, i = positions[id(obj)]
                by_segment.setdefault(s, []).append(i)
        shared = {}
        for s, indices in by_segment.items():
            shared.setdefault(json.dumps(indices), []).append(s)
        if shared:
            members[container] = [[segs, json.loads(indices)] for indices, segs in shared.items()]
    return {
        "name": group.name,
        "description": group.description,
        "annotations": encode(group.annotations),
        "members": members,
        "groups": [_group(g, positions) for g in group.groups],
    }


def _restore_object(obj, record):
    """``obj`` (possibly a rescaled copy) with the recorded units, times, names and annotations."""
    if obj.units.dimensionality.string != record["units"]:
        obj = obj.rescale(record["units"])
    if "t_start" in record and "t_stop" in record:
        obj.t_start, obj.t_stop = decode(record["t_start"]), decode(record["t_stop"])
    if "sampling_period" in record:
        obj.t_start, obj.sampling_period = decode(record["t_start"]), decode(record["sampling_period"])
    if "time_units" in record and obj.times.dimensionality.string != record["time_units"]:
        obj.times = obj.times.rescale(record["time_units"])
    if "duration_units" in record and obj.durations.dimensionality.string != record["duration_units"]:
        obj.durations = obj.durations.rescale(record["duration_units"])
    obj.name, obj.description = record["name"], record["description"]
    obj.annotations = decode(record["annotations"])
    if "labels" in record:
        obj.labels = np.array(record["labels"], dtype=str)
    arrays = _decode_arrays(record["array_annotations"])
    obj.array_annotations = {}
    if arrays:
        obj.array_annotate(**arrays)
    return obj


def _rebuild_group(record, block):
    import neo

    group = neo.Group(name=record["name"], description=record["description"], **decode(record["annotations"]))
    for container, shared in record["members"].items():
        objects = []
        for segs, indices in shared:
            for s in segs:
                items = getattr(block.segments[s], container) if s < len(block.segments) else []
                objects.extend(items[i] for i in indices if i < len(items))
        group.add(*objects)
    for child in record.get("groups", []):
        group.groups.append(_rebuild_group(child, block))
    return group


def encode(value):
    """Annotation values -> JSON, keeping the types Neo uses (datetimes, quantities, arrays)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, pq.Quantity):
        return {"$quantity": np.asarray(value.magnitude).tolist(), "units": value.dimensionality.string}
    if isinstance(value, np.ndarray):
        return {"$array": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return str(value)


def decode(value):
    """Inverse of :func:`encode`: the annotation values the JSON in a repaired file stands for."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if "$date" in value:
        return date.fromisoformat(value["$date"])
    if "$time" in value:
        return time.fromisoformat(value["$time"])
    if "$quantity" in value:
        return pq.Quantity(value["$quantity"], value["units"])
    if "$array" in value:
        return np.array(value["$array"], dtype=np.dtype(value["dtype"]))
    return {k: decode(v) for k, v in value.items()}


def _encode_arrays(arrays):
    return {str(k): {"values": np.asarray(v).tolist(), "dtype": np.asarray(v).dtype.str} for k, v in arrays.items()}


def _decode_arrays(arrays):
    return {k: np.array(v["values"], dtype=np.dtype(v["dtype"])) for k, v in arrays.items()}
