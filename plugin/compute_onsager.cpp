/* ----------------------------------------------------------------------
   compute onsager (pyonsager plugin)

   Extensive energy flux J0 = sum_i e_i v_i + sum_i W_i.v_i with e_i = ke_i + pe_i,
   split into its convective and virial parts, plus one mass flux per species and
   optionally the charge flux: the currents a multicomponent Green-Kubo analysis needs.
------------------------------------------------------------------------- */

#include "compute_onsager.h"

#include "angle.h"
#include "atom.h"
#include "comm.h"
#include "dihedral.h"
#include "error.h"
#include "force.h"
#include "group.h"
#include "improper.h"
#include "modify.h"
#include "pair.h"
#include "update.h"

#include <cstring>

using namespace LAMMPS_NS;

// layout of the output vector: three components per block
enum { J0 = 0, CONVECTIVE = 3, VIRIAL = 6, FIRST_SPECIES = 9 };

/* ---------------------------------------------------------------------- */

ComputeOnsager::ComputeOnsager(LAMMPS *lmp, int narg, char **arg) :
    Compute(lmp, narg, arg), c_pe(nullptr), c_stress(nullptr), centroid(0), chargeflag(0),
    local(nullptr), nreduce(0), warned_kspace(false)
{
  if (narg < 5)
    error->all(FLERR,
               "Illegal compute onsager command: expected "
               "'compute ID group onsager pe-ID stress-ID [species n1 n2 ...] [charge yes|no]'");

  id_pe = arg[3];
  id_stress = arg[4];

  // one name per atom type; the default keeps every type its own species

  const int ntypes = atom->ntypes;
  std::vector<std::string> names;
  bool species_given = false;
  int iarg = 5;
  while (iarg < narg) {
    if (strcmp(arg[iarg], "species") == 0) {
      if (species_given) error->all(FLERR, "Compute onsager {}: keyword species given twice", id);
      species_given = true;
      iarg++;
      while (iarg < narg && strcmp(arg[iarg], "charge") != 0) names.emplace_back(arg[iarg++]);
    } else if (strcmp(arg[iarg], "charge") == 0) {
      if (iarg + 1 >= narg)
        error->all(FLERR, "Compute onsager {}: keyword charge needs yes or no", id);
      chargeflag = utils::logical(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
    } else {
      error->all(FLERR, "Compute onsager {}: unknown keyword {} (expected species or charge)", id,
                 arg[iarg]);
    }
  }

  if (!species_given) {
    for (int itype = 1; itype <= ntypes; itype++) names.push_back(std::to_string(itype));
  } else if ((int) names.size() != ntypes) {
    error->all(FLERR,
               "Compute onsager {}: species list has {} names but there are {} atom types; "
               "give exactly one name per atom type (repeat a name to merge types)",
               id, names.size(), ntypes);
  }

  // types sharing a name are one species, numbered by first appearance

  type2species.assign(ntypes + 1, -1);
  for (int itype = 1; itype <= ntypes; itype++) {
    const std::string &name = names[itype - 1];
    int s = 0;
    while (s < (int) species_names.size() && species_names[s] != name) s++;
    if (s == (int) species_names.size()) species_names.push_back(name);
    type2species[itype] = s;
  }

  if (chargeflag && !atom->q_flag)
    error->all(FLERR,
               "Compute onsager {}: charge yes needs per-atom charges, but atom style {} has "
               "none; use an atom style with charges (e.g. charge or full) or charge no",
               id, atom->atom_style);

  // validate now so a mistake fails at the command that made it, not at the next run

  lookup(id_pe, 0);
  lookup(id_stress, 1);
  if (force->pair) check_stress_physics();

  if (igroup != 0 && comm->me == 0)
    error->warning(FLERR,
                   "Compute onsager {}: group {} is not all; the fluxes then leave out atoms "
                   "and do not conserve momentum",
                   id, group->names[igroup]);

  vector_flag = 1;
  size_vector = FIRST_SPECIES + 3 * nspecies() + (chargeflag ? 3 : 0);
  extvector = 1;

  // the buffers hold, past the public vector, the per-species pe sums and atom counts so
  // that one Allreduce per step reduces everything (see species_pe_sums())
  nreduce = size_vector + 2 * nspecies();
  vector = new double[nreduce];
  local = new double[nreduce];
  for (int k = 0; k < nreduce; k++) vector[k] = local[k] = 0.0;
}

/* ---------------------------------------------------------------------- */

ComputeOnsager::~ComputeOnsager()
{
  delete[] vector;
  delete[] local;
}

/* ----------------------------------------------------------------------
   find a dependency and check it provides what the formula needs;
   which = 0: per-atom energy, 1: per-atom stress
------------------------------------------------------------------------- */

Compute *ComputeOnsager::lookup(const std::string &cid, int which)
{
  Compute *c = modify->get_compute_by_id(cid);
  if (which == 0) {
    if (!c)
      error->all(FLERR,
                 "Compute onsager {}: could not find pe-ID compute {}; define it first with "
                 "'compute {} all pe/atom'",
                 id, cid, cid);
    if (!c->peatomflag || !c->peratom_flag || c->size_peratom_cols != 0)
      error->all(FLERR,
                 "Compute onsager {}: compute {} (style {}) does not compute per-atom energy; "
                 "pe-ID must be a compute pe/atom",
                 id, cid, c->style);
    return c;
  }

  if (!c)
    error->all(FLERR,
               "Compute onsager {}: could not find stress-ID compute {}; define it first with "
               "'compute {} all centroid/stress/atom NULL virial'",
               id, cid, cid);
  if (c->pressatomflag == 2 && c->size_peratom_cols == 9) {
    centroid = 1;
  } else if (c->pressatomflag == 1 && c->size_peratom_cols == 6) {
    centroid = 0;
  } else {
    error->all(FLERR,
               "Compute onsager {}: compute {} (style {}) does not compute per-atom stress; "
               "stress-ID must be a compute centroid/stress/atom (or stress/atom) with NULL virial",
               id, cid, c->style);
  }
  return c;
}

/* ----------------------------------------------------------------------
   the symmetric per-atom virial is exact for the heat flux only when every
   interaction's centroid virial equals it; otherwise the flux would be wrong
------------------------------------------------------------------------- */

void ComputeOnsager::check_stress_physics()
{
  if (centroid) return;

  std::string culprit;
  if (force->pair && force->pair->centroidstressflag != CENTROID_SAME)
    culprit = fmt::format("pair style {}", force->pair_style);
  else if (force->angle && force->angle->centroidstressflag != CENTROID_SAME)
    culprit = fmt::format("angle style {}", force->angle_style);
  else if (force->dihedral && force->dihedral->centroidstressflag != CENTROID_SAME)
    culprit = fmt::format("dihedral style {}", force->dihedral_style);
  else if (force->improper && force->improper->centroidstressflag != CENTROID_SAME)
    culprit = fmt::format("improper style {}", force->improper_style);

  if (!culprit.empty())
    error->all(FLERR,
               "Compute onsager {}: stress-ID compute {} is a symmetric stress/atom, but the "
               "{} has a per-atom centroid virial that differs from it, which gives a wrong heat "
               "flux; use 'compute {} all centroid/stress/atom NULL virial' instead",
               id, id_stress, culprit, id_stress);
}

/* ---------------------------------------------------------------------- */

void ComputeOnsager::init()
{
  // users may redefine the dependencies between runs

  c_pe = lookup(id_pe, 0);
  c_stress = lookup(id_stress, 1);
  check_stress_physics();

  if (atom->ntypes + 1 != (int) type2species.size())
    error->all(FLERR, "Compute onsager {}: number of atom types changed since it was defined", id);
  if (chargeflag && !atom->q_flag)
    error->all(FLERR, "Compute onsager {}: charge yes needs per-atom charges", id);

  if (force->kspace && !warned_kspace) {
    warned_kspace = true;
    if (comm->me == 0)
      error->warning(FLERR,
                     "Compute onsager {}: kspace style {} is active; its per-atom virial is a "
                     "symmetric partition, so the long-range part of the heat flux is approximate",
                     id, force->kspace_style);
  }
}

/* ---------------------------------------------------------------------- */

void ComputeOnsager::compute_vector()
{
  invoked_vector = update->ntimestep;

  // a dependency that already ran on this step (for thermo, a dump or another sampler) is
  // current: forces are evaluated once per step and every new run resets invoked_peratom

  const bigint ntimestep = update->ntimestep;
  if (c_pe->invoked_peratom != ntimestep) {
    if (update->eflag_atom != ntimestep)
      error->all(FLERR,
                 "Compute onsager {}: per-atom energy was not tallied on step {}; sample the "
                 "compute with fix onsager (or fix ave/time) so that LAMMPS tallies it",
                 id, ntimestep);
    c_pe->compute_peratom();
  }
  c_pe->invoked_flag |= Compute::INVOKED_PERATOM;
  if (c_stress->invoked_peratom != ntimestep) {
    if (update->vflag_atom != ntimestep)
      error->all(FLERR,
                 "Compute onsager {}: per-atom virial was not tallied on step {}; sample the "
                 "compute with fix onsager (or fix ave/time) so that LAMMPS tallies it",
                 id, ntimestep);
    c_stress->compute_peratom();
  }
  c_stress->invoked_flag |= Compute::INVOKED_PERATOM;

  const double *pe = c_pe->vector_atom;
  double **s = c_stress->array_atom;
  double **v = atom->v;
  const int *type = atom->type;
  const int *mask = atom->mask;
  const double *mass = atom->mass;
  const double *rmass = atom->rmass_flag ? atom->rmass : nullptr;
  const double *q = chargeflag ? atom->q : nullptr;
  const int nlocal = atom->nlocal;
  const double mvv2e = force->mvv2e;
  const int *t2s = type2species.data();

  for (int k = 0; k < nreduce; k++) local[k] = 0.0;
  double *jc = local + CONVECTIVE;
  double *jv = local + VIRIAL;
  double *jm = local + FIRST_SPECIES;
  double *jq = local + FIRST_SPECIES + 3 * nspecies();
  double *pes = local + size_vector;           // per-species sum of pe_i
  double *ns = local + size_vector + nspecies();    // per-species atom count

  for (int i = 0; i < nlocal; i++) {
    if (!(mask[i] & groupbit)) continue;
    const double m = rmass ? rmass[i] : mass[type[i]];
    const double vx = v[i][0], vy = v[i][1], vz = v[i][2];
    const double *si = s[i];

    // e_i = ke_i + pe_i, with ke computed here so no ke/atom compute is needed
    const double e = 0.5 * mvv2e * m * (vx * vx + vy * vy + vz * vz) + pe[i];
    jc[0] += e * vx;
    jc[1] += e * vy;
    jc[2] += e * vz;

    // S^{ab} v^b with a the position index; S = -nktv2p W, the sign and scale fixed below
    // centroid order: xx yy zz xy xz yz yx zx zy; the symmetric tensor has yx=xy, zx=xz, zy=yz
    const double syx = centroid ? si[6] : si[3];
    const double szx = centroid ? si[7] : si[4];
    const double szy = centroid ? si[8] : si[5];
    jv[0] += si[0] * vx + si[3] * vy + si[4] * vz;
    jv[1] += syx * vx + si[1] * vy + si[5] * vz;
    jv[2] += szx * vx + szy * vy + si[2] * vz;

    const int sp = t2s[type[i]];
    pes[sp] += pe[i];
    ns[sp] += 1.0;
    double *jms = jm + 3 * sp;
    jms[0] += m * vx;
    jms[1] += m * vy;
    jms[2] += m * vz;

    if (q) {
      jq[0] += q[i] * vx;
      jq[1] += q[i] * vy;
      jq[2] += q[i] * vz;
    }
  }

  // W.v = -S.v / nktv2p turns stress*volume into energy*velocity
  const double scale = -1.0 / force->nktv2p;
  for (int a = 0; a < 3; a++) {
    jv[a] *= scale;
    local[J0 + a] = jc[a] + jv[a];
  }

  MPI_Allreduce(local, vector, nreduce, MPI_DOUBLE, MPI_SUM, world);
}
