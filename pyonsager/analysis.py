"""From fluxes (arrays, a file, a FluxSeries or an on-the-fly correlator) to an OnsagerResult.

Entry points
------------
- :func:`analyze` -- a file path (delegated to :func:`pyonsager.io_dispatch.read_any`) or
  arrays (``energy_flux=(N, 3)``, ``mass_flux=[(N, 3), ...]`` or ``{name: (N, 3)}``, ...).
- :func:`analyze_series` -- a :class:`~pyonsager.fluxes.FluxSeries`.
- :func:`analyze_correlator` -- an :class:`~pyonsager.correlator.OnlineCorrelator` (or its
  gathered :class:`~pyonsager.correlator.CorrelationData`) plus the run's metadata: the
  drivers' path.

Independent fluxes (:func:`select_species`)
-------------------------------------------
With total momentum conserved the species' mass fluxes sum to zero and one of them must be
dropped; a non-diffusing species (a framework such as PS4 in Li3PS4) has, at long times, a mass
flux that is a combination of the others and makes the Onsager matrix singular.  The rule:

1. If the user names the ``mobile`` species, exactly those are used (if they are all species
   and the fluxes sum to zero, one is dropped as in 3).
2. Static checks on C(0) = <X_s X_t> (direction averaged): the sum is "zero" when
   Var(sum_s X_s) <= 1e-10 sum_s Var(X_s); any further exact linear dependence (two identical
   columns) is an error.  ``drop=None`` with a zero sum is an error.
3. Greedy elimination on the long-time mass block M (the running integrals averaged over the
   second half of the lag window, [max_lag/2, max_lag]): for each remaining species,
   r_s = unexplained fraction (:func:`pyonsager.greenkubo.unexplained_fractions`) and
   p_s = M_ss / max_t |L_ss(t)| (plateau over peak: ~0 for a species whose displacement stays
   bounded).  While some species has min(r_s, p_s) < ``NONDIFFUSING_TOL`` (0.05), remove one of
   them: the heaviest (masses known) or else the last in species order.  The first removal of a
   zero-sum set is the momentum "drop"; later ones are reported as non-diffusing.  ``drop=NAME``
   removes NAME first; ``drop=None`` removes nothing (an error if the fluxes sum to zero).
   All r_s, p_s are reported in ``result.species_selection``; with ``mobile`` or ``drop=None``, kept
   species that fail the test are listed in ``species["suspect"]`` and a warning says the
   matrix is near-singular at long times (kappa is never returned silently from it).

Every step depends only on the mass-flux block, so it is unchanged by J0 -> J0 + sum a_s J_s
and by rescaling a mass flux (r_s, p_s are scale free).
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from . import channels
from . import units as U
from .correlator import CorrelationData, OnlineCorrelator
from pyonsager.estimators import DEFAULT_ESTIMATOR
from .errors import InputError, TooFewSamples
from .fluxes import FluxMetadata, FluxSeries
from .gauge import default_shifts, gauge_sensitivity
from .greenkubo import (DEFAULT_WINDOW, GROUP_FACTOR, GreenKuboEstimate, green_kubo,
                        symmetric_running_integral, unexplained_fractions)
from .result import OnsagerResult, Quantity

#: threshold on min(r_s, p_s) below which a species counts as non-diffusing (see module doc)
NONDIFFUSING_TOL = 0.05
#: Var(sum_s X_s) / sum_s Var(X_s) below which the mass fluxes are taken to sum to zero
ZERO_SUM_TOL = 1e-10
#: default max lag: N // DEFAULT_LAG_FRACTION samples, at most DEFAULT_MAX_LAG
DEFAULT_LAG_FRACTION = 50
DEFAULT_MAX_LAG = 10_000
#: longest lag (samples) the automatic max lag may grow to when N/50 is too short for the
#: cutoff rule (:func:`_automatic_lag`)
EXTENDED_MAX_LAG = 50_000
_CHUNK = 1 << 16
#: a run must hold this many times the longest lag: the same bar on every path (files, arrays,
#: on-the-fly), so a driver never reports numbers that analysing its own flux file would refuse
MIN_SAMPLES_PER_LAG = 4
#: the jackknife needs at least MIN_BLOCKS independent time blocks of GROUP_FACTOR (20)
#: cutoffs each: N >= MIN_BLOCKS * GROUP_FACTOR * t_c samples (see :func:`minimum_samples`)
MIN_BLOCKS = 4

#: the warning (table, onsager.yaml, plot) when kappa is L00 because no mass flux was given
#: the warning of a run in which no species diffuses (a crystal): kappa = L00
NO_DIFFUSING = "no diffusing species detected: kappa = L00 (single-component formula)"
#: Green-Kubo's automatic cutoff on such a run (measured: Vashishta InP, 1200 K, 300 ps:
#: 1.41 +- 0.12 W/mK at the automatic 1.44 ps, 2.5-2.9 with 5-10 ps cutoffs, likelihood 2.7)
CRYSTAL_CUTOFF = (
    "Green-Kubo with the automatic cutoff in a system where nothing diffuses (a crystal): the "
    "cutoff rule stops at the fast decay of the flux correlation and can miss the slow phonon "
    "tail, underestimating kappa (by 2x on zincblende InP at 1200 K); check with "
    "estimator='likelihood' (--estimator likelihood) or a longer cutoff")
KAPPA_IS_L00 = ("no mass fluxes given: kappa is L00, the Green-Kubo integral of the energy flux "
                "alone, which is the thermal conductivity only of a system with one diffusing "
                "component; give the mass fluxes (--mass-flux) or, for a one-component system, "
                "state it (--single-component on the command line, single_component=True in "
                "Python)")


def minimum_samples(cutoff_samples: float) -> int:
    """Fewest samples for which the Green-Kubo value and its error bar mean something.

        N_min = MIN_BLOCKS * GROUP_FACTOR * t_c      (t_c: integration cutoff, in samples)

    Why: the standard error is a jackknife over contiguous time blocks; a block's running
    integral up to t_c shares ~t_c/L of its pairs with its neighbour (block length L), so blocks
    must be >= GROUP_FACTOR (20) cutoffs long to be nearly independent, and >= MIN_BLOCKS (4)
    of them (x 3 directions = 12 pseudo-samples) are needed for the error bar itself to be
    known to ~20 %.  With the automatic rule t_c >= 8 tau (tau: integrated correlation time of
    the reduced flux) this is N >= 640 tau / dt.
    """
    return int(MIN_BLOCKS * GROUP_FACTOR * max(int(np.ceil(cutoff_samples)), 1))


# --------------------------------------------------------------------------- channel bookkeeping
def _infer_channel_names(nch: int, md: FluxMetadata) -> list[str]:
    """Channel names of a correlator: ``metadata.extra["channels"]`` when recorded, else the
    layout of ``nch`` channels for the metadata's species
    (:meth:`pyonsager.channels.ChannelLayout.from_count`)."""
    if md.extra.get("channels"):
        names = list(md.extra["channels"])
        if len(names) != nch:
            raise InputError(f"metadata names {len(names)} channels, the correlator has {nch}")
        return names
    return channels.ChannelLayout.from_count(nch, md.species).names


# --------------------------------------------------------------------------- species selection
def select_species(species: Sequence[str], c0: np.ndarray, running: np.ndarray,
                   masses: Optional[Sequence[float]] = None,
                   mobile: Optional[Sequence[str]] = None, drop: Optional[str] = "auto",
                   tol: float = NONDIFFUSING_TOL) -> tuple[list[str], dict]:
    """Independent diffusing species (see the module docstring for the rule).

    species: names in channel order; c0: (S, S) direction-averaged C(0) of the mass fluxes;
    running: (nlag, S, S) symmetrised running integrals of the mass fluxes (any scale).
    Returns (independent species, info dict for the result).
    """
    species = list(species)
    S = len(species)
    info: dict[str, Any] = {"names": species, "dropped": None, "nondiffusing": [],
                            "immobile_by_user": [], "independent": [],
                            "unexplained_fraction": {}, "plateau_ratio": {}, "suspect": [],
                            "rule": ("mobile species given by the user" if mobile is not None
                                     else f"greedy: min(r_s, p_s) < {tol:g} -> heaviest "
                                     "(or last) removed")}
    if masses is not None:
        info["masses"] = [float(m) for m in masses]
    if S == 0:
        return [], info
    d = np.sqrt(np.clip(np.diag(c0), 0, None))
    zero = [s for s, v in zip(species, d) if v == 0]
    if zero:
        raise InputError(f"mass flux of {', '.join(zero)} is identically zero: remove it")
    corr0 = c0 / np.outer(d, d)
    n_exact = int(np.sum(np.linalg.eigvalsh(0.5 * (corr0 + corr0.T)) < 1e-10 * S))
    total_zero = float(np.ones(S) @ c0 @ np.ones(S)) <= ZERO_SUM_TOL * float(np.trace(c0))
    info["momentum_conserved"] = bool(total_zero)
    if n_exact > int(total_zero):
        raise InputError(
            "the mass fluxes are linearly dependent beyond total-momentum conservation (two "
            "identical columns, or one column a multiple of another): remove the duplicate "
            "mass flux, or name the species to use with mobile=[...]")
    nlag = running.shape[0]
    late = running[nlag // 2:].mean(axis=0)
    peak = np.max(np.abs(np.diagonal(running, axis1=1, axis2=2)), axis=0)
    heavy = (lambda cand: max(cand, key=lambda s: (masses[species.index(s)], species.index(s)))) \
        if masses is not None else (lambda cand: cand[-1])

    def score(keep: list[str]) -> list[str]:
        """Record r_s, p_s of the kept species; return those below tol."""
        if not keep:
            return []
        idx = [species.index(s) for s in keep]
        r = unexplained_fractions(late[np.ix_(idx, idx)])
        p = np.array([late[i, i] / peak[i] if peak[i] > 0 else 0.0 for i in idx])
        for s, rv, pv in zip(keep, r, p):
            info["unexplained_fraction"][s] = float(rv)
            info["plateau_ratio"][s] = float(pv)
        return [s for s, rv, pv in zip(keep, r, p) if min(rv, pv) < tol]

    if mobile is not None:
        unknown = [s for s in mobile if s not in species]
        if unknown:
            raise InputError(f"mobile species {unknown} not among the species {species}")
        keep = [s for s in species if s in mobile]
        info["immobile_by_user"] = [s for s in species if s not in mobile]
        if total_zero and len(keep) == S:
            pick = drop if drop not in ("auto", None) else heavy(keep)
            if pick not in species:
                raise InputError(f"drop={pick!r} is not a species ({species})")
            keep.remove(pick)
            info["dropped"] = pick
        info["independent"] = keep
        info["suspect"] = score(keep)
        return keep, info

    keep = list(species)
    if drop is None:
        if total_zero:
            raise InputError("the mass fluxes of all species sum to zero (total momentum is "
                             "conserved), so they are not independent: drop one species "
                             "(drop='auto' or drop='NAME')")
        info["independent"] = keep
        info["suspect"] = score(keep)
        return keep, info
    if drop != "auto":
        if drop not in species:
            raise InputError(f"drop={drop!r} is not a species ({species})")
        keep.remove(drop)
        info["dropped"] = drop
    while keep:
        low = score(keep)
        if not low:
            break
        pick = heavy(low)
        if info["dropped"] is None and total_zero:
            info["dropped"] = pick
        else:
            info["nondiffusing"].append(pick)
        keep.remove(pick)
    info["independent"] = keep
    info["suspect"] = []
    return keep, info


# --------------------------------------------------------------------------- core
def _si_scale(md: FluxMetadata, kinds: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(SI scale of every channel pair, SI factor of every channel) for channel ``kinds``
    (:data:`pyonsager.channels.KIND_ENERGY` ...): scale_ij = V/(k_B T^2) dt f_i f_j."""
    f = U.channel_factors(md.units, channels.check_kinds(kinds), md.mass_flux_unit)
    pref = U.onsager_prefactor(md.units, md.volume, md.temperature, md.dt)
    return pref * np.outer(f, f), f


def _criterion(md: FluxMetadata, L: np.ndarray, chan: dict[str, int], indep: Sequence[str],
               site_energies: Optional[Mapping[str, float]],
               source: Optional[str] = None) -> Optional[dict]:
    if not site_energies:
        return None
    to_ev = U.energy(md.units) / U.EV
    if md.mass_flux_unit:
        return {"value": None, "label": "empirical", "note": "not computed: mass-flux columns are "
                f"proxies in {md.mass_flux_unit}, L11 is not in SI",
                "site_energy_source": source}
    if not indep:
        # U is known but there is no L11: say so rather than drop where U came from
        return {"value": None, "label": "empirical", "note": "not computed: no independent "
                "diffusing species (no L11); see species_selection",
                "site_energy_eV": {s: float(v) * to_ev for s, v in site_energies.items()},
                "site_energy_source": source}
    per = {}
    for s in indep:
        if s in site_energies:
            per[s] = (float(site_energies[s]) * to_ev) ** 2 / float(L[chan[s], chan[s]])
    if not per:
        return None
    value = max(per.values())
    return {"value": value, "unit": U.CRITERION_UNIT, "per_species": per,
            "site_energy_eV": {s: float(site_energies[s]) * to_ev for s in per},
            "site_energy_source": source,
            "threshold": U.CRITERION_THRESHOLD,
            "below_threshold": bool(value < U.CRITERION_THRESHOLD),
            "label": "empirical (Zhou et al., NEP models of Li3PS4 and Cu2Se): there, U^2/L11 "
                     "below 1e14 eV^2 kg^-1 s^-1 m^3 K went with L00 within ~10% of kappa. U (mean "
                     "site energy of the mobile species) has the same arbitrary zero as L00, so "
                     "this is a hint, not a test: delta is the measured answer"}


def _site_energy_map(site_energies: Any, species: Sequence[str]) -> Optional[dict[str, float]]:
    if site_energies is None:
        return None
    if isinstance(site_energies, Mapping):
        return {str(k): float(v) for k, v in site_energies.items()}
    vals = list(site_energies)
    if len(vals) != len(species):
        raise InputError(f"site_energies has {len(vals)} values for {len(species)} species")
    return {s: float(v) for s, v in zip(species, vals)}


#: where U came from, recorded as ``criterion.site_energy_source`` (and in the gauge report)
SOURCE_USER = "user"
SOURCE_FILE = "flux file"
SOURCE_SERIES = "flux series"


def _site_energies_and_source(site_energies: Any, fallback: Optional[Mapping[str, float]],
                              fallback_source: str) -> tuple[Any, Optional[str]]:
    """User-given site energies win; else the means carried by the data (file columns)."""
    if site_energies is not None:
        return site_energies, SOURCE_USER
    if fallback:
        return dict(fallback), fallback_source
    return None, None


def analyze_correlations(data: CorrelationData, metadata: FluxMetadata,
                         channel_names: Optional[Sequence[str]] = None, *,
                         cutoff: Optional[float] = None, mobile: Optional[Sequence[str]] = None,
                         drop: Optional[str] = "auto", site_energies: Any = None,
                         window: float = DEFAULT_WINDOW, site_energy_source: Optional[str] = None,
                         max_lag_auto: bool = False, single_component: bool = False,
                         too_few: str = "error") -> tuple[OnsagerResult, GreenKuboEstimate]:
    """Green-Kubo analysis of gathered correlations; returns (result, the GK estimate).

    cutoff: integration cutoff in the unit system's time unit (None = automatic rule).
    site_energies: mean site energy per species (energy unit of the unit system; a mapping or
    a list in species order); when None, ``metadata.site_energies`` (the drivers' time means of
    the flux file's ``site_energy_*`` columns) is used.  They enable the empirical U^2/L11
    criterion and size the gauge shifts; ``criterion.site_energy_source`` records "user" or
    ``site_energy_source`` (default "flux file") accordingly.

    Minimum data (errors, exit status 2 on the command line): N >= MIN_SAMPLES_PER_LAG x
    (max lag + 1) and N >= :func:`minimum_samples` (t_c); with ``max_lag_auto`` (the max lag
    was not chosen by the user) the automatic cutoff rule must also be satisfied within it.
    too_few: "error" (ValueError) or "warn" (the same message in ``warnings``: the
    on-the-fly drivers' default, a paid-for run is reported, flagged, not thrown away).
    single_component: the user states that the system has one diffusing component, so that
    kappa = L00 without mass fluxes is not flagged (see :data:`KAPPA_IS_L00`).
    """
    if too_few not in ("error", "warn"):
        raise InputError(f"too_few={too_few!r}: use 'error' or 'warn'")
    md = metadata
    md.validate()
    if data.nsamples < MIN_SAMPLES_PER_LAG * (data.max_lag + 1):
        raise TooFewSamples(
            f"too few samples: {data.nsamples} samples cannot resolve correlations up to max lag "
            f"{data.max_lag} samples (need at least {MIN_SAMPLES_PER_LAG * (data.max_lag + 1)}, "
            "better 20x more): "
            "run longer or use a smaller max lag")
    nch = data.correlations.shape[1]
    names = list(channel_names) if channel_names is not None else _infer_channel_names(nch, md)
    kinds = channels.kinds(names)
    # species -> channel index of its mass flux (channel order, as the layout names them)
    chan = {channels.species_of(n): i for i, n in enumerate(names)
            if kinds[i] == channels.KIND_MASS}
    species = [s for s in md.species if s in chan] or list(chan)
    scale, f = _si_scale(md, kinds)
    dt_s = md.dt * U.time(md.units)
    mobile = mobile if mobile is not None else md.mobile

    midx = [chan[s] for s in species]
    c0 = data.correlations[..., 0].mean(axis=0)
    c0 = 0.5 * (c0 + c0.T)
    run = symmetric_running_integral(data.correlations[:, midx][:, :, midx])
    masses = md.masses if md.masses is not None and len(md.masses) == len(species) else None
    indep, sinfo = select_species(species, c0[np.ix_(midx, midx)], run, masses, mobile, drop)
    warnings: list[str] = []
    if not species:
        sinfo["single_component"] = ("stated by the user" if single_component else
                                     "assumed: no mass fluxes given (see warnings)")
        if not single_component:
            warnings.append(KAPPA_IS_L00)
    elif species and not indep:
        warnings.append(NO_DIFFUSING)
    if sinfo.get("suspect"):
        warnings.append(
            f"species {', '.join(sinfo['suspect'])} look non-diffusing or dependent at long times "
            f"(min(r_s, p_s) < {NONDIFFUSING_TOL:g}, see species.unexplained_fraction and "
            "plateau_ratio): the Onsager matrix is near-singular at long times and kappa may be "
            "unreliable; leave them out of mobile=[...]")
    if sinfo["nondiffusing"]:
        warnings.append(f"non-diffusing species excluded: {', '.join(sinfo['nondiffusing'])} "
                        "(see species.unexplained_fraction / plateau_ratio; override with mobile=)")
    e0 = names.index(channels.ENERGY)
    sel = [e0] + [chan[s] for s in indep]
    gk = green_kubo(data.correlations, scale, sel, dt_s, data.segment_integrals,
                    data.segment_weights, data.grid,
                    cutoff=None if cutoff is None else cutoff * U.time(md.units), window=window)
    shortfall = _check_enough_samples(gk, data.nsamples, data.max_lag, md, max_lag_auto, window)
    if shortfall and too_few == "error":
        raise TooFewSamples(shortfall, automatic_lag=max_lag_auto and not (
            gk.cutoff_found and gk.drift_converged))
    warnings += gk.warnings
    if shortfall:
        warnings.append(shortfall + " (these numbers do not meet the documented minimum)")
    if gk.pseudo_samples and gk.pseudo_samples < 12:
        warnings.append(f"error bars from only {gk.pseudo_samples} blocks x directions: the run is "
                        "short compared with max_lag; errors are themselves uncertain")

    def q(i: int, j: int) -> Quantity:
        return Quantity(float(gk.L[i, j]), float(gk.L_err[i, j]),
                        U.coefficient_unit(kinds[i], kinds[j], md.mass_flux_unit))

    kappa_unit = U.SI_UNITS["kappa"]
    sel_names = [names[i] for i in sel]
    Lsym = 0.5 * (gk.L + gk.L.T)
    om = {"names": sel_names,
          "values": [[float(Lsym[i, j]) for j in sel] for i in sel],
          "errors": [[float(gk.L_err[i, j]) for j in sel] for i in sel],
          "units": [[U.coefficient_unit(kinds[i], kinds[j], md.mass_flux_unit) for j in sel]
                    for i in sel]}
    res = OnsagerResult(
        kappa=Quantity(gk.kappa, gk.kappa_err, kappa_unit),
        L00=Quantity(gk.L00, gk.L00_err, kappa_unit),
        onsager_matrix=om,
        estimator={"name": "green-kubo", "parameters": {
            "cutoff_time": gk.cutoff_time, "cutoff_rule": gk.cutoff_rule, "window": gk.window,
            "max_lag_time": data.max_lag * dt_s,
            "error": f"delete-one jackknife over {gk.pseudo_samples} pseudo-samples (contiguous "
                     f"time blocks >= {GROUP_FACTOR}x the cutoff, x {data.correlations.shape[0]} "
                     "directions)"}},
        temperature=md.temperature, volume=md.volume * U.volume(md.units), samples=data.nsamples,
        dt=dt_s, input_units={"units": md.units, "dt": md.dt, "volume": md.volume,
                              "time_unit": "ps" if md.units != "real" else "fs",
                              "volume_unit": "A^3"},
        species_selection=sinfo, warnings=warnings)
    if len(sel) == 2:
        res.L01 = q(sel[0], sel[1])
        res.L01.value = float(Lsym[sel[0], sel[1]])
        res.L11 = q(sel[1], sel[1])
    if channels.KINETIC in names and channels.POTENTIAL in names:
        k, p = names.index(channels.KINETIC), names.index(channels.POTENTIAL)
        res.kappa_k, res.kappa_p = q(k, k), q(p, p)
        res.kappa_kp = q(k, p)
        res.kappa_kp.value = float(Lsym[k, p])
    # without mass fluxes kappa is L00 by construction: delta = 0 would measure nothing
    res.delta = Quantity(gk.delta, gk.delta_err, "") if species else None
    overrides = md.extra.get("overrides")
    if overrides:
        res.overrides = dict(overrides)
    site_energies, se_source = _site_energies_and_source(
        site_energies, md.site_energies, site_energy_source or SOURCE_FILE)
    se = _site_energy_map(site_energies, species)
    res.criterion = _criterion(md, Lsym, chan, indep, se, se_source)
    have_masses = md.masses is not None and len(md.masses) == len(species)
    if have_masses and not md.mass_flux_unit and species:
        mk = {s: float(m) * U.mass(md.units) for s, m in zip(species, md.masses)}
        to_ev = U.energy(md.units) / U.EV
        se_ev = {s: v * to_ev for s, v in se.items()} if se else None
        res.gauge_sensitivity = gauge_sensitivity(Lsym, e0, {s: chan[s] for s in species}, mk, sel,
                                                  default_shifts(species, se_ev))
        if se_ev:
            res.gauge_sensitivity["site_energy_source"] = se_source
    elif species:
        res.gauge_sensitivity = {"note": "not computed: needs true mass fluxes and the "
                                         "species' masses"}
    res.arrays = {
        "time": gk.time, "correlations": data.correlations, "counts": data.counts,
        "L_t": gk.L_t, "kappa_t": gk.kappa_t, "L00_t": gk.L00_t,
        "kappa_err_t": gk.kappa_err_t, "L00_err_t": gk.L00_err_t,
        "channel_names": np.array(names), "selected": np.array(sel),
        "cutoff_index": np.array(gk.cutoff_index), "cutoff_time": np.array(gk.cutoff_time)}
    return res, gk


def _check_enough_samples(gk: GreenKuboEstimate, n: int, max_lag: int, md: FluxMetadata,
                          max_lag_auto: bool, window: float) -> Optional[str]:
    """The documented minimum (README section 5): None, or what is missing and the number of
    samples needed."""
    dt, unit = md.dt, "fs" if md.units == "real" else "ps"
    tau = gk.tau_int
    tau_text = (f"integrated correlation time of the reduced flux tau ~ {tau * dt:.3g} {unit}"
                if np.isfinite(tau) else "correlation time unknown")
    if max_lag_auto and not (gk.cutoff_found and gk.drift_converged):
        lag = max(gk.lag_needed, max_lag + 1)
        need = max(DEFAULT_LAG_FRACTION * lag, minimum_samples(lag))
        what = ("does not meet t >= window tau(t)" if not gk.cutoff_found else
                "still drifts beyond its error")
        return (
            f"too few samples: {n} samples; the automatic max lag (N/{DEFAULT_LAG_FRACTION} = "
            f"{max_lag} samples = {max_lag * dt:.4g} {unit}) is shorter than the cutoff rule "
            f"needs (kappa(t) {what}; t >= {window:g} tau needs a max lag of at least {lag} "
            f"samples, {tau_text}): need at least {need} samples; run longer, or choose "
            "--max-lag and --cutoff yourself after looking at kappa(t)")
    need = minimum_samples(gk.cutoff_index)
    if n < need:
        return (
            f"too few samples: {n} samples ({n * dt:.4g} {unit}) for a cutoff of "
            f"{gk.cutoff_index} samples ({gk.cutoff_time / U.time(md.units):.4g} {unit}; "
            f"{tau_text}): need at least {need} samples ({need * dt:.4g} {unit}), "
            f"{MIN_BLOCKS} independent blocks of {GROUP_FACTOR} cutoffs for the jackknife "
            "error bar; run longer")
    return None


def analyze_correlator(correlator: Union[OnlineCorrelator, CorrelationData], metadata: FluxMetadata,
                       estimator: str = "green-kubo", *, cutoff: Optional[float] = None,
                       mobile: Optional[Sequence[str]] = None, drop: Optional[str] = "auto",
                       site_energies: Any = None, window: float = DEFAULT_WINDOW,
                       channel_names: Optional[Sequence[str]] = None,
                       single_component: bool = False, too_few: str = "warn") -> OnsagerResult:
    """Onsager analysis of an on-the-fly correlator (collective under MPI: gathers once).

    metadata: the run's :class:`FluxMetadata` (units, dt between samples, volume, mean
    temperature, species, masses).  Channel order as in docs/design.md; names are taken from
    ``channel_names``, ``metadata.extra["channels"]`` or inferred from the channel count.
    Only the Green-Kubo estimator is possible (the cepstral one needs the stored series).
    Site energies: ``site_energies`` if given, else ``metadata.site_energies`` (the drivers
    pass the running mean of the fix's ``site_energy_*`` columns, i.e. exactly what
    :func:`analyze` of the flux file computes).  Fewer samples than the documented minimum
    (:func:`minimum_samples`) are a warning here (``too_few="warn"``: the run is reported,
    flagged) and an error with ``too_few="error"``, the default of :func:`analyze`.
    """
    if estimator != "green-kubo":
        raise InputError(f"estimator {estimator!r} needs the stored flux series; on-the-fly "
                         "correlations support estimator='green-kubo' only")
    data = correlator.result() if isinstance(correlator, OnlineCorrelator) else correlator
    res, _ = analyze_correlations(data, metadata, channel_names, cutoff=cutoff, mobile=mobile,
                                  drop=drop, site_energies=site_energies, window=window,
                                  single_component=single_component, too_few=too_few)
    return res


def _default_max_lag(n: int) -> int:
    return int(max(1, min(n // DEFAULT_LAG_FRACTION, DEFAULT_MAX_LAG)))


def _automatic_lag(arrays: Sequence[np.ndarray], names: Sequence[str], md: FluxMetadata, n: int,
                   block: Optional[int], mobile: Any, drop: Any, window: float
                   ) -> tuple[int, Optional[OnlineCorrelator]]:
    """The documented default max lag of a series that records none (samples), and its
    correlator when already computed:

        m = N/50 (at most 10^4);  if the cutoff rule is not satisfied within m, the rule is
        measured on lags up to M = min(N/4 - 1, EXTENDED_MAX_LAG) and m = min(M, max(m, 2 t_c))
        (the cutoff rule compares kappa(t_c) with kappa(2 t_c), so it must see 2 t_c).

    The minimum-samples rule (N >= 80 t_c) is applied afterwards, as for a chosen max lag: a
    series too short for its own correlation time then says how many samples it needs,
    rather than that its cutoff was not reached."""
    m0 = _default_max_lag(n)
    corr = _correlate(arrays, len(names), n, m0, block)

    def cutoff_of(c: OnlineCorrelator) -> Optional[int]:
        try:
            _, gk = analyze_correlations(c.result(), md, names, mobile=mobile, drop=drop,
                                         window=window, too_few="warn", single_component=True)
        except ValueError:
            return None
        return int(gk.cutoff_index) if gk.cutoff_found and gk.drift_converged else None

    if cutoff_of(corr) is not None:
        return m0, corr
    m2 = min(n // MIN_SAMPLES_PER_LAG - 1, EXTENDED_MAX_LAG)
    if m2 <= m0:
        return m0, corr
    tc = cutoff_of(_correlate(arrays, len(names), n, m2, block))
    m = m2 if tc is None else min(m2, max(m0, 2 * tc))
    return m, None


def analyze_series(series: FluxSeries, estimator: Optional[str] = None, *,
                   max_lag: Optional[float] = None, cutoff: Optional[float] = None,
                   fstar: Optional[float] = None, pstar: Optional[int] = None,
                   mobile: Optional[Sequence[str]] = None, drop: Optional[str] = "auto",
                   site_energies: Any = None, window: float = DEFAULT_WINDOW,
                   block: Optional[int] = None, single_component: bool = False,
                   too_few: Optional[str] = None) -> OnsagerResult:
    """Onsager analysis of a stored flux series.

    max_lag, cutoff: times in the unit system's time unit (metal: ps, real: fs); default: the
    file's recorded max lag, else min(N/50, 10^4) samples, extended to twice the cutoff when
    that is too short for the cutoff rule (:func:`_automatic_lag`).  too_few: None = what the
    file records, else "error".  fstar: cepstral low-pass frequency in THz (None =
    automatic), pstar: cepstral coefficients (None = AIC).  The Green-Kubo correlations are
    always computed (they select the independent species and give L0a, Lab); with
    estimator="cepstral", kappa and L00 come from :func:`pyonsager.cepstral.cepstral_analysis`.
    Too few samples for the correlation analysis (see :func:`minimum_samples`; with the
    automatic max lag, a cutoff rule not satisfied within it) raise
    :class:`~pyonsager.errors.TooFewSamples` naming the number needed (``too_few="warn"``: a
    warning instead); other bad input raises :class:`~pyonsager.errors.InputError`.
    single_component: see :func:`analyze_file`.
    """
    md = series.metadata
    # a flux file that records its run's analysis settings: they are the defaults here, so a
    # re-analysis with no options reproduces the run; given options override (recorded)
    from .fluxfile import recorded_analysis, resolve_analysis

    recorded = recorded_analysis(md.extra, str(md.extra.get("source", "flux file")))
    given = dict(estimator=estimator, max_lag=max_lag, cutoff=cutoff, fstar=fstar, pstar=pstar,
                 mobile=mobile if mobile is not None else md.mobile, drop=drop, window=window,
                 too_few=too_few)
    unset = dict(estimator=None, max_lag=None, cutoff=None, fstar=None, pstar=None, mobile=None,
                 drop="auto", window=DEFAULT_WINDOW, too_few=None)
    used, analysis_overrides = resolve_analysis(recorded, given, unset)
    too_few = used["too_few"] or "error"
    estimator = used["estimator"] or DEFAULT_ESTIMATOR
    max_lag, cutoff, fstar, pstar = used["max_lag"], used["cutoff"], used["fstar"], used["pstar"]
    mobile, drop, window = used["mobile"], used["drop"], float(used["window"])
    if mobile is not None:
        mobile = [str(x) for x in mobile]
        md = replace(md, mobile=mobile)
    if estimator not in ("green-kubo", "cepstral", "likelihood"):
        raise InputError(f"unknown estimator {estimator!r}: use 'green-kubo', 'cepstral' or "
                         "'likelihood'")
    md.validate()
    names = series.channel_names()
    arrays = series.channel_arrays()
    n = len(series)
    for name, a in zip(names, arrays):
        if a.ndim != 2 or a.shape != (n, 3):
            raise InputError(f"{name} must be an (N, 3) array with N = {n}, got shape {a.shape}")
    if estimator == "cepstral":
        _check_fstar(fstar, md.dt * U.time(md.units))       # before the correlations: fail fast
    corr = None
    if max_lag is None:
        m, corr = _automatic_lag(arrays, names, md, n, block, mobile, drop, window)
    else:
        m = int(round(max_lag / md.dt))
    if m < 1:
        raise InputError(f"max_lag {max_lag} is shorter than the time between samples {md.dt}")
    if n < MIN_SAMPLES_PER_LAG * (m + 1):
        raise TooFewSamples(
            f"too few samples: {n} samples ({n * md.dt:.6g} time units) cannot resolve "
            f"correlations up to max_lag = {m} samples ({m * md.dt:.6g}); need at least "
            f"{MIN_SAMPLES_PER_LAG * (m + 1)} samples: "
            "pass a smaller max_lag or analyse a longer run")
    if corr is None:
        corr = _correlate(arrays, len(names), n, m, block)
    if site_energies is None and series.site_energy:
        # the time mean of the series' per-sample site energies (fix onsager's columns)
        md = replace(md, site_energies=series.mean_site_energies())
        source = SOURCE_FILE if md.extra.get("format") == "onsager" else SOURCE_SERIES
    else:
        source = None
    try:
        res, gk = analyze_correlations(corr.result(), md, names, cutoff=cutoff, mobile=mobile,
                                       drop=drop, site_energies=site_energies, window=window,
                                       site_energy_source=source, max_lag_auto=max_lag is None,
                                       single_component=single_component, too_few=too_few)
    except TooFewSamples as exc:
        if not exc.automatic_lag:
            raise
        # the automatic lag N/50 saw too little of the correlation to say how much is needed:
        # measure the cutoff rule on the longest lag the data allow (N/4) and name that
        better = _need_from_longest_lag(arrays, names, md, n, m, block, mobile, drop, window)
        raise TooFewSamples(better or str(exc), automatic_lag=True) from None
    if estimator == "green-kubo" and cutoff is None and NO_DIFFUSING in res.warnings:
        res.warnings.append(CRYSTAL_CUTOFF)
    if estimator != "green-kubo" and res.gauge_sensitivity and res.gauge_sensitivity.get("shifts"):
        # the shifts need every mass channel's cross terms, which only the Green-Kubo matrix
        # has (the spectral fits see the selected fluxes): say whose L00 is shifted
        res.gauge_sensitivity["matrix"] = "green-kubo"
    if estimator == "cepstral":
        _apply_cepstral(res, arrays, gk.selected, md, fstar, pstar)
    elif estimator == "likelihood":
        from pyonsager.likelihood import MIN_SAMPLES as LK_MIN_SAMPLES, apply_likelihood

        # the default, and a run already paid for (too_few="warn", the drivers' policy), fall
        # back to Green-Kubo, flagged, where the likelihood fit cannot be made
        lenient = used["estimator"] is None or too_few == "warn"
        if lenient and len(gk.selected) > arrays[0].shape[1]:
            # the default may not refuse what Green-Kubo can do: the likelihood fit needs at
            # least as many components (directions) as independent fluxes
            res.warnings.append(
                f"{len(gk.selected)} independent fluxes and {arrays[0].shape[1]} directions: "
                "the likelihood estimator needs at least as many directions as fluxes; "
                "kappa is the Green-Kubo estimate (analyse several runs together with "
                "analyze FILE FILE ... to use the likelihood estimator)")
        elif lenient and n < LK_MIN_SAMPLES:
            res.warnings.append(
                f"{n} samples: the likelihood estimator needs at least "
                f"{LK_MIN_SAMPLES}; kappa is the Green-Kubo estimate")
        else:
            apply_likelihood(res, arrays, names, gk.selected, md)
    res.analysis_overrides = analysis_overrides
    return res


def _correlate(arrays: Sequence[np.ndarray], nch: int, n: int, m: int,
               block: Optional[int]) -> OnlineCorrelator:
    """On-the-fly correlator of the (N, 3) channel arrays up to lag m (chunked, NaN-checked)."""
    corr = OnlineCorrelator(nch, m, block=block)
    for start in range(0, n, _CHUNK):
        chunk = np.stack([a[start:start + _CHUNK] for a in arrays], axis=1)
        if not np.all(np.isfinite(chunk)):
            bad = start + int(np.nonzero(~np.isfinite(chunk).all(axis=(1, 2)))[0][0])
            raise InputError(f"non-finite value (NaN/inf) in the fluxes at row {bad}: remove the "
                             "bad rows or the truncated end of the run")
        corr.add(chunk)
    return corr


def _need_from_longest_lag(arrays: Sequence[np.ndarray], names: Sequence[str], md: FluxMetadata,
                           n: int, m: int, block: Optional[int], mobile: Any, drop: Any,
                           window: float) -> Optional[str]:
    """The too-few-samples message with the cutoff rule measured up to lag N/4 - 1 (the most
    the data allow, MIN_SAMPLES_PER_LAG), or None when that cannot be measured."""
    m2 = n // MIN_SAMPLES_PER_LAG - 1
    if m2 <= m:
        return None
    try:
        corr = _correlate(arrays, len(names), n, m2, block)
        _, gk = analyze_correlations(corr.result(), md, names, mobile=mobile, drop=drop,
                                     window=window, too_few="warn", single_component=True)
    except ValueError:
        return None
    reached = gk.cutoff_found and gk.drift_converged
    lag = int(gk.cutoff_index if reached else max(gk.lag_needed, m2 + 1))
    need = max(DEFAULT_LAG_FRACTION * lag, minimum_samples(lag))
    dt, unit = md.dt, "fs" if md.units == "real" else "ps"
    tau = (f"integrated correlation time of the reduced flux tau ~ {gk.tau_int * dt:.3g} {unit}; "
           if np.isfinite(gk.tau_int) else "")
    return (f"too few samples: {n} samples ({n * dt:.4g} {unit}); the automatic max lag "
            f"(N/{DEFAULT_LAG_FRACTION} = {m} samples) is shorter than the cutoff rule needs: "
            f"correlations up to N/{MIN_SAMPLES_PER_LAG} = {m2} lags give a cutoff "
            f"{'t_c =' if reached else 'beyond'} {lag} samples ({tau}t_c >= {window:g} tau); "
            f"need at least {need} samples (max lag N/{DEFAULT_LAG_FRACTION} >= t_c, and "
            f"{MIN_BLOCKS} blocks of {GROUP_FACTOR} cutoffs: {MIN_BLOCKS * GROUP_FACTOR} t_c); "
            "run longer, or choose --max-lag and --cutoff yourself after looking at kappa(t)")


def _root(a: np.ndarray) -> Any:
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a


def _stack_channels(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """(N, k, 3) array of k (N, 3) fluxes; a zero-copy strided view when they are equally
    spaced slices of one buffer (columns of one table, as the file readers produce), so a
    1e7-sample series is not duplicated in memory; otherwise a stacked copy."""
    a0 = arrays[0]
    ptrs = [a.__array_interface__["data"][0] for a in arrays]
    steps = {p - q for p, q in zip(ptrs[1:], ptrs[:-1])}
    if (len(arrays) > 1 and len(steps) == 1 and all(a.strides == a0.strides for a in arrays)
            and all(a.dtype == np.float64 for a in arrays)
            and all(_root(a) is _root(a0) for a in arrays) and _root(a0) is not a0):
        step = steps.pop()
        view = np.lib.stride_tricks.as_strided(
            a0, shape=(a0.shape[0], len(arrays), a0.shape[1]),
            strides=(a0.strides[0], step, a0.strides[1]), writeable=False)
        if all(np.shares_memory(view[:, i], a) and view[:1, i].tolist() == a[:1].tolist()
               and view[-1:, i].tolist() == a[-1:].tolist() for i, a in enumerate(arrays)):
            return view
    return np.stack(arrays, axis=1)


def _check_fstar(fstar: Optional[float], dt_s: float) -> None:
    """f* (THz) must lie in (0, Nyquist]: a cutoff the samples cannot resolve is an error."""
    nyq = 0.5 / dt_s * 1e-12
    if fstar is not None and fstar > nyq * (1 + 1e-9):
        raise InputError(f"fstar {fstar:g} THz is above the Nyquist frequency of the samples, "
                         f"1/(2 dt) = {nyq:.6g} THz: choose --fstar <= {nyq:.6g} (or leave it "
                         "out for the automatic f*)")


def _apply_cepstral(res: OnsagerResult, arrays: list[np.ndarray], sel: Sequence[int],
                    md: FluxMetadata, fstar: Optional[float], pstar: Optional[int]) -> None:
    from .cepstral import cepstral_analysis

    dt_s = md.dt * U.time(md.units)
    _check_fstar(fstar, dt_s)
    x = _stack_channels([arrays[i] for i in sel])
    c = cepstral_analysis(x, dt_s, fstar=None if fstar is None else fstar * 1e12, pstar=pstar)
    del x
    f0 = U.energy_flux(md.units)
    base = f0 * f0 / (md.volume * U.volume(md.units) * U.K_B * md.temperature ** 2)
    gk_params = res.estimator["parameters"]
    gk_kappa = res.kappa.to_dict()
    res.kappa = Quantity(c.kappa * base, c.kappa_error * base, U.SI_UNITS["kappa"])
    res.L00 = Quantity(c.L00 * base, c.L00_error * base, U.SI_UNITS["kappa"])
    k, l00 = res.kappa.value, res.L00.value
    d_err = float(np.hypot(res.L00.error / k, l00 * res.kappa.error / k ** 2))
    res.delta = Quantity((l00 - k) / k, d_err, "")
    params = {"fstar": c.fstar, "fstar_THz": c.fstar * 1e-12, "fstar_rule": c.fstar_rule,
              "pstar": c.pstar, "pstar_L00": c.pstar_L00}
    # fields added by later versions of the cepstral module are passed on when present
    if getattr(c, "fstar_L00", None) is not None:
        params["fstar_L00"] = c.fstar_L00
    if getattr(c, "kappa_pstar", None) is not None:
        params["kappa_at_pstar"] = {"value": c.kappa_pstar * base,
                                    "error": c.kappa_pstar_error * base,
                                    "unit": U.SI_UNITS["kappa"]}
    params.update({
        "error": "cepstral (see pyonsager.cepstral); delta error neglects the kappa-L00 "
                 "correlation",
        "off_diagonal": "L0a, Lab and the decomposition from Green-Kubo",
        "green_kubo": {"kappa": gk_kappa, **gk_params}})
    res.estimator = {"name": "cepstral", "parameters": params}
    res.arrays.update({
        "frequencies": c.frequencies, "reduced_periodogram": c.reduced_periodogram * base,
        "cepstral_fit": c.cepstral_fit + np.log(base), "periodogram_L00": c.periodogram_L00 * base,
        "cepstral_fit_L00": c.cepstral_fit_L00 + np.log(base), "aic": c.aic})
    if getattr(c, "frequencies_L00", None) is not None:
        res.arrays["frequencies_L00"] = c.frequencies_L00


def _as_flux(name: str, a: Any) -> np.ndarray:
    x = np.asarray(a, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise InputError(f"{name} must be an (N, 3) array, got shape {x.shape}")
    return x


def _is_key(value: Any) -> bool:
    return value is None or isinstance(value, str)


def analyze_file(path: Union[str, os.PathLike], *, units: Optional[str] = None,
                 dt: Optional[float] = None, volume: Optional[float] = None,
                 temperature: Optional[float] = None, temperature_column: Optional[str] = None,
                 energy_flux: Optional[str] = None, mass_flux: Union[str, Sequence[str]] = (),
                 energy_flux_kinetic: Optional[str] = None,
                 energy_flux_potential: Optional[str] = None,
                 mass_flux_column_unit: str = "column",
                 masses: Optional[Sequence[float]] = None,
                 overrides: Optional[Mapping[str, Any]] = None, workers: Optional[int] = None,
                 estimator: Optional[str] = None, max_lag: Optional[float] = None,
                 cutoff: Optional[float] = None, fstar: Optional[float] = None,
                 pstar: Optional[int] = None, mobile: Optional[Sequence[str]] = None,
                 drop: Optional[str] = "auto", site_energies: Any = None,
                 window: float = DEFAULT_WINDOW, single_component: bool = False,
                 too_few: Optional[str] = None) -> OnsagerResult:
    """Thermal conductivity kappa = 1/(L^-1)_00 and the Onsager matrix of a flux file.

    path: our self-describing ``.onsager`` file or a LAMMPS ``fix ave/time`` / ``fix print``
    column file (read by :func:`pyonsager.io_dispatch.read_any`; this is ``pyonsager analyze
    FILE`` in Python).

    A ``.onsager`` file records units, dt, volume, species, masses (header) and the
    temperature (mean of its column): ``units``, ``dt``, ``volume``, ``temperature``,
    ``masses`` given here must agree with them, or replace them on purpose through
    ``overrides={"dt": 0.02, "species": [...]}`` (recorded in ``result.overrides`` and
    onsager.yaml).  Its header may record the run's analysis settings (line ``analysis:``);
    they are the defaults of the analysis options below, a given option overrides (listed in
    ``result.analysis_overrides``).

    A column file records nothing: it needs ``energy_flux`` (a column KEY such as ``"flux"``
    for c_flux[1..3]), ``units`` ("metal" or "real"), ``dt`` (time between rows: ps for
    metal, fs for real), ``volume`` (A^3) and ``temperature`` (K) or ``temperature_column``
    (the KEY of a column whose mean is used); ``mass_flux`` one KEY (or ``"NAME=KEY"``) per
    species, ``energy_flux_kinetic`` / ``energy_flux_potential`` the KEYs of the parts of J0;
    ``masses`` in g/mol.  ``mass_flux_column_unit``: ``"column"`` (default; the columns are
    only proportional to the mass fluxes, e.g. ``compute vcm``: kappa is unchanged, L01 and
    L11 are in the columns' unit), ``"mass"`` (true extensive mass fluxes, metal: g/mol A/ps)
    or the columns' unit by name (e.g. ``"A/ps"``).  ``workers``: reader threads.

    Analysis options: estimator "green-kubo" (default), "cepstral" or "likelihood"; max_lag
    and cutoff in the unit system's time unit (default max lag: :func:`analyze_series`); fstar
    in THz and pstar (cepstral); mobile (names of the diffusing species), drop ("auto", a
    species name or None: :func:`select_species`); site_energies (mean site energy per
    species, eV in metal units; default: the time mean of a flux file's ``site_energy_*``
    columns); window (cutoff rule factor); single_component=True states that the system has
    one diffusing component (without mass fluxes kappa is then L00 with no warning,
    :data:`KAPPA_IS_L00`); too few samples (:func:`minimum_samples`) raise
    :class:`~pyonsager.errors.TooFewSamples` naming the number needed, ``too_few="warn"``
    reports them flagged instead.  Returns an :class:`~pyonsager.result.OnsagerResult` (SI).
    """
    for name, value in (("energy_flux", energy_flux), ("energy_flux_kinetic", energy_flux_kinetic),
                        ("energy_flux_potential", energy_flux_potential)):
        if not _is_key(value):
            raise InputError(f"{name}= names a file's columns (a KEY such as 'flux'); to "
                             f"analyse arrays leave out the path: analyze({name}=..., dt=, "
                             "temperature=, volume=, units=)")
    keys = [mass_flux] if isinstance(mass_flux, str) else list(mass_flux or ())
    if not all(isinstance(k, str) for k in keys):
        raise InputError("mass_flux= names a file's columns (KEYs, or NAME=KEY); to analyse "
                         "arrays leave out the path: analyze(energy_flux=..., mass_flux=[...])")
    from .io_dispatch import read_any

    series = read_any(path, units=units, dt=dt, volume=volume, temperature=temperature,
                      temperature_column=temperature_column, energy_flux=energy_flux,
                      mass_flux=keys, energy_flux_kinetic=energy_flux_kinetic,
                      energy_flux_potential=energy_flux_potential,
                      mass_flux_units=mass_flux_column_unit, mobile=mobile, workers=workers,
                      masses=masses, overrides=overrides)
    if masses is not None and series.metadata.extra.get("format") != "onsager":
        series = series.with_metadata(masses=list(masses))
    return analyze_series(series, estimator, max_lag=max_lag, cutoff=cutoff, fstar=fstar,
                          pstar=pstar, mobile=mobile, drop=drop, site_energies=site_energies,
                          window=window, single_component=single_component, too_few=too_few)


def analyze_arrays(energy_flux: Any, mass_flux: Any = None, *, dt: Optional[float] = None,
                   temperature: Optional[float] = None, volume: Optional[float] = None,
                   units: Optional[str] = None, energy_flux_kinetic: Any = None,
                   energy_flux_potential: Any = None, charge_flux: Any = None,
                   species: Optional[Sequence[str]] = None,
                   masses: Optional[Sequence[float]] = None,
                   counts: Optional[Sequence[int]] = None,
                   mass_flux_proxy_unit: Optional[str] = None,
                   estimator: Optional[str] = None, max_lag: Optional[float] = None,
                   cutoff: Optional[float] = None, fstar: Optional[float] = None,
                   pstar: Optional[int] = None, mobile: Optional[Sequence[str]] = None,
                   drop: Optional[str] = "auto", site_energies: Any = None,
                   window: float = DEFAULT_WINDOW, single_component: bool = False,
                   too_few: str = "error") -> OnsagerResult:
    """Thermal conductivity kappa = 1/(L^-1)_00 and the Onsager matrix of flux arrays.

    energy_flux J0: an (N, 3) array; mass_flux: a list of (N, 3) arrays (one per species,
    named by ``species`` or species1, species2, ...), one bare (N, 3) array, or
    ``{name: (N, 3)}``.  Every flux is extensive (summed over atoms) in the unit system's
    units (metal: eV A/ps and g/mol A/ps); required: ``dt`` (time between samples: ps for
    metal, fs for real), ``temperature`` (K), ``volume`` (A^3) and ``units`` ("metal",
    "real" or "ase").  L_ij = V/(k_B T^2) int_0^inf <J_i(t) J_j(0)> dt with extensive fluxes
    J is L_ij = 1/(V k_B T^2) int <J_i(t) J_j(0)> dt.

    Optional: energy_flux_kinetic and energy_flux_potential (both: the decomposition of L00),
    charge_flux, species names, masses (g/mol; the gauge report and the heaviest-species drop
    rule), counts (atoms per species), mass_flux_proxy_unit (the mass fluxes are proxies in
    this unit, e.g. "A/ps" for centre-of-mass velocities: kappa is unchanged, L01 and L11 are
    in that unit).  Analysis options as in :func:`analyze_file`.
    """
    if energy_flux is None:
        raise InputError("pass energy_flux=(N, 3) array (or a file path to analyze())")
    missing = [k for k, v in (("dt", dt), ("temperature", temperature), ("volume", volume),
                              ("units", units)) if v is None]
    if missing:
        raise InputError(f"arrays need {', '.join(missing)}: e.g. dt=0.01 (ps), "
                         "temperature=700 (K), volume=17000 (A^3), units='metal'")
    if (energy_flux_kinetic is None) != (energy_flux_potential is None):
        given = "energy_flux_kinetic" if energy_flux_potential is None else "energy_flux_potential"
        raise InputError(f"{given}= alone does not decompose L00: pass both "
                         "energy_flux_kinetic= and energy_flux_potential= (J0 = J_kin + J_pot)")
    j0 = _as_flux("energy_flux", energy_flux)
    if mass_flux is None:
        mf: dict[str, np.ndarray] = {}
        if species is not None and list(species):
            raise InputError(f"species={list(species)} names mass fluxes, but no mass_flux= "
                             "is given")
    elif isinstance(mass_flux, Mapping):
        if species is not None:
            raise InputError("species= names the arrays of a mass_flux= list; a mass_flux= "
                             "mapping {name: array} names them itself: give one of the two")
        mf = {str(k): _as_flux(f"mass_flux[{k}]", v) for k, v in mass_flux.items()}
    else:
        lst = list(mass_flux)
        if lst and np.asarray(lst[0]).ndim == 1:     # a single (N, 3) array given bare
            lst = [np.asarray(mass_flux)]
        names = (list(species) if species is not None
                 else [f"species{i + 1}" for i in range(len(lst))])
        if len(names) != len(lst):
            raise InputError(f"{len(lst)} mass fluxes but {len(names)} species names")
        mf = {s: _as_flux(f"mass_flux[{s}]", v) for s, v in zip(names, lst)}
    parts = energy_flux_kinetic is not None
    md = FluxMetadata(units=units, dt=float(dt), volume=float(volume),
                      temperature=float(temperature), species=list(mf),
                      masses=None if masses is None else [float(m) for m in masses],
                      counts=None if counts is None else [int(c) for c in counts],
                      mobile=None if mobile is None else list(mobile),
                      mass_flux_unit=mass_flux_proxy_unit)
    series = FluxSeries(
        energy_flux=j0, mass_flux=mf, metadata=md,
        energy_flux_kinetic=_as_flux("energy_flux_kinetic", energy_flux_kinetic) if parts else None,
        energy_flux_potential=(_as_flux("energy_flux_potential", energy_flux_potential)
                               if parts else None),
        charge_flux=None if charge_flux is None else _as_flux("charge_flux", charge_flux))
    return analyze_series(series, estimator, max_lag=max_lag, cutoff=cutoff, fstar=fstar,
                          pstar=pstar, mobile=mobile, drop=drop, site_energies=site_energies,
                          window=window, single_component=single_component, too_few=too_few)


#: options of :func:`analyze` that apply to one kind of input only: option -> (kind, why and
#: what to do instead).  The dispatcher refuses them for the other kinds, naming this text.
_FILE_ONLY = {
    "temperature_column": "with arrays pass temperature= (K), e.g. the mean of your "
                          "temperature series",
    "mass_flux_units": "with arrays pass mass_flux_unit='A/ps' when the mass fluxes are "
                       "proxies (or nothing for true mass fluxes)",
    "workers": "it sets the file reader's threads; arrays are not read",
    "overrides": "overrides replace facts recorded in a flux file; with arrays pass the "
                 "values themselves (dt=, volume=, ...)",
}
_ARRAYS_ONLY = {
    "species": "a flux file names its species in its header (rename them with "
               "overrides={'species': [...]}), a column file with mass_flux=['NAME=KEY', ...]",
    "counts": "a flux file records the atom counts in its header; a column file has none",
    "mass_flux_unit": "for a column file say what its mass-flux columns are with "
                      "mass_flux_units= ('column', 'mass' or their unit, e.g. 'A/ps'); a flux "
                      "file holds true mass fluxes",
    "charge_flux": "a file's columns are named with energy_flux=/mass_flux= KEYs (column "
                   "file) or by its header (flux file)",
}
#: options that say how to read or build a series; a FluxSeries is already built
_READ_OR_BUILD = ("energy_flux", "mass_flux", "energy_flux_kinetic", "energy_flux_potential",
                  "dt", "temperature", "volume", "units", "masses") + tuple(_FILE_ONLY) \
    + tuple(_ARRAYS_ONLY)


def analyze(source: Any = None, *, files: Optional[Sequence[Union[str, os.PathLike]]] = None,
            energy_flux: Any = None, mass_flux: Any = None,
            dt: Optional[float] = None, temperature: Optional[float] = None,
            volume: Optional[float] = None, units: Optional[str] = None,
            estimator: Optional[str] = None, max_lag: Optional[float] = None,
            cutoff: Optional[float] = None, fstar: Optional[float] = None,
            pstar: Optional[int] = None, mobile: Optional[Sequence[str]] = None,
            drop: Optional[str] = "auto", energy_flux_kinetic: Any = None,
            energy_flux_potential: Any = None, charge_flux: Any = None,
            species: Optional[Sequence[str]] = None, masses: Optional[Sequence[float]] = None,
            counts: Optional[Sequence[int]] = None, site_energies: Any = None,
            mass_flux_unit: Optional[str] = None, window: float = DEFAULT_WINDOW,
            temperature_column: Optional[str] = None, mass_flux_units: Optional[str] = None,
            workers: Optional[int] = None, single_component: bool = False,
            overrides: Optional[Mapping[str, Any]] = None,
            too_few: Optional[str] = None) -> OnsagerResult:
    """Thermal conductivity kappa = 1/(L^-1)_00 and the Onsager matrix: one entry for every input.

    - ``analyze(path, ...)``: a flux file, :func:`analyze_file` (``mass_flux_units`` is its
      ``mass_flux_column_unit``);
    - ``analyze(energy_flux=J0, mass_flux=[J1, ...], dt=, temperature=, volume=, units=)``:
      arrays, :func:`analyze_arrays` (``mass_flux_unit`` is its ``mass_flux_proxy_unit``);
    - ``analyze(series)``: a :class:`~pyonsager.fluxes.FluxSeries`, :func:`analyze_series`;
    - ``analyze(files=[path, ...], ...)``: independent runs of one system analysed together,
      :func:`pyonsager.multirun.analyze_files`.

    An option that does not apply to the input (``species=`` with a path, ``mass_flux_units=``
    or ``temperature_column=`` with arrays, ...) raises :class:`~pyonsager.errors.InputError`
    naming the option, the input and what to do instead; nothing is silently ignored.  The
    options and their units are documented in :func:`analyze_file` and :func:`analyze_arrays`.
    """
    common = dict(estimator=estimator, max_lag=max_lag, cutoff=cutoff, fstar=fstar, pstar=pstar,
                  mobile=mobile, drop=drop, site_energies=site_energies, window=window,
                  single_component=single_component, too_few=too_few)
    given = {k: v for k, v in dict(
        energy_flux=energy_flux, mass_flux=mass_flux, dt=dt, temperature=temperature,
        volume=volume, units=units, energy_flux_kinetic=energy_flux_kinetic,
        energy_flux_potential=energy_flux_potential, charge_flux=charge_flux, species=species,
        masses=masses, counts=counts, mass_flux_unit=mass_flux_unit,
        temperature_column=temperature_column, mass_flux_units=mass_flux_units,
        workers=workers, overrides=overrides).items() if v is not None}
    if files is not None:
        if source is not None:
            raise InputError("files= analyses several runs together; give either files=[...] "
                             "or one path, not both (a single run is files=[path])")
        arrays = [k for k in ("energy_flux", "mass_flux", "energy_flux_kinetic",
                              "energy_flux_potential", "charge_flux")
                  if k in given and not _is_key(given[k])]
        if arrays:
            raise InputError(f"{arrays[0]}= with an array applies to a single run of arrays; "
                             "files= analyses flux files: give one of the two")
        from .multirun import analyze_files

        defaults = dict(drop="auto", window=DEFAULT_WINDOW, single_component=False)
        options = {k: v for k, v in common.items() if v is not None and v != defaults.get(k)}
        return analyze_files(list(files), **options, **given)
    if isinstance(source, FluxSeries):
        extra = [k for k in _READ_OR_BUILD if k in given]
        if extra:
            raise InputError(f"{extra[0]}= does not apply to a FluxSeries, which carries its "
                             "own data and metadata (change them with series.with_metadata(...))")
        return analyze_series(source, **common)
    if source is not None:
        if not isinstance(source, (str, os.PathLike)):
            raise TypeError("analyze() takes a file path or a FluxSeries as first argument; pass "
                            "arrays as energy_flux=..., mass_flux=[...]")
        for key, why in _ARRAYS_ONLY.items():
            if key in given:
                raise InputError(f"{key}= applies to arrays only; {why}")
        return analyze_file(source, units=units, dt=dt, volume=volume, temperature=temperature,
                            temperature_column=temperature_column, energy_flux=energy_flux,
                            mass_flux=mass_flux if mass_flux is not None else (),
                            energy_flux_kinetic=energy_flux_kinetic,
                            energy_flux_potential=energy_flux_potential,
                            mass_flux_column_unit=mass_flux_units or "column", masses=masses,
                            overrides=overrides, workers=workers, **common)
    if energy_flux is None:
        raise InputError("pass a file path, files=[...] or energy_flux=(N, 3) array")
    for key, why in _FILE_ONLY.items():
        if key in given:
            raise InputError(f"{key}= applies to files only; {why}")
    keys = [k for k in ("energy_flux", "mass_flux") if isinstance(given.get(k), str)]
    if keys:
        raise InputError(f"{keys[0]}={given[keys[0]]!r} is a column KEY, which names the columns "
                         "of a file: pass the file path too, analyze(path, "
                         f"{keys[0]}={given[keys[0]]!r}, ...), or pass the (N, 3) array")
    return analyze_arrays(energy_flux, mass_flux, dt=dt, temperature=temperature, volume=volume,
                          units=units, energy_flux_kinetic=energy_flux_kinetic,
                          energy_flux_potential=energy_flux_potential, charge_flux=charge_flux,
                          species=species, masses=masses, counts=counts,
                          mass_flux_proxy_unit=mass_flux_unit,
                          **{**common, "too_few": common.get("too_few") or "error"})
