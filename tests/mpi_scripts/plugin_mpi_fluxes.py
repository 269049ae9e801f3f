"""Under mpirun: evaluate the fluxes of a stored state; rank 0 writes them as JSON.

usage: plugin_mpi_fluxes.py KIND DATAFILE OUT.json
"""
import json
import sys

import plugin_systems as ps
from mpi4py import MPI

kind, data, out = sys.argv[1:4]
r = ps.evaluate(kind, data, comm=MPI.COMM_WORLD)
if MPI.COMM_WORLD.Get_rank() == 0:
    with open(out, "w") as fh:
        json.dump({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in r.items()}, fh)
