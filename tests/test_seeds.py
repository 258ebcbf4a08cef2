"""Named random streams: every purpose draws from its own stream, and a network's weights do not depend on
where a projection sits in its document."""

import shutil
from itertools import combinations

import numpy as np
import pytest
import yaml

from lsnn_bio import load_network, seeds


def used_streams(seed):
    """Every (stream, index) the package draws from, with the indices it uses."""
    keys = [("structure", name) for name in ("input", "recurrent", "readout", "recurrent_LIF_to_ALIF")]
    keys += [("dale_signs",), ("train_batches",), ("rewiring",), ("torch",), ("poisson_inputs",), ("data_split",)]
    for split in ("validation", "test"):
        keys += [(split, 0)] + [(split, 1, trial) for trial in range(64)]
    return [(seed, *key) for key in keys]


def test_every_stream_is_distinct_for_every_seed():
    assert len(set(seeds.STREAMS.values())) == len(seeds.STREAMS)
    streams = [key for seed in range(12) for key in used_streams(seed)]
    states = {tuple(seeds.sequence(*key).generate_state(4)) for key in streams}
    assert len(states) == len(streams)  # no two (seed, stream, index) share a state
    keys = [seeds.spawn_key(*key[1:]) for key in used_streams(0)]
    assert len(set(keys)) == len(keys)
    for a, b in combinations(set(keys), 2):  # no key is another's prefix, so no stream extends another
        shorter, longer = sorted((a, b), key=len)
        assert longer[: len(shorter)] != shorter


def test_draws_differ_between_streams_and_repeat_within_one():
    draws = {name: seeds.generator(3, name).random(8) for name in seeds.STREAMS}
    for a, b in combinations(draws, 2):
        assert not np.array_equal(draws[a], draws[b]), (a, b)
    np.testing.assert_array_equal(seeds.generator(3, "train_batches").random(8), draws["train_batches"])
    assert not np.array_equal(seeds.generator(4, "train_batches").random(8), draws["train_batches"])
    assert 0 <= seeds.torch_seed(3, "rewiring") < 2**63 and seeds.torch_seed(3, "rewiring") != seeds.torch_seed(
        3, "torch"
    )
    with pytest.raises(KeyError, match="unknown random stream 'noise'.*structure"):
        seeds.generator(0, "noise")
    with pytest.raises(TypeError):
        seeds.spawn_key("structure", 1.5)


def test_projection_weights_do_not_depend_on_document_order(models, tmp_path):
    for name in ("lif_official.yaml", "alif_official.yaml", "readout.yaml"):
        shutil.copy(models / name, tmp_path / name)
    data = yaml.safe_load((models / "lsnn_smnist.yaml").read_text())
    data["projections"] = dict(reversed(list(data["projections"].items())))
    (tmp_path / "reordered.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    original, reordered = (
        load_network(models / "lsnn_smnist.yaml", seed=5),
        load_network(tmp_path / "reordered.yaml", seed=5),
    )
    by_name = {p.name: p for p in reordered.projections}
    assert [p.name for p in original.projections] != [p.name for p in reordered.projections]
    for projection in original.projections:
        other = by_name[projection.name]
        for field in ("i", "j", "w", "delay", "sign"):
            np.testing.assert_array_equal(
                getattr(projection, field), getattr(other, field), err_msg=f"{projection.name}.{field}"
            )
    for name, group in original.inputs.items():
        np.testing.assert_array_equal(group.signs, reordered.inputs[name].signs)
    other_seed = load_network(models / "lsnn_smnist.yaml", seed=6)
    assert not np.array_equal(original.projections[0].w, other_seed.projections[0].w)
