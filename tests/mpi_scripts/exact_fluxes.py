"""Under mpirun: compute onsager's vector of a stored state, exact and/or stress-ID path;
rank 0 writes {mode: vector} as JSON.

usage: exact_fluxes.py KIND DATAFILE OUT.json MODE [MODE ...]
(MODE: exact, or a stress compute style such as centroid/stress/atom)
"""
import json
import sys

import exact_systems as es
from mpi4py import MPI

kind, data, out, *modes = sys.argv[1:]
res = {m: es.onsager_vector(kind, data, m, comm=MPI.COMM_WORLD).tolist() for m in modes}
res["nprocs"] = MPI.COMM_WORLD.Get_size()
if MPI.COMM_WORLD.Get_rank() == 0:
    with open(out, "w") as fh:
        json.dump(res, fh)
