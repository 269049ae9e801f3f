"""Every exception pyonsager raises on purpose, in one hierarchy.

:class:`UserError` is the base of everything the user can fix (bad options, a file that is not
what it claims, a run that LAMMPS refused): the command line prints its message as one line and
exits with status 2. Any other exception is a bug in pyonsager and keeps its traceback (exit 1).
Each class also derives from the built-in type its users caught before this module existed
(``ValueError``, ``RuntimeError``, ``TypeError``, ``FileNotFoundError``), so ``except
ValueError`` in a user's script keeps working.
"""
from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message is one line and names the fix."""


class InputError(UserError, ValueError):
    """Bad user input (file content or options); the message is one line and names the fix."""


class TooFewSamples(InputError):
    """Fewer samples than the documented minimum; the message names the number needed."""

    def __init__(self, message: str, automatic_lag: bool = False) -> None:
        super().__init__(message)
        #: the automatic max lag was too short for the cutoff rule (a better estimate of the
        #: number needed can then come from longer lags, see analysis.analyze_series)
        self.automatic_lag = automatic_lag


class ConfigError(InputError):
    """A config file that cannot be run; the message says what to change."""


class MismatchedRuns(InputError):
    """Flux files (or sessions) that are not independent runs of the same system."""


class OverwriteRefused(UserError, FileExistsError):
    """An output directory already holds a finished run and overwriting was not asked for."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that cannot be continued (incompatible version, system or settings)."""


class RunError(UserError, RuntimeError):
    """LAMMPS refused the setup or the run; the message carries LAMMPS' own."""


class RunInterrupted(UserError, RuntimeError):
    """The run was stopped (signal); a partial result and a checkpoint were written."""


class SamplingError(UserError, RuntimeError):
    """The flux callback failed during the run (raised by ``Session.finish``/``check``)."""


class VirialError(UserError, RuntimeError):
    """No exact potential heat flux exists for these force styles (or the one asked is wrong)."""


class ChangingCellError(UserError, RuntimeError):
    """The cell changed while sampling fluxes."""


class InstallationError(UserError, FileNotFoundError):
    """A part of pyonsager is missing from the installation (e.g. the LAMMPS plugin)."""


class UnsupportedCalculatorError(UserError, TypeError):
    """The calculator cannot give the per-atom energies and full per-atom virials needed."""
