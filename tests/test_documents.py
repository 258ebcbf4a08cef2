"""Documents load into a NetworkSpec; bad documents give located, actionable errors."""

import numpy as np
import pytest

from lsnn_bio import DocumentError, UnsupportedConstruct, load_network, load_neuron
from lsnn_bio.twin import Twin

LIF = """neuron: LIF
equations: |
  dv/dt = -v / tau_m : volt
threshold: v > v_th
reset: v -= v_th
parameters: {tau_m: 20 ms, v_th: 10 mV}
synapse: {model: "w : volt", on_pre: "v_post += w"}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def network(tmp_path, projections="", extra=""):
    write(tmp_path, "lif.yaml", LIF)
    return write(
        tmp_path,
        "net.yaml",
        f"""network: test
dt: 1 ms
inputs:
  x: {{size: 3}}
populations:
  P: {{neuron: lif.yaml, size: 4}}
{extra}projections:
  input: {{source: x, target: P{projections}}}
""",
    )


def test_paper_networks_load_with_expected_structure(models):
    spec = load_network(models / "lsnn_smnist.yaml", seed=0)
    assert [p.size for p in spec.populations.values()] == [120, 100, 10]
    assert spec.inputs["pixels"].size == 80
    recurrent = [p for p in spec.projections if p.entry == "recurrent"]
    delays = np.concatenate([p.delay for p in recurrent])
    assert delays.min() == 1 and delays.max() == 10
    density = sum(len(p.i) for p in recurrent) / 220**2
    assert 0.10 < density < 0.12  # 12 % drawn with replacement, autapses removed
    for p in spec.projections:  # Dale's law: the sign is the presynaptic neuron's
        signs = (spec.inputs.get(p.source) or spec.populations[p.source]).signs
        assert np.array_equal(np.sign(p.w[p.w != 0]), signs[p.i][p.w != 0])
    assert (spec.populations["LIF"].signs == -1).sum() == 54 and (spec.populations["ALIF"].signs == 1).all()
    store_recall = load_network(models / "lsnn_store_recall.yaml", seed=0)
    assert store_recall.populations["ALIF"].parameters["tau_a"] == 1.2 * __import__("brian2").second


def test_same_seed_same_network_other_seed_other_network(models):
    a, b, c = (load_network(models / "lsnn_store_recall.yaml", seed=s) for s in (5, 5, 6))
    assert all(
        np.array_equal(p.w, q.w) and np.array_equal(p.delay, q.delay) for p, q in zip(a.projections, b.projections)
    )
    assert not np.array_equal(a.projections[0].w, c.projections[0].w)


def test_unknown_key_names_file_line_and_accepted_keys(tmp_path):
    path = write(tmp_path, "lif.yaml", LIF + "treshold: v > 1*mV\n")
    with pytest.raises(DocumentError) as error:
        load_neuron(path)
    message = str(error.value)
    assert "lif.yaml:8" in message and "unknown key 'treshold'" in message and "threshold" in message


def test_malformed_equations(tmp_path):
    path = write(tmp_path, "lif.yaml", LIF.replace("dv/dt = -v / tau_m : volt", "dv/dt = -v / tau_m volt"))
    with pytest.raises(DocumentError, match=r"key 'equations'.*Brian2 rejects it"):
        load_neuron(path)


def test_unit_mismatch_in_equations_and_reset(tmp_path):
    path = write(tmp_path, "lif.yaml", LIF.replace("tau_m: 20 ms", "tau_m: 20 mV"))
    with pytest.raises(DocumentError, match=r"key 'equations'.*unit mismatch"):
        load_neuron(path)
    path = write(tmp_path, "lif.yaml", LIF.replace("reset: v -= v_th", "reset: v -= 1"))
    with pytest.raises(DocumentError, match=r"key 'reset'.*unit mismatch"):
        load_neuron(path)


def test_bad_quantity_and_override_units(tmp_path):
    path = write(tmp_path, "lif.yaml", LIF.replace("20 ms", "20 parsecs"))
    with pytest.raises(DocumentError, match=r"parameters.tau_m.*unknown unit 'parsecs'"):
        load_neuron(path)
    path = network(tmp_path, extra="readouts: {}\n")
    path.write_text(path.read_text().replace("size: 4}", "size: 4, parameters: {tau_m: 3 mV}}"))
    with pytest.raises(DocumentError, match=r"populations.P.parameters.tau_m.*'3 mV' has units V, expected s"):
        load_network(path)


def test_reference_to_missing_population(tmp_path):
    path = network(tmp_path)
    path.write_text(path.read_text().replace("target: P", "target: Q"))
    with pytest.raises(DocumentError, match=r"projections.input.target.*'Q' is not defined.*accepted: P"):
        load_network(path)


def test_missing_neuron_document(tmp_path):
    path = network(tmp_path)
    path.write_text(path.read_text().replace("lif.yaml", "lfi.yaml"))
    with pytest.raises(DocumentError, match=r"populations.P.neuron.*lfi.yaml' not found"):
        load_network(path)


def test_nonlinear_on_pre_is_rejected_by_the_twin(tmp_path):
    path = network(tmp_path, projections=', synapse: {model: "w : volt", on_pre: "v_post += w*w/mV"}')
    spec = load_network(path)
    with pytest.raises(UnsupportedConstruct, match=r"projection 'input'.*not linear in the weight"):
        Twin(spec)


def test_plastic_synapse_and_pre_dependent_factor_are_rejected(tmp_path):
    path = network(
        tmp_path,
        projections=', synapse: {model: "w : volt\\ndx/dt = -x/(5*ms) : 1 (clock-driven)", on_pre: "v_post += w"}',
    )
    with pytest.raises(UnsupportedConstruct, match="must declare only the weight"):
        Twin(load_network(path))


def test_unsupported_threshold_is_named(tmp_path):
    text = LIF.replace("threshold: v > v_th", "threshold: v > v_th or v < -v_th")
    write(tmp_path, "lif.yaml", text)
    path = network(tmp_path)
    path.write_text(path.read_text())
    (tmp_path / "lif.yaml").write_text(text)
    spec = load_network(path)
    with pytest.raises(
        UnsupportedConstruct,
        match=r"population 'P'.*threshold 'v > v_th or v < -v_th': a threshold must be one comparison",
    ):
        Twin(spec)


def expsyn_network(tmp_path, models, scale):
    """A projection onto lif_expsyn (default synapse 'w : amp') with its own 'w : volt' synapse."""
    write(tmp_path, "lif_expsyn.yaml", (models / "lif_expsyn.yaml").read_text())
    return write(
        tmp_path,
        "net.yaml",
        f"""network: expsyn
dt: 0.1 ms
inputs: {{x: {{size: 5}}}}
populations: {{P: {{neuron: lif_expsyn.yaml, size: 3}}}}
projections:
  input: {{source: x, target: P, weights: {{init: normal, scale: {scale}}},
          synapse: {{model: "w : volt", on_pre: "v_post += w"}}}}
""",
    )


def test_weight_scale_takes_the_unit_of_the_projections_own_synapse(tmp_path, models):
    spec = load_network(expsyn_network(tmp_path, models, "2 mV"), seed=1)
    unscaled = load_network(expsyn_network(tmp_path, models, "1 volt"), seed=1)
    (projection,), (reference,) = spec.projections, unscaled.projections
    assert str(projection.w_unit) == "V" and projection.synapse.on_pre == "v_post += w"
    np.testing.assert_allclose(projection.w, reference.w * 2e-3, rtol=1e-12)
    with pytest.raises(DocumentError, match=r"projections.input.weights.scale.*'1 nA' has units A, expected V"):
        load_network(expsyn_network(tmp_path, models, "1 nA"))


def test_a_projections_own_synapse_is_checked_by_brian2(tmp_path):
    path = network(tmp_path, projections=', synapse: {model: "w : volt", on_pre: "v_post += w*second"}')
    with pytest.raises(DocumentError, match=r"net.yaml:\d+, key 'projections.input.synapse'.*unit mismatch"):
        load_network(path)


def test_projection_entries_are_validated_before_anything_is_drawn(tmp_path):
    for text, message in (
        (", connectivity: 1.5", r"connectivity.*1.5 is not a fraction in \(0, 1\]"),
        (", connectivity: lots", r"connectivity.*'lots' is not a fraction"),
        (", weights: {init: uniform}", r"weights.init.*unknown initialisation 'uniform'.*glorot_uniform"),
        (", sign: dale", r"key 'projections.input.sign'.*'dale' signs need a top-level 'dale' section"),
        (", delay: 0.5 ms", r"delay.*not a non-negative whole number of time steps"),
        (", autapses: maybe", r"autapses.*expected true or false"),
    ):
        with pytest.raises(DocumentError, match=message):
            load_network(network(tmp_path, projections=text))


def test_documents_load_from_memory_exactly_as_from_files(models):
    spec = load_network(models / "lsnn_smnist.yaml", seed=4)
    again = load_network("elsewhere/lsnn_smnist.yaml", seed=4, documents=spec.documents)
    assert again.documents == spec.documents
    for p, q in zip(spec.projections, again.projections, strict=True):
        assert p.name == q.name and np.array_equal(p.w, q.w) and np.array_equal(p.delay, q.delay)
    missing = {k: v for k, v in spec.documents.items() if k != "readout.yaml"}
    with pytest.raises(DocumentError, match="document 'readout.yaml' is not among the stored documents"):
        load_network("lsnn_smnist.yaml", documents=missing)


def test_connectivity_draws_exactly_that_fraction_of_the_pairs(models):
    """connectivity p connects int(p * n_pre * n_post) pairs, as the reference draws them (without replacement),
    before forbidden autapses are removed; with replacement it was 1 - exp(-p): 11.3 % of the pairs for 0.12."""
    import lsnn_bio

    for seed in range(3):
        spec = lsnn_bio.load_network(models / "lsnn_smnist.yaml", seed=seed)
        by_entry = {}
        for p in spec.projections:
            by_entry.setdefault(p.entry, []).append(p)
        pixels = by_entry["input"]  # 80 inputs onto both populations, no autapses possible
        assert sum(len(p.i) for p in pixels) == int(80 * 220 * 0.12)
        recurrent = by_entry["recurrent"]  # 220 x 220, the diagonal drawn and then removed
        count = sum(len(p.i) for p in recurrent)
        assert int(220 * 220 * 0.12) - 60 <= count <= int(220 * 220 * 0.12)


def test_brian2_judges_a_model_once_per_process_and_any_change_afresh(models, monkeypatch):
    """Loading a document again does not probe Brian2 again (about 0.25 s per population), but an edited one is
    judged as if it were new: a cache must never let a model through that Brian2 would refuse."""
    from lsnn_bio import brian_probes
    from lsnn_bio.documents import neurons

    monkeypatch.setattr(neurons, "_ACCEPTED", set())
    probes, dry_run = [], brian_probes.dry_run
    monkeypatch.setattr(brian_probes, "dry_run", lambda *objects: probes.append(objects) or dry_run(*objects))
    spec = load_network(models / "lsnn_store_recall.yaml")
    assert probes
    probed = len(probes)
    load_network(models / "lsnn_store_recall.yaml", seed=3)
    assert len(probes) == probed
    documents = dict(spec.documents)
    assert "threshold: v > A\n" in documents["alif_official.yaml"]
    documents["alif_official.yaml"] = documents["alif_official.yaml"].replace(
        "threshold: v > A\n", "threshold: v > 1\n"
    )
    with pytest.raises(DocumentError, match="alif_official.yaml.*threshold"):
        load_network("lsnn_store_recall.yaml", documents=documents)
    assert len(probes) > probed


def test_a_population_knows_the_units_of_its_variables_and_of_brian2s_refractoriness(models):
    """What a recipe may record: the equations' variables, and lastspike / not_refractory that Brian2 adds."""
    import brian2

    alif = load_network(models / "lsnn_l2l.yaml").populations["ALIF"]
    assert alif.unit("A") == brian2.volt and alif.unit("b") == brian2.Unit(1)
    assert alif.unit("lastspike") == brian2.second and alif.unit("not_refractory") == brian2.Unit(1)
    with pytest.raises(KeyError):
        alif.unit("vv")
