"""Several flux files of independent runs analysed together (pyonsager.multirun, issue 12 item 4).

References are computed here from numpy alone: raw lag sums of each file by FFT, added over
files, divided by the summed pair counts, integrated by the trapezoid rule, reduced by hand.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

from ou import ou_series

import pyonsager
from pyonsager import units as U
from pyonsager.errors import MismatchedRuns
from pyonsager.fluxfile import FluxFileWriter, flux_columns, set_analysis
from pyonsager.multirun import analyze_files

DT = 0.05                      # ps between samples
A = [[5.0, 1.0], [0.5, 3.0]]   # 1/ps
B = [[1.0, 0.0], [0.5, 0.8]]
HEADER = dict(units="metal", dt=DT, volume=9745.491456, species=["Ag", "I"],
              masses=[107.8682, 126.90447], counts=[128, 128], timestep=0.005, nevery=10)


def _write(path, seed: int, n: int, temperature=550.0, analysis=None, parts=False, **header):
    """A two-species flux file (J_I = -J_Ag: momentum conserved) from an OU series."""
    x = ou_series(A, B, DT, n, seed=seed)
    j0, ja = 40.0 * x[:, 0], 3.0 * x[:, 1]
    temps = np.broadcast_to(np.asarray(temperature, dtype=float), (n,))
    cols = [np.arange(n) * 10, temps, j0]
    if parts:
        cols += [0.5 * j0, 0.5 * j0]
    cols += [ja, -ja]
    with FluxFileWriter(path, dict(HEADER, **header), flux_columns(["Ag", "I"], parts=parts)) as w:
        w.write_rows(np.column_stack(cols))
    if analysis:
        set_analysis(path, analysis)
    return str(path), np.stack([j0, ja, -ja], axis=1)          # (n, 3 channels, 3 dirs)


def _lag_sums(x: np.ndarray, m: int) -> np.ndarray:
    """S[d, i, j, k] = sum_n x_i,d[n + k] x_j,d[n] for k = 0..m (numpy FFT, zero padded)."""
    n = x.shape[0]
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(x, nfft, axis=0)                              # (nf, ch, d)
    prod = np.einsum("fid,fjd->dijf", f.conj(), f)               # sum x_i[n] x_j[n + k] ...
    r = np.fft.irfft(prod, nfft, axis=-1)[..., :m + 1]
    return np.swapaxes(r, 1, 2)                                  # ... -> x_i[n + k] x_j[n]


def _reduced(C: np.ndarray, cut: int, md_volume: float, T: float) -> tuple[float, float, float, float]:
    """kappa, L00, L01, L11 (SI) from correlations C[d, i, j, k] (channels J0, J_Ag, J_I) with
    the trapezoid integral up to lag index ``cut``; I dropped (heaviest), metal units."""
    Cs = 0.5 * (C + np.swapaxes(C, 1, 2)).mean(axis=0)[:2, :2, :cut + 1]
    integral = (Cs.sum(axis=-1) - 0.5 * (Cs[..., 0] + Cs[..., -1])) * DT
    f = U.channel_factors("metal", ["energy", "mass"], None)
    L = U.onsager_prefactor("metal", md_volume, T, 1.0) * np.outer(f, f) * integral
    return L[0, 0] - L[0, 1] ** 2 / L[1, 1], L[0, 0], L[0, 1], L[1, 1]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    a = _write(d / "a.onsager", 11, 20000, temperature=548.0)
    b = _write(d / "b.onsager", 12, 30000, temperature=553.0)
    return a, b


def test_merge_equals_sum_of_per_file_sums(two_runs):
    (pa, xa), (pb, xb) = two_runs
    m = 40                                     # max lag 2 ps
    res = analyze_files([pa, pb], max_lag=m * DT, cutoff=1.0)
    S = _lag_sums(xa, m) + _lag_sums(xb, m)
    counts = (len(xa) - np.arange(m + 1)) + (len(xb) - np.arange(m + 1))
    C = S / counts
    np.testing.assert_allclose(res.arrays["correlations"], C, rtol=1e-12,
                               atol=1e-12 * np.abs(C).max())
    np.testing.assert_array_equal(res.arrays["counts"], counts)
    assert res.samples == 50000
    T = (20000 * 548.0 + 30000 * 553.0) / 50000          # sample-weighted mean temperature
    assert res.temperature == pytest.approx(T, rel=1e-14)
    cut = int(res.arrays["cutoff_index"])
    assert cut == 20                                     # cutoff 1 ps = 20 samples
    kappa, l00, l01, l11 = _reduced(C, cut, HEADER["volume"], T)
    assert res.kappa.value == pytest.approx(kappa, rel=1e-12)
    assert res.L00.value == pytest.approx(l00, rel=1e-12)
    assert res.L01.value == pytest.approx(l01, rel=1e-12)
    assert res.L11.value == pytest.approx(l11, rel=1e-12)
    assert [f["file"] for f in res.input_files] == [os.path.abspath(pa), os.path.abspath(pb)]
    assert [f["samples"] for f in res.input_files] == [20000, 30000]
    # the boundary between the files is never correlated: one concatenated series differs
    joined = _lag_sums(np.concatenate([xa, xb]), m) / (50000 - np.arange(m + 1))
    assert np.abs(joined - C)[..., 1:].max() > 1e-9 * np.abs(C).max()


def test_one_file_is_analyze_of_that_file(two_runs):
    (pa, _), _ = two_runs
    one, ref = analyze_files([pa]), pyonsager.analyze(pa)
    for q in ("kappa", "L00", "L01", "L11"):
        assert getattr(one, q).value == getattr(ref, q).value
        assert getattr(one, q).error == getattr(ref, q).error
    assert one.temperature == ref.temperature


def test_cli_lists_input_files(two_runs, tmp_path):
    from pyonsager.cli import main

    (pa, _), (pb, _) = two_runs
    out = tmp_path / "o"
    assert main(["analyze", pa, pb, "--out", str(out), "--no-plots", "--max-lag", "2"]) == 0
    doc = yaml.safe_load(open(out / "onsager.yaml"))
    ref = analyze_files([pa, pb], max_lag=2.0)
    assert [f["file"] for f in doc["input_files"]] == [os.path.abspath(pa), os.path.abspath(pb)]
    assert doc["kappa"]["value"] == ref.kappa.value and doc["samples"] == 50000
    assert doc["estimator"]["parameters"]["independent_runs"] == 2


@pytest.mark.parametrize("header, fact", [
    (dict(dt=0.025), "time between samples dt 0.025 differs from 0.05"),
    (dict(volume=9745.491456 * 1.001), "volume"),
    (dict(units="real"), "units"),
    (dict(masses=[107.8682, 126.0]), "masses 107.8682,126.0 differs from 107.8682,126.90447"),
    (dict(species=["Ag", "Br"]), "species"),
    (dict(timestep=0.0025, nevery=20), "MD timestep 0.0025 differs from 0.005"),
    (dict(nevery=20), "sampling interval (steps) 20 differs from 10"),
])
def test_mismatched_facts_are_refused(two_runs, tmp_path, header, fact):
    (pa, _), _ = two_runs
    other = tmp_path / "x.onsager"
    if "species" in header:
        _write_species(other, header["species"])
    else:
        _write(other, 13, 20000, **header)
    with pytest.raises(MismatchedRuns) as exc:
        analyze_files([pa, str(other)])
    assert fact in str(exc.value) and str(other) in str(exc.value) and pa in str(exc.value)


def _write_species(path, species):
    x = ou_series(A, B, DT, 20000, seed=14)
    rows = np.column_stack([np.arange(20000) * 10, np.full(20000, 550.0), x[:, 0], x[:, 1],
                            -x[:, 1]])
    with FluxFileWriter(path, dict(HEADER, species=species), flux_columns(species, parts=False)) as w:
        w.write_rows(rows)


def test_volume_within_tolerance_and_channel_layout(two_runs, tmp_path):
    (pa, _), _ = two_runs
    close = _write(tmp_path / "c.onsager", 15, 20000, volume=9745.491456 * (1 + 1e-5))[0]
    assert analyze_files([pa, close], max_lag=2.0).samples == 40000
    parts = _write(tmp_path / "p.onsager", 16, 20000, parts=True)[0]
    with pytest.raises(MismatchedRuns, match="channel layout"):
        analyze_files([pa, parts])


def test_recorded_analysis_settings_must_agree_or_be_given(tmp_path):
    a = _write(tmp_path / "a.onsager", 21, 20000, analysis=({"max_lag": 2.0}))[0]
    b = _write(tmp_path / "b.onsager", 22, 20000, analysis=({"max_lag": 1.5}))[0]
    with pytest.raises(MismatchedRuns, match=r"max_lag is 2.0 in .*a.onsager and 1.5 in"):
        analyze_files([a, b])
    res = analyze_files([a, b], max_lag=1.0)             # given: overrides both
    assert res.arrays["correlations"].shape[-1] == 21
    c = _write(tmp_path / "c.onsager", 23, 20000, analysis=({"max_lag": 2.0}))[0]
    res = analyze_files([a, c])                           # agreeing: used
    assert res.arrays["correlations"].shape[-1] == 41 and res.analysis_overrides == {}


def test_same_file_twice_and_spectral_unequal_lengths(two_runs):
    (pa, _), (pb, _) = two_runs
    with pytest.raises(MismatchedRuns, match="twice"):
        analyze_files([pa, pa])
    with pytest.raises(MismatchedRuns, match="equal length"):
        analyze_files([pa, pb], estimator="cepstral")


def test_default_estimator_falls_back_to_green_kubo_on_unequal_lengths(two_runs, tmp_path):
    """The default (likelihood) needs runs of equal length; given nothing it says so and gives
    the Green-Kubo analysis, bit for bit; asked for (option or recorded in the files) it refuses."""
    (pa, _), (pb, _) = two_runs
    res = analyze_files([pa, pb], max_lag=2.0)
    gk = analyze_files([pa, pb], max_lag=2.0, estimator="green-kubo")
    assert res.estimator["name"] == "green-kubo"
    fallback = [w for w in res.warnings if "runs of different lengths" in w]
    assert fallback == ["runs of different lengths (20000, 30000 samples): the default "
                        "likelihood estimator combines runs as equivalent components of one "
                        "spectrum, which needs runs of equal length; kappa is the Green-Kubo "
                        "estimate"]
    assert not any("runs of different lengths" in w for w in gk.warnings)
    assert (res.kappa.value, res.kappa.error) == (gk.kappa.value, gk.kappa.error)
    assert (res.L00.value, res.L11.value) == (gk.L00.value, gk.L11.value)
    with pytest.raises(MismatchedRuns, match="likelihood estimator .* equal length"):
        analyze_files([pa, pb], estimator="likelihood")
    a = _write(tmp_path / "a.onsager", 31, 20000, analysis={"estimator": "likelihood"})[0]
    b = _write(tmp_path / "b.onsager", 32, 30000, analysis={"estimator": "likelihood"})[0]
    with pytest.raises(MismatchedRuns, match="likelihood estimator .* equal length"):
        analyze_files([a, b])


def test_spectral_estimators_use_runs_as_components(tmp_path):
    """Two runs of equal length: the cepstral and likelihood estimators see 6 equivalent
    components; the same two runs given as one 6-direction array give the same kappa."""
    a, xa = _write(tmp_path / "a.onsager", 31, 20000)
    b, xb = _write(tmp_path / "b.onsager", 32, 20000)
    res = analyze_files([a, b], estimator="cepstral", max_lag=2.0)
    from pyonsager.cepstral import cepstral_analysis

    x = np.concatenate([xa[:, :2], xb[:, :2]], axis=2)   # (N, J0 + J_Ag, 6)
    c = cepstral_analysis(x, DT * U.time("metal"))
    f0 = U.energy_flux("metal")
    base = f0 ** 2 / (HEADER["volume"] * U.volume("metal") * U.K_B * 550.0 ** 2)
    assert res.kappa.value == pytest.approx(c.kappa * base, rel=1e-12)
    from pyonsager.likelihood import likelihood_analysis

    lk = analyze_files([a, b], estimator="likelihood", max_lag=2.0)
    r = likelihood_analysis(x, DT)
    f = U.channel_factors("metal", ["energy"], None)[0]
    assert lk.kappa.value == pytest.approx(
        r.kappa * U.onsager_prefactor("metal", HEADER["volume"], 550.0, 1.0) * f * f, rel=1e-12)
    # 6 components: the smooth coupling keeps 2 x 6 dof per bin (the reduced periodogram of
    # 2 fluxes would have 2 (6 - 2 + 1))
    assert lk.estimator["parameters"]["ndf"] == 2 * 6
    assert lk.estimator["parameters"]["coupling"] == "smooth"


def test_error_bar_of_two_runs_matches_one_run_of_twice_the_length():
    """Statistical check, 16 seeds: merged error of two N = 20000 runs vs the error of one
    run of 2N.  Both estimate the same standard deviation (errors ~ 1/sqrt(total time)), so
    the mean of log(err_2 / err_1) over seeds is 0 within 3 of its standard errors (+0.05
    for the jackknife's own small-sample bias); and the merged kappa's z-scores against the
    seeds' mean have an RMS in [0.6, 1.5]."""
    R, n = 16, 20000
    lr, k2, e2 = [], [], []
    for r in range(R):
        x = ou_series(A, B, DT, 2 * n, seed=100 + r)
        y = ou_series(A, B, DT, n, seed=500 + r)
        j0 = 40.0 * np.concatenate([x[:, 0], y[:, 0]])
        ja = 3.0 * np.concatenate([x[:, 1], y[:, 1]])
        kw = dict(dt=DT, temperature=550.0, volume=HEADER["volume"], units="metal",
                  species=["Ag", "I"], masses=HEADER["masses"], max_lag=2.0, cutoff=1.5)
        one = pyonsager.analyze(energy_flux=j0[:2 * n], mass_flux=[ja[:2 * n], -ja[:2 * n]], **kw)
        two = _merged_arrays([(j0[:n], ja[:n]), (j0[2 * n:], ja[2 * n:])], kw)
        lr.append(np.log(two.kappa.error / one.kappa.error))
        k2.append(two.kappa.value)
        e2.append(two.kappa.error)
    lr = np.array(lr)
    assert abs(lr.mean()) < 3 * lr.std(ddof=1) / np.sqrt(R) + 0.05, lr
    z = (np.array(k2) - np.mean(k2)) / np.array(e2)
    assert 0.6 < np.sqrt(np.mean(z ** 2) * R / (R - 1)) < 1.5, z


def _merged_arrays(runs, kw):
    """analyze_files on temporary flux files written from the arrays."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, (j0, ja) in enumerate(runs):
            p = os.path.join(d, f"r{i}.onsager")
            rows = np.column_stack([np.arange(len(j0)) * 10, np.full(len(j0), 550.0), j0, ja, -ja])
            with FluxFileWriter(p, HEADER, flux_columns(["Ag", "I"], parts=False)) as w:
                w.write_rows(rows)
            paths.append(p)
        return analyze_files(paths, max_lag=kw["max_lag"], cutoff=kw["cutoff"])


def test_options_of_analyze_pass_through(two_runs):
    """Every keyword of analyze(path, ...) is accepted (None = not given), as analyze(files=)
    passes them on; array-only ones with a value and unknown ones are refused."""
    import inspect

    (pa, _), (pb, _) = two_runs
    names = [p for p in inspect.signature(pyonsager.analyze).parameters if p not in ("source", "files")]
    defaults = {p: v.default for p, v in inspect.signature(pyonsager.analyze).parameters.items()
                if p not in ("source", "files")}
    res = analyze_files([pa, pb], **{**defaults, "max_lag": 2.0})
    assert res.kappa.value == analyze_files([pa, pb], max_lag=2.0).kappa.value and names
    with pytest.raises(ValueError, match="counts: options for arrays"):
        analyze_files([pa, pb], counts=[1, 1])
    with pytest.raises(TypeError, match="unknown options"):
        analyze_files([pa, pb], maxlag=2.0)


def test_analyze_files_keyword_is_analyze_files(two_runs):
    """pyonsager.analyze(files=[...]) is the multi-run analysis, number for number."""
    (pa, _), (pb, _) = two_runs
    via_analyze = pyonsager.analyze(files=[pa, pb], max_lag=2.0)
    direct = analyze_files([pa, pb], max_lag=2.0)
    for a, b in ((via_analyze.kappa, direct.kappa), (via_analyze.L00, direct.L00)):
        assert a.value == b.value and a.error == b.error
    with pytest.raises(ValueError, match="not both"):
        pyonsager.analyze(pa, files=[pa, pb])
