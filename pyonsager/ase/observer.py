"""One flux sample of an ASE ``Atoms``, and an observer feeding the Onsager analysis.

Fluxes are extensive and in LAMMPS ``metal`` units, so that the same positions and
velocities give the same numbers as ``compute onsager`` under ``units metal``:

    J0   = sum_i e_i v_i + sum_i W_i . v_i                 (eV A/ps)
    e_i  = 1/2 m_i |v_i|^2 mvv2e + U_i                      (eV; m in amu, v in A/ps)
    J_s  = sum_{i in s} m_i v_i                             (amu A/ps)

with U_i the site energy and W_i^{ab} = sum_{j != i} (r_j - r_i)^a dU_j/dr_i^b the heat-flux
virial from :mod:`pyonsager.ase.adapters`.  ASE velocities are in A per ASE time unit
(A sqrt(amu/eV)); v [A/ps] = v_ase * (1000 * ase.units.fs).  The kinetic energy uses LAMMPS'
metal constant mvv2e = 1.0364269e-4 eV/(amu A^2/ps^2), as compute onsager does; it differs
from ASE's exact value by 6e-9 relative, far below any statistical error.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from pyonsager import channels as ch
from pyonsager import finish as _finish
from pyonsager.ase.adapters import adapters, energies_and_virials
from pyonsager.diffusion import MSDSeries, species_msd
from pyonsager.finish import TemperatureStats, refuse_overwrite
from pyonsager.channels import ChannelLayout
from pyonsager.fluxes import FluxMetadata
from pyonsager.units import LAMMPS_METAL_MVV2E, ase_time_per_ps
from pyonsager.estimators import DEFAULT_ESTIMATOR
from pyonsager.errors import ChangingCellError, InputError, TooFewSamples  # noqa: F401

#: columns of a flux-file row before the flux block (pyonsager.channels.LEADING)
_STEP_COLUMN = ch.LEADING.index(ch.STEP)
_TEMPERATURE_COLUMN = ch.LEADING.index(ch.TEMPERATURE)

# --------------------------------------------------------------------------- one sample

@dataclass
class FluxSample:
    """Extensive fluxes of one configuration, LAMMPS metal units.

    energy_flux = energy_flux_kinetic + energy_flux_potential (eV A/ps); ``energy_flux_kinetic``
    is the convective sum_i e_i v_i (kinetic plus site energy), ``energy_flux_potential`` the
    virial sum_i W_i . v_i, matching compute onsager's [4-6] and [7-9]; ``mass_flux`` maps
    species -> sum_{i in s} m_i v_i (amu A/ps); ``temperature`` is 2 KE / (k_B (3N - 3)) in K.
    """

    energy_flux: np.ndarray
    energy_flux_kinetic: np.ndarray
    energy_flux_potential: np.ndarray
    mass_flux: dict[str, np.ndarray] = field(default_factory=dict)
    temperature: float = float("nan")

    @property
    def layout(self) -> ChannelLayout:
        """The channels of this sample (:mod:`pyonsager.channels`): J0, its parts, the mass
        fluxes in the order of ``mass_flux``, the site energies in the file."""
        return ChannelLayout(tuple(self.mass_flux), parts=True, site_energy=True)

    def channels(self) -> np.ndarray:
        """(nchannels, 3) in the correlator's channel order (:attr:`layout`)."""
        by_name = {ch.ENERGY: self.energy_flux, ch.KINETIC: self.energy_flux_kinetic,
                   ch.POTENTIAL: self.energy_flux_potential,
                   **{ch.mass_channel(s): v for s, v in self.mass_flux.items()}}
        return np.stack([by_name[n] for n in self.layout.names])


def species_order(atoms: Any, species: Optional[Sequence[str]] = None) -> list[str]:
    """Species names in channel order: ``species`` as given, else order of first appearance.

    Every atom must belong to one of the species (the mass fluxes must cover all atoms for the
    momentum constraint sum_s J_s = P the analysis relies on).
    """
    symbols = atoms.get_chemical_symbols()
    present = list(dict.fromkeys(symbols))
    if species is None:
        return present
    species = [str(s) for s in species]
    missing = sorted(set(present) - set(species))
    unknown = [s for s in species if s not in present]
    if missing or unknown or len(set(species)) != len(species):
        raise InputError(f"species={species} must list each chemical symbol present once; "
                         f"present: {present}")
    return species


def _species_indices(atoms: Any, species: Sequence[str]) -> list[np.ndarray]:
    symbols = np.asarray(atoms.get_chemical_symbols())
    return [np.flatnonzero(symbols == s) for s in species]


def _membership(natoms: int, groups: Sequence[np.ndarray]) -> np.ndarray:
    """(nspecies, N) 0/1 matrix: per-species sums become one matrix product."""
    onehot = np.zeros((len(groups), natoms))
    for k, idx in enumerate(groups):
        onehot[k, idx] = 1.0
    return onehot


def _velocities_metal(atoms: Any) -> np.ndarray:
    """Velocities in A/ps (ASE stores A per ASE time unit)."""
    return atoms.get_velocities() * ase_time_per_ps()


def _temperature(masses: np.ndarray, v_metal: np.ndarray, natoms: int) -> float:
    """Instantaneous T = sum m v^2 / (k_B dof), dof = 3N - 3 as LAMMPS' compute temp."""
    from ase import units

    twice_ke = float(np.einsum("i,ij,ij->", masses, v_metal, v_metal)) / ase_time_per_ps() ** 2
    dof = max(3 * natoms - 3, 1)
    return twice_ke / (dof * units.kB)


def _fluxes(energies: np.ndarray, virials: np.ndarray, masses: np.ndarray, v: np.ndarray,
            membership: np.ndarray, species: Sequence[str]) -> FluxSample:
    """The formulas of the module docstring, on arrays already in metal units."""
    e = energies + 0.5 * LAMMPS_METAL_MVV2E * masses * np.einsum("ij,ij->i", v, v)
    kinetic = e @ v
    potential = np.einsum("iab,ib->a", virials, v)
    mass_flux = membership @ (masses[:, None] * v)
    return FluxSample(kinetic + potential, kinetic, potential, dict(zip(species, mass_flux)),
                      _temperature(masses, v, len(masses)))


def sample(atoms: Any, species: Optional[Sequence[str]] = None) -> FluxSample:
    """Fluxes of the current positions and velocities of ``atoms`` (calculator attached).

    Extensive, LAMMPS metal units: energy fluxes eV A/ps, mass fluxes amu A/ps (see the
    module docstring for the formulas).  ``species`` fixes the order of the mass fluxes
    (default: order of first appearance of the chemical symbols).  Raises
    :class:`~pyonsager.ase.adapters.UnsupportedCalculatorError` for a calculator without
    a usable per-atom virial.
    """
    names = species_order(atoms, species)
    energies, virials = energies_and_virials(atoms)
    return _fluxes(energies, virials, atoms.get_masses(), _velocities_metal(atoms),
                   _membership(len(atoms), _species_indices(atoms, names)), names)


# --------------------------------------------------------------------------- dynamics checks

_THERMOSTATS = {"Langevin", "LangevinBAOAB", "Andersen", "Bussi", "NoseHooverChainNVT",
                "NVTBerendsen", "Nose_Hoover_Chain_NVT", "IsotropicMTKNVT", "MTKNVT"}
_BAROSTATS = {"NPT", "MelchionnaNPT", "NPTBerendsen", "Inhomogeneous_NPTBerendsen",
              "IsotropicMTKNPT", "MTKNPT", "MaskedMTKNPT"}


def _is_thermostat(dyn: Any) -> bool:
    return bool({cls.__name__ for cls in type(dyn).__mro__} & _THERMOSTATS)


def _adapter_name(calc: Any) -> Optional[str]:
    """Name of the adapter that gives ``calc``'s per-atom virials (onsager.yaml
    ``virial_path`` of an ASE run), as :func:`~pyonsager.ase.adapters.find_adapter` picks it."""
    for name, match in adapters():
        if isinstance(match, type) and isinstance(calc, match):
            return name
        if not isinstance(match, type) and match(calc):
            return name
    return None


def _check_dynamics(dyn: Any) -> Optional[str]:
    """Refuse barostats (changing cell); return (and warn) the warning for a thermostat or
    for dynamics that are not known to be NVE, else None.

    The class and its bases are matched by name, so subclasses of ASE's thermostats count."""
    names = {cls.__name__ for cls in type(dyn).__mro__}
    if names & _BAROSTATS:
        raise InputError(
            f"{type(dyn).__name__} changes the cell: Green-Kubo needs a fixed volume. Equilibrate "
            "the density with the barostat first, then sample with VelocityVerlet at fixed cell.")
    thermostat = names & _THERMOSTATS
    if thermostat:
        msg = (f"thermostat {type(dyn).__name__} was active while sampling: the dynamics was "
               "not NVE, so the Green-Kubo coefficients are perturbed by the bath (biased); "
               "equilibrate with it, then sample with VelocityVerlet")
    elif "VelocityVerlet" not in names:
        msg = (f"{type(dyn).__name__} is not VelocityVerlet: the dynamics may not be NVE "
               "(a thermostat biases the Green-Kubo coefficients)")
    else:
        return None
    warnings.warn(msg, stacklevel=3)
    return msg


# --------------------------------------------------------------------------- MSD

class _Displacements:
    """Unwrapped displacements since the first sample, per-species MSD at chosen steps.

    Positions may be wrapped by the user between samples, so displacements are accumulated
    as minimum-image differences of consecutive samples (valid while no atom moves half a
    cell between two samples).  MSD_s = <|dx_i - dR_s|^2>_{i in s}, dR_s the species' own
    centre (see :mod:`pyonsager.diffusion`).
    """

    def __init__(self, atoms: Any, groups: Sequence[np.ndarray]) -> None:
        self._inverse = np.linalg.inv(atoms.cell.array)
        self._cell = atoms.cell.array.copy()
        self._previous = atoms.positions.copy()
        self._dx = np.zeros_like(self._previous)
        self._groups = groups
        self.steps: list[int] = []
        self.values: list[np.ndarray] = []

    def update(self, positions: np.ndarray) -> None:
        d = positions - self._previous
        frac = d @ self._inverse
        d -= np.round(frac) @ self._cell
        self._dx += d
        self._previous = positions.copy()

    def record(self, step: int) -> None:
        dx = self._dx
        sq = np.einsum("ij,ij->i", dx, dx)
        self.steps.append(step)
        self.values.append(species_msd(np.array([len(g) for g in self._groups]),
                                       np.array([sq[g].sum() for g in self._groups]),
                                       np.array([dx[g].sum(axis=0) for g in self._groups])))


# --------------------------------------------------------------------------- session

class Session:
    """Observer collecting flux samples from ASE dynamics; create it with :func:`attach`.

    Each call takes one sample (skipping a step already sampled, as when ``dyn.run`` is
    called again), buffers it, and every ``batch`` samples feeds the online correlator,
    appends the rows to the flux file (flushed) and records the per-species MSD.
    :meth:`finish` analyses the correlator and writes the same files as the LAMMPS driver.
    """

    def __init__(self, atoms: Any, dt: float, max_lag: int, species: Sequence[str],
                 mobile: Optional[Sequence[str]], path: str, batch: int, every: int = 1,
                 timestep: float = float("nan"), step_of: Optional[Callable[[], int]] = None,
                 estimator: str = DEFAULT_ESTIMATOR, msd: bool = True) -> None:
        self.atoms = atoms
        self.dt = dt                      # ps between samples
        self.max_lag = max_lag            # samples
        self.species = list(species)
        #: channels and flux-file columns of this observer (pyonsager.channels)
        self.layout = ChannelLayout(tuple(self.species), parts=True, site_energy=True)
        self.mobile = None if mobile is None else [str(m) for m in mobile]
        self.file = os.path.abspath(path)
        self.batch = batch
        self.every = every
        self.timestep = timestep          # ps
        self.estimator = estimator
        self._step_of = step_of
        self._groups = _species_indices(atoms, self.species)
        self._membership = _membership(len(atoms), self._groups)
        self._counts = self._membership.sum(axis=1)
        self._masses = atoms.get_masses().copy()
        self._cell = atoms.cell.array.copy()
        self.volume = float(atoms.get_volume())
        self._rows: list[np.ndarray] = []
        self._last_step: Optional[int] = None
        self.first_step: Optional[int] = None
        #: moments and block means of the sampled T (pyonsager.finish.TemperatureStats)
        self.temperature = TemperatureStats()
        #: sample intervals that were not ``every`` steps
        self.gaps = 0
        #: thermostats of the dynamics: [{fix: None, style: class name}] (onsager.yaml)
        self.thermostats: list[dict] = []
        #: driver warnings for onsager.yaml ``warnings`` and the summary (thermostats ...)
        self.warnings: list[str] = []
        #: the dynamics' class name (recorded in onsager.yaml ``run.dynamics``)
        self.dynamics: Optional[str] = None
        #: the temperature the caller asked for (K), if any
        self.requested_temperature: Optional[float] = None
        #: replace a finished run's results in the output directory
        self.overwrite = False
        self._site_energy_sums = np.zeros(len(self.species))
        self.nsamples = 0
        self.msd = _Displacements(atoms, self._groups) if msd else None
        self.correlator = self._new_correlator()
        self._writer = self._new_writer()
        self.finished = False
        #: mobile species the analysis used (set by finish)
        self.mobile_used: Optional[list[str]] = None

    # -- the core objects (thin: the core owns correlations and formats)
    def _new_correlator(self) -> Any:
        from pyonsager.correlator import OnlineCorrelator

        return OnlineCorrelator(len(self.channel_names), self.max_lag)

    def _new_writer(self) -> Any:
        from pyonsager.fluxfile import FluxFileWriter, header_from_metadata

        os.makedirs(os.path.dirname(self.file) or ".", exist_ok=True)
        # the header has no temperature: readers take the mean of the temperature column;
        # the site_energy_* columns (per-sample mean site energy per species, eV) are what
        # finish() averages for the analysis, so analyze() of the file sees the same numbers
        # the analysis settings known now (finish() completes them): pyonsager analyze FILE
        # takes them as its defaults and reproduces the run
        header = header_from_metadata(self.metadata(), analysis=self.analysis_settings())
        return FluxFileWriter(self.file, header, self.layout.columns)

    def analysis_settings(self, mobile: Optional[Sequence[str]] = None,
                          **analysis: Any) -> dict[str, Any]:
        """Settings for the flux file's ``analysis:`` header line
        (:func:`pyonsager.finish.analysis_settings`): max lag (ps), estimator, mobile species
        (given, or decided at finish), explicit finish() options."""
        return _finish.analysis_settings(self.max_lag * self.dt, self.estimator,
                                         mobile if mobile is not None else self.mobile, analysis)

    @property
    def channel_names(self) -> list[str]:
        """Correlator channel names (:attr:`layout`)."""
        return self.layout.names

    @property
    def site_energies(self) -> dict[str, float]:
        """Mean site energy per species over the samples (eV)."""
        n = max(self.nsamples, 1)
        return {s: float(v / n) for s, v in zip(self.species, self._site_energy_sums)}

    def metadata(self, mobile: Optional[Sequence[str]] = None) -> FluxMetadata:
        """Flux metadata: units metal, dt (ps), volume (A^3), mean sampled temperature (K),
        mean site energy per species (eV) once there are samples."""
        import ase

        return FluxMetadata(
            units="metal", dt=self.dt, volume=self.volume, temperature=self.temperature.mean,
            species=list(self.species),
            masses=[float(self._masses[g[0]]) for g in self._groups],
            counts=[int(len(g)) for g in self._groups],
            mobile=list(mobile) if mobile is not None else self.mobile,
            site_energies=self.site_energies if self.nsamples else None,
            extra={"timestep": self.timestep, "nevery": self.every, "charge": False,
                   "group": "all", "driver": "ase", "ase_version": ase.__version__,
                   "calculator": type(self.atoms.calc).__name__})

    # -- the observer
    def __call__(self) -> None:
        step = self.nsamples * self.every if self._step_of is None else int(self._step_of())
        if step == self._last_step:
            return
        self._check_cell()
        energies, virials = energies_and_virials(self.atoms)
        s = _fluxes(energies, virials, self._masses, _velocities_metal(self.atoms),
                    self._membership, self.species)
        site = self._membership @ energies / self._counts
        self._site_energy_sums += site
        if self.msd is not None:
            self.msd.update(self.atoms.positions)
        if self.first_step is None:
            self.first_step = step
        elif step - self._last_step != self.every:
            self.gaps += 1
        self._last_step = step
        self.temperature.add(s.temperature)
        self.nsamples += 1
        row = np.empty(self.layout.ncolumns)
        row[_STEP_COLUMN], row[_TEMPERATURE_COLUMN] = step, s.temperature
        row[self.layout.flux_columns] = s.channels().ravel()
        row[self.layout.site_columns] = site
        self._rows.append(row)
        if len(self._rows) >= self.batch:
            self.flush()

    def _check_cell(self) -> None:
        if not np.array_equal(self.atoms.cell.array, self._cell):
            raise ChangingCellError(
                "the cell changed while sampling fluxes (NPT, a cell filter or set_cell?): "
                "Green-Kubo needs a fixed volume. Equilibrate the density first, then sample at "
                "fixed cell with VelocityVerlet.")

    def flush(self) -> None:
        """Hand buffered samples to the correlator and the flux file (flushed to disk)."""
        if not self._rows:
            return
        rows = np.asarray(self._rows)
        self._rows.clear()
        self.correlator.add(rows[:, self.layout.flux_columns].reshape(len(rows),
                                                                       self.layout.nchannels, 3))
        self._writer.write_rows(rows)
        if self.msd is not None:
            self.msd.record(int(rows[-1, 0]))

    def diffusion(self) -> dict[str, tuple[float, float]]:
        """{species: (D, error)} in m^2/s from the MSD (empty without MSD)."""
        return _finish.diffusion_coefficients(self._msd_series(), "metal")

    def _msd_series(self) -> Optional[MSDSeries]:
        if self.msd is None or not self.msd.steps:
            return None
        steps = np.asarray(self.msd.steps, dtype=np.int64)
        return MSDSeries(list(self.species), steps, (steps - (self.first_step or 0)) * self.timestep,
                         np.asarray(self.msd.values))

    def record(self, **analysis: Any) -> "_finish.RunRecord":
        """The :class:`~pyonsager.finish.RunRecord` of what this observer collected."""
        import ase

        run = _finish.run_block(
            driver="ase", engine="ASE", engine_version=ase.__version__, dynamics=self.dynamics,
            potential=type(self.atoms.calc).__name__, first=self.first_step,
            last=self._last_step, every=self.every, samples=self.nsamples,
            timestep=self.timestep, units="metal", mpi_ranks=1, gaps=self.gaps)
        return _finish.RunRecord(
            metadata=self.metadata(), correlator=self.correlator, flux_file=self.file,
            temperature=self.temperature, max_lag=self.max_lag * self.dt,
            estimator=self.estimator, options=dict(analysis), channel_names=self.channel_names,
            mobile=self.mobile, msd=self._msd_series(), run=run, thermostats=list(self.thermostats),
            warnings=list(self.warnings), requested_temperature=self.requested_temperature,
            temperature_control=None, virial_path=_adapter_name(self.atoms.calc), partial=False)

    def finish(self, out: Optional[str] = None, plots: bool = True,
               overwrite: Optional[bool] = None, **analysis: Any) -> Any:
        """Analyse all samples; write ``out/onsager.yaml``, ``onsager.npz``, plots and
        ``out/fluxes.onsager``; return the :class:`~pyonsager.result.OnsagerResult`.

        ``out`` defaults to the flux file's directory; ``plots=False`` skips the PNGs (they
        take seconds).  Extra keywords go to the analysis
        (e.g. ``cutoff=`` in ps, ``estimator="cepstral"``).  Mobile species: as given to
        :func:`attach`, else decided from the MSD (as the LAMMPS driver does).  ``overwrite``:
        replace a finished run's results in ``out`` (default: as given to attach(); without
        it that is :class:`~pyonsager.errors.OverwriteRefused`).  The analysis and the files
        are :func:`pyonsager.finish.finish_run` of :meth:`record`, as for the LAMMPS driver.
        """
        out_dir = os.path.abspath(out or os.path.dirname(self.file) or ".")
        allow = self.overwrite if overwrite is None else bool(overwrite)
        if not allow and not self.finished:
            refuse_overwrite(out_dir, "overwrite=True to finish()")
        self.flush()
        self._writer.close()
        if self.nsamples < 2:
            raise TooFewSamples(f"only {self.nsamples} flux sample(s): run the dynamics between "
                                "attach() and finish()")
        done = _finish.finish_run(self.record(**analysis), out_dir, plots=plots)
        self.mobile_used = done.mobile
        self.finished = True
        return done.result


def attach(dyn: Any, every: int = 1, max_lag: float = 1.0,
           mobile: Optional[Sequence[str]] = None, species: Optional[Sequence[str]] = None,
           file: Optional[str] = None, out: Optional[str] = None, batch: int = 100,
           estimator: str = DEFAULT_ESTIMATOR, msd: bool = True, overwrite: bool = False) -> Session:
    """Sample fluxes from ASE dynamics ``dyn`` every ``every`` steps; returns the Session.

    Parameters
    ----------
    dyn: an ASE MD object (VelocityVerlet for NVE; thermostats are warned about, barostats
        refused).  Its atoms' calculator needs an adapter (:mod:`pyonsager.ase.adapters`).
    every: steps between samples.
    max_lag: longest correlation time kept, in ps.
    mobile: names of the diffusing species; default: decided from the MSD at ``finish``.
    species: order of the mass fluxes (default: order of first appearance of the symbols).
    file: flux file (``.onsager`` format, units metal); default ``OUT/fluxes.onsager`` with
        OUT = ``out`` or the current directory.
    batch: samples per correlator update, file flush and MSD point.
    estimator: default estimator of :meth:`Session.finish` ("green-kubo", "cepstral" or "likelihood").
    msd: track per-species MSD (diffusion coefficients, mobile species).
    overwrite: allow a flux file / output directory that holds a finished run's results
        (onsager.yaml); without it that is a FileExistsError, before anything is written.

    A thermostat (Langevin, Andersen, Bussi, NVTBerendsen, Nose-Hoover chains ...) is
    recorded as a warning in onsager.yaml and the summary; barostats are refused.

    Then ``dyn.run(nsteps)`` as usual and ``session.finish(out=DIR)``.
    """
    dyn_warning = _check_dynamics(dyn)
    atoms = dyn.atoms
    energies_and_virials(atoms)  # refuse an unsupported calculator now, not mid-run
    if every < 1 or batch < 1:
        raise InputError(f"every and batch must be >= 1, got every={every}, batch={batch}")
    if max_lag <= 0:
        raise InputError(f"max_lag must be > 0 ps, got {max_lag}")
    timestep = float(dyn.dt) / ase_time_per_ps()
    dt = timestep * every
    # same rounding as pyonsager.analyze(max_lag=...), so a re-analysis of the file matches
    lag = max(1, int(round(max_lag / dt)))
    if file is None:
        file = os.path.join(out or os.getcwd(), "fluxes.onsager")
    if not overwrite:
        for d in {os.path.dirname(os.path.abspath(file))} | ({os.path.abspath(out)} if out else set()):
            refuse_overwrite(d, "overwrite=True to attach()")
    session = Session(atoms, dt, lag, species_order(atoms, species), mobile, file, batch,
                      every=every, timestep=timestep, step_of=lambda: dyn.nsteps,
                      estimator=estimator, msd=msd)
    session.overwrite = bool(overwrite)
    session.dynamics = type(dyn).__name__
    if _is_thermostat(dyn):
        session.thermostats.append({"fix": None, "style": type(dyn).__name__})
    if dyn_warning:
        session.warnings.append(dyn_warning)
    dyn.attach(session, interval=every)
    return session
