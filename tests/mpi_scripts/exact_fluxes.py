"""Under mpirun: compute onsager's vector of a stored state, exact and/or stress-ID path;
rank 0 writes {mode: vector} as JSON.

usage: exact_fluxes.py KIND DATAFILE OUT.json MODE [MODE ...] [--ids ID,ID,...]
(MODE: exact, or a stress compute style such as centroid/stress/atom; --ids: the compute's
group, default all)
"""
import json
import sys

import exact_systems as es
from mpi4py import MPI

kind, data, out, *modes = sys.argv[1:]
ids = None
if "--ids" in modes:
    k = modes.index("--ids")
    ids = [int(t) for t in modes[k + 1].split(",")]
    modes = modes[:k] + modes[k + 2:]
res = {m: es.onsager_vector(kind, data, m, comm=MPI.COMM_WORLD, ids=ids).tolist() for m in modes}
res["nprocs"] = MPI.COMM_WORLD.Get_size()
if MPI.COMM_WORLD.Get_rank() == 0:
    with open(out, "w") as fh:
        json.dump(res, fh)
