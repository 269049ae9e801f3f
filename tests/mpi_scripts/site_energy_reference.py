"""In a fresh process, one rank: the brute-force potential flux (tests/bruteforce_flux.py) of a
stored state; writes {"j_pot": [3 numbers]} as JSON. For pair styles whose energies depend on
what earlier LAMMPS instances left in the process's memory (pair bop: tests/test_plugin_exact.py).

usage: site_energy_reference.py KIND DATAFILE OUT.json IDS   (IDS: ID,ID,... or all)
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bruteforce_flux as bf  # noqa: E402
import plugin_systems as ps  # noqa: E402
import exact_systems  # noqa: E402,F401  (registers the many-body systems)

kind, data, out, ids = sys.argv[1:]
lmp = ps.new_lammps(comm=ps.mpi4py.MPI.COMM_SELF)
try:
    ps.load_state(lmp, kind, data)
    if ids == "all":
        jpot = bf.potential_flux_reference(lmp)[1]
    else:
        jpot = bf.subset_potential_flux_reference(lmp, [int(t) for t in ids.split(",")])
finally:
    lmp.close()
with open(out, "w") as fh:
    json.dump({"j_pot": [float(c) for c in jpot]}, fh)
