"""Command line: ``pyonsager analyze|run|demo|plugin-path``.

Every user error (a :class:`pyonsager.errors.UserError`: bad file, bad option, singular flux
set, a run LAMMPS refused ...) ends in one line on stderr,
``pyonsager <command>: error: <what is wrong and how to fix it>``, and exit status 2, without
a traceback.  Any other exception is a bug: it keeps its traceback and the exit status is 1.
``pyonsager run`` stopped by a signal exits with status 3 (see :mod:`pyonsager.lammps.cli`).
Warnings (a dropped truncated line, an ill-conditioned matrix ...) are printed
as ``pyonsager <command>: warning: ...`` and do not change the exit status.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from typing import Any, Callable, Optional, Sequence

from pyonsager.errors import TooFewSamples, UserError
from pyonsager.estimators import DEFAULT_ESTIMATOR, ESTIMATORS

EXIT_USAGE = 2


# --------------------------------------------------------------------------- parser


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze", help="thermal conductivity from a flux file",
        description="Onsager coefficients and kappa from a pyonsager flux file (needs only "
                    "FILE) or a LAMMPS fix ave/time / fix print column file (needs --units, "
                    "--dt, --volume, a temperature and --energy-flux).",
        epilog="KEY: 'flux' selects c_flux[1] c_flux[2] c_flux[3] (the c_/v_/f_ prefix may be "
               "omitted); 'c_flux[4:6]' three columns of a longer vector; 'jx,jy,jz' three named "
               "columns.  A full column name selects that column alone, so it must be one of "
               "three listed with commas: every flux needs its x, y, z components.  "
               "--mass-flux accepts NAME=KEY to name the species.  Too few samples: fewer "
               "than 80 integration cutoffs (~640 correlation times; README section 5).  "
               "Errors: one line, exit status 2.")
    p.add_argument("file", metavar="FILE", nargs="+",
                   help="flux file (.onsager) or LAMMPS column file; several files of "
                        "independent runs of one system are analysed together")
    p.add_argument("--units", choices=("metal", "real"),
                   help="LAMMPS unit system of the columns (time: metal ps, real fs)")
    p.add_argument("--dt", type=float, metavar="DT",
                   help="time between rows in the unit system's time unit (metal: ps, real: fs)")
    p.add_argument("--volume", type=float, metavar="V", help="cell volume in Angstrom^3")
    t = p.add_mutually_exclusive_group()
    t.add_argument("--temperature", type=float, metavar="T", help="temperature in K")
    t.add_argument("--temperature-column", metavar="NAME",
                   help="column holding the temperature (its mean is used)")
    p.add_argument("--energy-flux", metavar="KEY", help="energy-flux columns (extensive)")
    p.add_argument("--mass-flux", metavar="KEY", action="extend", nargs="+", default=[],
                   help="one KEY (or NAME=KEY) per species; repeat or list several")
    p.add_argument("--energy-flux-kinetic", metavar="KEY", help="kinetic part of the energy flux")
    p.add_argument("--energy-flux-potential", metavar="KEY",
                   help="potential part of the energy flux")
    p.add_argument("--mass-flux-units", metavar="column|mass|UNIT", default="column",
                   help="'column' (default): mass-flux columns are only proportional to the "
                        "mass fluxes (e.g. compute vcm), L01/L11 are reported in the columns' "
                        "unit; 'mass': extensive mass fluxes in the unit system (metal: "
                        "amu A/ps); any other text names the columns' unit (e.g. A/ps)")
    p.add_argument("--estimator", choices=ESTIMATORS,
                   help=f"default: the one the flux file records, else {DEFAULT_ESTIMATOR} "
                        "(README: why this default)")
    p.add_argument("--fstar", type=float, metavar="THZ",
                   help="cepstral low-pass frequency f* in THz (default: automatic)")
    p.add_argument("--max-lag", type=float, metavar="TIME",
                   help="longest correlation time, in the unit system's time unit")
    p.add_argument("--cutoff", type=float, metavar="TIME",
                   help="Green-Kubo integration cutoff in the unit system's time unit "
                        "(default: automatic)")
    p.add_argument("--mobile", metavar="SPECIES", nargs="+",
                   help="species that diffuse (default: decided from the data)")
    p.add_argument("--drop", metavar="SPECIES|auto|none", default="auto",
                   help="species whose mass flux is dropped because total momentum is conserved "
                        "(default auto: the heaviest, or the last; none: drop nothing)")
    p.add_argument("--single-component", action="store_true",
                   help="state that the system has one diffusing component: without mass "
                        "fluxes kappa is then L00 with no warning")
    p.add_argument("--too-few", choices=("error", "warn"), default=None,
                   help="a series shorter than the documented minimum (80 cutoffs): error "
                        "(default), or warn to report the result flagged in its warnings; "
                        "default: what the flux file records (runs record warn), else error")
    p.add_argument("--override", metavar="KEY=VALUE", action="append", default=[],
                   help="replace a fact a .onsager file records (units, dt, volume, "
                        "temperature, species, masses; lists comma-separated), e.g. "
                        "--override dt=0.02; recorded in onsager.yaml.  Without it an option "
                        "that contradicts the file is an error")
    p.add_argument("--out", metavar="DIR", default="onsager",
                   help="output directory (default: ./onsager)")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.set_defaults(func=_analyze_cmd)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="DIR", help="output directory")
    p.add_argument("--restart", action="store_true",
                   help="continue from the checkpoint in the output directory")
    p.add_argument("--production-steps", type=int, metavar="N",
                   help="override the number of production steps")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of a finished run in the output directory")
    p.add_argument("--replicas", type=int, metavar="K",
                   help="K independent trajectories (own seeds, OUT/replica-k/), each on "
                        "P/K of the mpirun -np P ranks, merged at the end (config key "
                        "replicas)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyonsager",
        description="Thermal conductivity of multi-component materials from Green-Kubo with "
                    "Onsager's reciprocal relations.")
    from pyonsager import __version__

    parser.add_argument("--version", action="version", version=f"pyonsager {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_analyze(sub)
    run = sub.add_parser(
        "run", help="run LAMMPS from a YAML config with on-the-fly analysis",
        description="Run the LAMMPS study that CONFIG.yaml describes (input, species, "
                    "temperature(s), equilibration, NVE production, sampling, max lag): "
                    "thermostatted equilibration, NVE production with the fluxes correlated "
                    "on the fly, then the Onsager analysis, written to the output directory. "
                    "Also under mpirun -np K. Schema: docs/config.md.")
    run.add_argument("config", metavar="CONFIG.yaml")
    _add_run_options(run)
    run.set_defaults(func=_run_cmd)
    demo = sub.add_parser(
        "demo", help="run the packaged AgI example",
        description="`pyonsager run` on the packaged example: 256 atoms of superionic "
                    "alpha-AgI at 550 K (Parrinello-Rahman-Vashishta potential), a few minutes "
                    "on one core (mpirun -np 2 pyonsager demo for two); --production-steps "
                    "20000 is a quicker look. Results go to ./onsager_agi unless --out.")
    _add_run_options(demo)
    demo.set_defaults(func=_demo_cmd)
    pp = sub.add_parser(
        "plugin-path", help="print the path of the LAMMPS plugin",
        description="Print the absolute path of onsagerplugin.so (compute onsager, fix "
                    "onsager), for `plugin load PATH` or LAMMPS_PLUGIN_PATH=$(dirname PATH).")
    pp.set_defaults(func=_plugin_path_cmd)
    return parser


# --------------------------------------------------------------------------- commands


def _run_cmd(args: argparse.Namespace) -> Optional[int]:
    from pyonsager.lammps.cli import run_main   # lazy: imports LAMMPS

    return run_main(args)


def _demo_cmd(args: argparse.Namespace) -> Optional[int]:
    from pyonsager.lammps.cli import demo_main   # lazy: imports LAMMPS

    return demo_main(args)


def _plugin_path_cmd(args: argparse.Namespace) -> int:
    from pyonsager._plugin import plugin_path

    print(plugin_path())
    return 0


def reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keywords of :func:`pyonsager.io_dispatch.read_any` from the parsed options."""
    return dict(units=args.units, dt=args.dt, volume=args.volume, temperature=args.temperature,
                temperature_column=args.temperature_column, energy_flux=args.energy_flux,
                mass_flux=list(args.mass_flux), energy_flux_kinetic=args.energy_flux_kinetic,
                energy_flux_potential=args.energy_flux_potential,
                mass_flux_units=args.mass_flux_units, mobile=args.mobile,
                overrides=list(getattr(args, "override", None) or []))


def analysis_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keywords of :func:`pyonsager.analysis.analyze_series` from the parsed options.

    Times (--max-lag, --cutoff) stay in the unit system's time unit, f* in THz.
    """
    drop = None if args.drop.lower() == "none" else args.drop
    return dict(estimator=args.estimator, fstar=args.fstar, max_lag=args.max_lag,
                cutoff=args.cutoff, mobile=args.mobile, drop=drop,
                single_component=bool(getattr(args, "single_component", False)),
                too_few=getattr(args, "too_few", None))


def _analyze_cmd(args: argparse.Namespace) -> int:
    from pyonsager.io_dispatch import read_any

    if len(args.file) > 1:
        # independent runs of one system, combined as independent segments
        from pyonsager.multirun import analyze_files

        result = analyze_files(args.file, **reader_options(args), **{
            k: v for k, v in analysis_options(args).items() if k != "mobile"})
        print(format_table(result, result.input_units.get("mass_flux_unit")))
        written = result.write(args.out, plots=not args.no_plots)
        print("wrote " + ", ".join(os.fspath(p) for p in written))
        return 0
    series = read_any(args.file[0], **reader_options(args))
    from pyonsager.analysis import analyze_series   # after reading: input errors come first

    result = analyze_series(series, **analysis_options(args))
    print(format_table(result, series.metadata.mass_flux_unit))
    written = result.write(args.out, plots=not args.no_plots)
    print("wrote " + ", ".join(os.fspath(p) for p in written))
    return 0


def format_table(result: Any, mass_flux_unit: Optional[str] = None) -> str:
    """The summary printed by ``pyonsager analyze`` (the result's table, plus unit notes)."""
    text = _cli_wording(result.table())
    if mass_flux_unit and len(result.onsager_matrix.get("names", [])) > 1:
        text += (f"\nNOTE       mass-flux columns taken as proportional to the mass fluxes: "
                 f"L01, L11 are in '{mass_flux_unit}' (not SI); kappa and L00 are unaffected")
    return text


# --------------------------------------------------------------------------- main


#: Python keyword spellings in the analysis' messages -> the CLI options that do the same
_CLI_WORDS = (("drop='auto' or drop='NAME'", "--drop auto or --drop NAME"),
              ("mobile=[...]", "--mobile NAME ..."), ("a smaller max_lag", "a smaller --max-lag"),
              ("pass channel_names=", "check the flux file's columns"),
              ("increase max_lag or pass cutoff=", "increase --max-lag or pass --cutoff"),
              ("override with mobile=", "override with --mobile"),
              ("(--single-component on the command line, single_component=True in Python)",
               "with --single-component"))
#: Python-only hints in the analysis' messages, dropped on the command line
_PYTHON_ONLY = re.compile(r"\s*\(in Python: [^)]*\)")


def _cli_wording(text: str) -> str:
    for python, option in _CLI_WORDS:
        text = text.replace(python, option)
    return _PYTHON_ONLY.sub("", text)


def _one_line(exc: BaseException) -> str:
    text = _cli_wording(" ".join(str(exc).split()))
    return text or type(exc).__name__


def _report_warnings(prog: str, caught: Sequence[warnings.WarningMessage]) -> None:
    seen: set[str] = set()
    for w in caught:
        text = _one_line(w.message) if isinstance(w.message, BaseException) else str(w.message)
        if text not in seen:
            seen.add(text)
            print(f"{prog}: warning: {text}", file=sys.stderr)


def _guarded(prog: str, func: Callable[[], Optional[int]], collect_warnings: bool) -> int:
    """Run a command; user errors become one line on stderr and exit status 2.

    Only :class:`pyonsager.errors.UserError` is a user error: any other exception (a numpy
    broadcasting error, ``LinAlgError``, a plain ``ValueError``) is a bug in pyonsager and
    propagates with its traceback (exit status 1), so that it is reported, not hidden.

    collect_warnings: print Python warnings as one ``prog: warning: ...`` line each (for the
    short ``analyze``; long runs let warnings appear when they happen).
    """
    with warnings.catch_warnings(record=collect_warnings) as caught:
        if collect_warnings:
            warnings.simplefilter("always")
        try:
            code = func()
        except UserError as exc:      # something the user can fix, named by the raiser
            _report_warnings(prog, caught or [])
            hint = ("; or --too-few warn to report the result flagged"
                    if isinstance(exc, TooFewSamples) and prog.endswith("analyze") else "")
            print(f"{prog}: error: {_one_line(exc)}{hint}", file=sys.stderr)
            return EXIT_USAGE
        except Exception:             # a bug: its traceback follows the warnings that led to it
            _report_warnings(prog, caught or [])
            raise
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
    _report_warnings(prog, caught or [])
    return int(code or 0)


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(command, parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``pyonsager`` console script; returns the exit status."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # argparse would report an unknown option with the top-level usage; name the
        # subcommand's own usage, where the valid options are
        _subparser(parser, args.command).error(
            "unrecognized arguments: " + " ".join(unknown))
    args = parser.parse_args(argv)
    return _guarded(f"pyonsager {args.command}", lambda: args.func(args),
                    collect_warnings=args.command == "analyze")


if __name__ == "__main__":
    sys.exit(main())
