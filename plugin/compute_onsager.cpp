/* ----------------------------------------------------------------------
   compute onsager (pyonsager plugin)

   Extensive energy flux J0 = sum_i e_i v_i + sum_i W_i.v_i with e_i = ke_i + pe_i,
   split into its convective and virial parts, plus one mass flux per species and
   optionally the charge flux: the currents a multicomponent Green-Kubo analysis needs.
------------------------------------------------------------------------- */

#include "compute_onsager.h"

#include "angle.h"
#include "atom.h"
#include "bond.h"
#include "comm.h"
#include "dihedral.h"
#include "domain.h"
#include "eam_flux.h"
#include "error.h"
#include "fix_onsager_stash.h"
#include "force.h"
#include "group.h"
#include "improper.h"
#include "memory.h"
#include "modify.h"
#include "neighbor.h"
#include "onsager_styles.h"
#include "pair.h"
#include "update.h"

#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;

// layout of the output vector: three components per block
enum { J0 = 0, CONVECTIVE = 3, VIRIAL = 6, FIRST_SPECIES = 9 };

// exact path: the largest displacement max|e v| is this fraction of the force cutoff
// (central differences: truncation ~ fraction^2, round-off ~ 1e-16/fraction; see docs/exact_flux.md)
#ifndef ONSAGER_EXACT_FRACTION
#define ONSAGER_EXACT_FRACTION 3.0e-6
#endif
static constexpr double EXACT_FRACTION = ONSAGER_EXACT_FRACTION;

// the same for the forward difference against the step's own energies and forces
// (truncation ~ fraction, round-off ~ 1e-16/fraction: near sqrt(eps); see docs/exact_flux.md)
#ifndef ONSAGER_EXACT_FRACTION_FWD
#define ONSAGER_EXACT_FRACTION_FWD 3.0e-7
#endif
static constexpr double EXACT_FRACTION_FWD = ONSAGER_EXACT_FRACTION_FWD;

// relative mismatch of sum_a dU_a/de and -sum_b f_b.v_b above which the per-atom energies
// do not partition the energy the forces derive from (a style without per-atom energy)
static constexpr double EXACT_CONSISTENCY = 1.0e-4;

// the forward difference's own mismatch (measured: <= 2e-9 for smooth styles, 1e-7 for pod,
// uf3 and coul/dsf, 6e-6 for bop's tables) stays below this; above it a site energy jumped
// inside the stencil (coul/dsf's energy is 3e-7 eV off zero at its cutoff, an unshifted
// cutoff, ...), which a one-sided step 1/10 of the central one amplifies 20-fold: the sample
// is then taken again with the central difference, and EXACT_CONSISTENCY applies to that
static constexpr double EXACT_FORWARD_CONSISTENCY = 1.0e-5;

/* ----------------------------------------------------------------------
   the ev flags of the bonded styles (and Pair::vflag_fdotr) are protected; a pointer to
   member formed through a derived class reads them without touching the objects' layout
------------------------------------------------------------------------- */

namespace {
struct PairPeek : Pair {
  static int Pair::*const fdotr;
};
int Pair::*const PairPeek::fdotr = &PairPeek::vflag_fdotr;

struct BondPeek : Bond {
  static int Bond::*const flags[7];
};
int Bond::*const BondPeek::flags[7] = {&BondPeek::evflag,       &BondPeek::eflag_either,
                                       &BondPeek::eflag_global, &BondPeek::eflag_atom,
                                       &BondPeek::vflag_either, &BondPeek::vflag_global,
                                       &BondPeek::vflag_atom};

#define ONSAGER_PEEK8(Style)                                                                     \
  struct Style##Peek : Style {                                                                   \
    static int Style::*const flags[8];                                                           \
  };                                                                                             \
  int Style::*const Style##Peek::flags[8] = {                                                    \
      &Style##Peek::evflag,       &Style##Peek::eflag_either, &Style##Peek::eflag_global,        \
      &Style##Peek::eflag_atom,   &Style##Peek::vflag_either, &Style##Peek::vflag_global,        \
      &Style##Peek::vflag_atom,   &Style##Peek::cvflag_atom};
ONSAGER_PEEK8(Angle)
ONSAGER_PEEK8(Dihedral)
ONSAGER_PEEK8(Improper)
#undef ONSAGER_PEEK8
}    // namespace

/* ----------------------------------------------------------------------
   what a displaced evaluation overwrites in one style, and its saved copy
------------------------------------------------------------------------- */

struct ComputeOnsager::StyleState {
  bool sums_eatom;    // its eatom is part of U_a (not a hybrid sub-style: hybrid sums those)
  double *energy[2];
  int nenergy;
  double *virial;
  double **eatom, ***vatom, ***cvatom;    // addresses of the style's members
  int *eflag_atom, *vflag_atom, *cvflag_atom;
  std::vector<int *> flags;

  double energy_save[2], virial_save[6];
  std::vector<int> flag_save;
  bool has_e, has_v, has_cv;
  std::vector<double> ebuf, vbuf, cvbuf;    // grown only

  void save(int nall)
  {
    for (int k = 0; k < nenergy; k++) energy_save[k] = *energy[k];
    for (int k = 0; k < 6; k++) virial_save[k] = virial[k];
    for (size_t k = 0; k < flags.size(); k++) flag_save[k] = *flags[k];
    has_e = *eflag_atom && *eatom;
    has_v = *vflag_atom && *vatom;
    has_cv = cvflag_atom && *cvflag_atom && cvatom && *cvatom;
    if (has_e) {
      if (ebuf.size() < (size_t) nall) ebuf.resize(nall);
      memcpy(ebuf.data(), *eatom, sizeof(double) * nall);
    }
    if (has_v) {
      if (vbuf.size() < (size_t) 6 * nall) vbuf.resize((size_t) 6 * nall);
      for (int i = 0; i < nall; i++) memcpy(&vbuf[6 * i], (*vatom)[i], 6 * sizeof(double));
    }
    if (has_cv) {
      if (cvbuf.size() < (size_t) 9 * nall) cvbuf.resize((size_t) 9 * nall);
      for (int i = 0; i < nall; i++) memcpy(&cvbuf[9 * i], (*cvatom)[i], 9 * sizeof(double));
    }
  }

  void restore(int nall)
  {
    for (int k = 0; k < nenergy; k++) *energy[k] = energy_save[k];
    for (int k = 0; k < 6; k++) virial[k] = virial_save[k];
    for (size_t k = 0; k < flags.size(); k++) *flags[k] = flag_save[k];
    if (has_e) memcpy(*eatom, ebuf.data(), sizeof(double) * nall);
    if (has_v)
      for (int i = 0; i < nall; i++) memcpy((*vatom)[i], &vbuf[6 * i], 6 * sizeof(double));
    if (has_cv)
      for (int i = 0; i < nall; i++) memcpy((*cvatom)[i], &cvbuf[9 * i], 9 * sizeof(double));
  }
};

template <class S, size_t N>
static ComputeOnsager::StyleState bonded_state(S *style, int S::*const (&flags)[N])
{
  ComputeOnsager::StyleState st{};
  st.sums_eatom = true;
  st.energy[0] = &style->energy;
  st.nenergy = 1;
  st.virial = style->virial;
  st.eatom = &style->eatom;
  st.vatom = &style->vatom;
  for (size_t k = 0; k < N; k++) st.flags.push_back(&(style->*flags[k]));
  st.eflag_atom = st.flags[3];
  st.vflag_atom = st.flags[6];
  st.cvflag_atom = N > 7 ? st.flags[7] : nullptr;
  st.flag_save.resize(N);
  return st;
}

/* ---------------------------------------------------------------------- */

ComputeOnsager::ComputeOnsager(LAMMPS *lmp, int narg, char **arg) :
    Compute(lmp, narg, arg), c_pe(nullptr), c_stress(nullptr), centroid(0), chargeflag(0),
    local(nullptr), nreduce(0), warned_kspace(false), exact(0), use_eam(0), length_scale(1.0),
    nmax_exact(0), vall(nullptr), xsave(nullptr), fsave(nullptr), tsave(nullptr),
    fsum(nullptr), dudesum(nullptr), styles(nullptr), warned_kspace_exact(false),
    central_only(0), stash(nullptr), nmax_stash(0), x0(nullptr), f0(nullptr), u0(nullptr),
    stash_step(-1), stash_nall(-1)
{
  if (narg < 5)
    error->all(FLERR,
               "Illegal compute onsager command: expected "
               "'compute ID group onsager pe-ID stress-ID|exact [central|forward] [species n1 n2 ...] "
               "[charge yes|no]'");

  id_pe = arg[3];
  if (strcmp(arg[4], "exact") == 0)
    exact = 1;
  else
    id_stress = arg[4];
  styles = new std::vector<StyleState>;
  comm_forward = 3;    // ghost velocities for the exact path

  // one name per atom type; the default keeps every type its own species

  const int ntypes = atom->ntypes;
  std::vector<std::string> names;
  bool species_given = false;
  int iarg = 5;
  // central differences by default: the contract of `exact` is 1e-6 of the reference, which a
  // one-sided difference misses by up to 3x (docs/exact_flux.md); `forward` trades that for
  // one displaced evaluation per sample instead of two
  central_only = 1;
  if (exact && iarg < narg && strcmp(arg[iarg], "central") == 0) {
    iarg++;
  } else if (exact && iarg < narg && strcmp(arg[iarg], "forward") == 0) {
    central_only = 0;
    iarg++;
  }
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
  if (!exact) lookup(id_stress, 1);
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
  // two more slots carry the exact path's consistency check in the same reduction
  // (and a third whether some rank took the forward difference)
  vector = new double[nreduce + 3];
  local = new double[nreduce + 3];
  for (int k = 0; k < nreduce + 3; k++) vector[k] = local[k] = 0.0;

  // the helper that keeps the step's undisplaced energies and pre-reverse forces
  if (exact && !central_only) {
    id_stash = std::string(id) + "_ONSAGER_STASH";
    stash = dynamic_cast<FixOnsagerStash *>(modify->add_fix(id_stash + " all ONSAGER/STASH"));
    if (!stash)
      error->all(FLERR, "Compute onsager {}: could not create its internal fix ONSAGER/STASH", id);
    stash->owner = this;
  }
}

/* ---------------------------------------------------------------------- */

ComputeOnsager::~ComputeOnsager()
{
  delete[] vector;
  delete[] local;
  delete styles;
  destroy_exact();
  memory->destroy(x0);
  memory->destroy(f0);
  memory->destroy(u0);
  if (!id_stash.empty() && modify->get_fix_by_id(id_stash)) modify->delete_fix(id_stash);
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
  if (exact) {
    const std::string why = onsager_exact_refusal(lmp);
    if (!why.empty()) error->all(FLERR, "Compute onsager {}: cannot use exact: {}", id, why);
    return;
  }

  // the safety table: a stress-ID gives the heat flux only where the centroid virial is exact
  const std::string why = onsager_centroid_refusal(lmp);
  if (!why.empty())
    error->all(FLERR, "Compute onsager {}: stress-ID compute {} gives a wrong heat flux here: {}",
               id, id_stress, why);
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
  if (!exact) c_stress = lookup(id_stress, 1);
  check_stress_physics();
  if (exact) init_exact();
  if (!id_stash.empty()) {
    stash = dynamic_cast<FixOnsagerStash *>(modify->get_fix_by_id(id_stash));
    if (!stash)
      error->all(FLERR, "Compute onsager {}: its internal fix {} was deleted", id, id_stash);
    stash->owner = this;
  }
  stash_step = -1;

  if (atom->ntypes + 1 != (int) type2species.size())
    error->all(FLERR, "Compute onsager {}: number of atom types changed since it was defined", id);
  if (chargeflag && !atom->q_flag)
    error->all(FLERR, "Compute onsager {}: charge yes needs per-atom charges", id);

  if (force->kspace && !warned_kspace && !exact) {
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
  if (exact) {
    // the displaced evaluations need this step's positions and neighbour lists, which hold
    // from the force evaluation to the end of the step (and until the next run)
  } else if (c_stress->invoked_peratom != ntimestep) {
    if (update->vflag_atom != ntimestep)
      error->all(FLERR,
                 "Compute onsager {}: per-atom virial was not tallied on step {}; sample the "
                 "compute with fix onsager (or fix ave/time) so that LAMMPS tallies it",
                 id, ntimestep);
    c_stress->compute_peratom();
  }
  if (!exact) c_stress->invoked_flag |= Compute::INVOKED_PERATOM;

  const double *pe = c_pe->vector_atom;
  double **s = exact ? nullptr : c_stress->array_atom;
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

  double check[2] = {0.0, 0.0};
  bool forward = false;
  if (exact) forward = exact_potential_flux(jv, check, false);

  for (int i = 0; i < nlocal; i++) {
    if (!(mask[i] & groupbit)) continue;
    const double m = rmass ? rmass[i] : mass[type[i]];
    const double vx = v[i][0], vy = v[i][1], vz = v[i][2];

    // e_i = ke_i + pe_i, with ke computed here so no ke/atom compute is needed
    const double e = 0.5 * mvv2e * m * (vx * vx + vy * vy + vz * vz) + pe[i];
    jc[0] += e * vx;
    jc[1] += e * vy;
    jc[2] += e * vz;

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
    if (exact) continue;
    const double *si = s[i];

    // S^{ab} v^b with a the position index; S = -nktv2p W, the sign and scale fixed below
    // centroid order: xx yy zz xy xz yz yx zx zy; the symmetric tensor has yx=xy, zx=xz, zy=yz
    const double syx = centroid ? si[6] : si[3];
    const double szx = centroid ? si[7] : si[4];
    const double szy = centroid ? si[8] : si[5];
    jv[0] += si[0] * vx + si[3] * vy + si[4] * vz;
    jv[1] += syx * vx + si[1] * vy + si[5] * vz;
    jv[2] += szx * vx + szy * vy + si[2] * vz;
  }

  // W.v = -S.v / nktv2p turns stress*volume into energy*velocity
  const double scale = exact ? 1.0 : -1.0 / force->nktv2p;
  for (int a = 0; a < 3; a++) {
    jv[a] *= scale;
    local[J0 + a] = jc[a] + jv[a];
  }
  local[nreduce] = check[0];
  local[nreduce + 1] = check[1];
  local[nreduce + 2] = forward ? 1.0 : 0.0;

  MPI_Allreduce(local, vector, nreduce + 3, MPI_DOUBLE, MPI_SUM, world);

  // a rare sample where a site energy jumped inside the forward stencil: take it again with
  // the central difference (same decision on every rank: it follows the reduced sums)
  if (exact && !use_eam && vector[nreduce + 2] > 0.0 &&
      fabs(vector[nreduce]) > EXACT_FORWARD_CONSISTENCY * vector[nreduce + 1]) {
    double jcentral[3] = {0.0, 0.0, 0.0};
    check[0] = check[1] = 0.0;
    exact_potential_flux(jcentral, check, true);
    for (int a = 0; a < 3; a++) {
      local[VIRIAL + a] = jcentral[a];
      local[J0 + a] = local[CONVECTIVE + a] + jcentral[a];
    }
    local[nreduce] = check[0];
    local[nreduce + 1] = check[1];
    local[nreduce + 2] = 0.0;
    MPI_Allreduce(local, vector, nreduce + 3, MPI_DOUBLE, MPI_SUM, world);
  }

  // sum_a dU_a/de = -sum_b f_b.v_b on every rank when the per-atom energies partition the
  // energy the forces derive from; a style that does not tally them breaks it (and J_pot)
  if (exact && !use_eam && fabs(vector[nreduce]) > EXACT_CONSISTENCY * vector[nreduce + 1])
    error->all(FLERR,
               "Compute onsager {}: exact: on step {} the per-atom energies do not add up to "
               "the energy the forces derive from (mismatch {:.3g} of {:.3g}): either a site "
               "energy jumps at a cutoff (an unshifted pair cutoff: use 'pair_modify shift yes' "
               "or a smoothly truncated style) or a style does not tally per-atom energy; the "
               "exact flux is not defined then",
               id, update->ntimestep, vector[nreduce], vector[nreduce + 1]);
}

/* ----------------------------------------------------------------------
   exact path: per-run set-up of the styles to evaluate and to leave untouched
------------------------------------------------------------------------- */

void ComputeOnsager::init_exact()
{
  use_eam = onsager_is_eam(lmp) ? 1 : 0;

  if (force->kspace && !warned_kspace_exact) {
    warned_kspace_exact = true;
    if (comm->me == 0)
      error->warning(FLERR,
                     "Compute onsager {}: kspace style {} is active; exact evaluates only the "
                     "short-range styles (pair, bond, angle, dihedral, improper), so the "
                     "long-range part is left out of the potential flux",
                     id, force->kspace_style);
  }

  styles->clear();
  if (use_eam) return;

  if (force->pair) {
    auto add_pair = [&](Pair *p, bool sums) {
      StyleState st{};
      st.sums_eatom = sums;
      st.energy[0] = &p->eng_vdwl;
      st.energy[1] = &p->eng_coul;
      st.nenergy = 2;
      st.virial = p->virial;
      st.eatom = &p->eatom;
      st.vatom = &p->vatom;
      st.cvatom = &p->cvatom;
      st.flags = {&p->evflag,       &p->eflag_either, &p->eflag_global, &p->eflag_atom,
                  &p->vflag_either, &p->vflag_global, &p->vflag_atom,   &p->cvflag_atom,
                  &(p->*PairPeek::fdotr)};
      st.eflag_atom = &p->eflag_atom;
      st.vflag_atom = &p->vflag_atom;
      st.cvflag_atom = &p->cvflag_atom;
      st.flag_save.resize(st.flags.size());
      styles->push_back(st);
    };
    add_pair(force->pair, true);
    if (strncmp(force->pair_style, "hybrid", 6) == 0)
      for (const auto &part : onsager_pair_parts(lmp)) add_pair(part.pair, false);
  }
  if (atom->molecular != Atom::ATOMIC) {
    if (force->bond) styles->push_back(bonded_state(force->bond, BondPeek::flags));
    if (force->angle) styles->push_back(bonded_state(force->angle, AnglePeek::flags));
    if (force->dihedral) styles->push_back(bonded_state(force->dihedral, DihedralPeek::flags));
    if (force->improper) styles->push_back(bonded_state(force->improper, ImproperPeek::flags));
  }
  // wire the centroid arrays of the angle-like styles (Bond has no cvatom)
  {
    size_t k = force->pair ? 1 : 0;
    if (force->pair && strncmp(force->pair_style, "hybrid", 6) == 0)
      k += onsager_pair_parts(lmp).size();
    if (atom->molecular != Atom::ATOMIC) {
      if (force->bond) k++;
      if (force->angle) (*styles)[k++].cvatom = &force->angle->cvatom;
      if (force->dihedral) (*styles)[k++].cvatom = &force->dihedral->cvatom;
      if (force->improper) (*styles)[k++].cvatom = &force->improper->cvatom;
    }
  }

  length_scale = force->pair ? force->pair->cutforce : 0.0;
  if (length_scale <= 0.0) length_scale = neighbor->cutneighmax - neighbor->skin;
  if (length_scale <= 0.0) length_scale = 1.0;
  const double dmax = EXACT_FRACTION * length_scale;
  if (neighbor->skin <= 2.0 * dmax)
    error->all(FLERR,
               "Compute onsager {}: exact displaces atoms by up to {:.3g} but the neighbor skin "
               "is {:.3g}; the neighbour lists would not hold: use a larger skin (neighbor command)",
               id, dmax, neighbor->skin);
}

/* ---------------------------------------------------------------------- */

void ComputeOnsager::destroy_exact()
{
  memory->destroy(vall);
  memory->destroy(xsave);
  memory->destroy(fsave);
  memory->destroy(tsave);
  memory->destroy(fsum);
  memory->destroy(dudesum);
}

void ComputeOnsager::grow_exact()
{
  if (atom->nmax <= nmax_exact) return;
  nmax_exact = atom->nmax;
  destroy_exact();
  memory->create(vall, nmax_exact, 3, "onsager:vall");
  if (!use_eam) {
    memory->create(xsave, nmax_exact, 3, "onsager:xsave");
    memory->create(fsave, nmax_exact, 3, "onsager:fsave");
    if (atom->torque_flag) memory->create(tsave, nmax_exact, 3, "onsager:tsave");
    memory->create(fsum, nmax_exact, 3, "onsager:fsum");
    memory->create(dudesum, nmax_exact, "onsager:dudesum");
  }
}

/* ----------------------------------------------------------------------
   one evaluation of the short-range styles at the current x: per-atom energy only,
   in the order Verlet uses, kspace left out
------------------------------------------------------------------------- */

void ComputeOnsager::evaluate_short_range()
{
  const int eflag = ENERGY_ATOM;
  if (force->pair && force->pair->compute_flag) force->pair->compute(eflag, 0);
  if (atom->molecular != Atom::ATOMIC) {
    if (force->bond) force->bond->compute(eflag, 0);
    if (force->angle) force->angle->compute(eflag, 0);
    if (force->dihedral) force->dihedral->compute(eflag, 0);
    if (force->improper) force->improper->compute(eflag, 0);
  }
}

/* ----------------------------------------------------------------------
   fix ONSAGER/STASH at pre_reverse of a step tallying per-atom energy: keep x, the summed
   short-range per-atom energy and the force of every copy (owned + ghost) before reverse
   communication. Only without kspace: its forces are already in f at pre_reverse and do not
   belong to the short-range energies.
------------------------------------------------------------------------- */

void ComputeOnsager::take_stash()
{
  stash_step = -1;
  if (!exact || central_only || use_eam || force->kspace) return;
  // r-RESPA calls pre_reverse per level, with that level's forces only
  if (!utils::strmatch(update->integrate_style, "^verlet")) return;
  for (const auto &st : *styles)
    if (st.sums_eatom && !(*st.eflag_atom && *st.eatom)) return;

  const int nall = atom->nlocal + atom->nghost;
  if (atom->nmax > nmax_stash) {
    nmax_stash = atom->nmax;
    memory->destroy(x0);
    memory->destroy(f0);
    memory->destroy(u0);
    memory->create(x0, nmax_stash, 3, "onsager:x0");
    memory->create(f0, nmax_stash, 3, "onsager:f0");
    memory->create(u0, nmax_stash, "onsager:u0");
  }
  if (nall > 0) {
    memcpy(&x0[0][0], &atom->x[0][0], 3 * sizeof(double) * nall);
    memcpy(&f0[0][0], &atom->f[0][0], 3 * sizeof(double) * nall);
  }
  for (int i = 0; i < nall; i++) u0[i] = 0.0;
  for (const auto &st : *styles) {
    if (!st.sums_eatom) continue;
    const double *eatom = *st.eatom;
    for (int i = 0; i < nall; i++) u0[i] += eatom[i];
  }
  stash_step = update->ntimestep;
  stash_nall = nall;
}

/* ----------------------------------------------------------------------
   the stash is this configuration's undisplaced point: same step, same copies, same
   positions bit for bit (a minimization, a rerun or a second evaluation would differ)
------------------------------------------------------------------------- */

bool ComputeOnsager::stash_usable() const
{
  if (central_only || use_eam || force->kspace) return false;
  if (stash_step != update->ntimestep || update->whichflag != 1) return false;
  if (!utils::strmatch(update->integrate_style, "^verlet")) return false;
  const int nall = atom->nlocal + atom->nghost;
  if (stash_nall != nall) return false;
  return nall == 0 || memcmp(&x0[0][0], &atom->x[0][0], 3 * sizeof(double) * nall) == 0;
}

/* ----------------------------------------------------------------------
   this rank's J_pot = sum_a (r_a - c) dU_a/de + sum_b (r_b - c) (f_b . v_b) over the copies
   (owned + ghost) it holds, for x -> x + e v with v = 0 outside the group; c = centre of the
   subdomain (the c terms cancel exactly).
   Forward (default, when the step's stash is usable): dU_a/de = (U_a(e) - U_a(0))/e and
   f_b = (f_b(0) + f_b(e))/2, both the values at e/2 to O(e^2), so the c terms still cancel to
   O(e^2); the error left is O(e), translation invariant. Central (`exact central`, kspace,
   no stash): dU_a/de = (U_a(+) - U_a(-))/2e, f_b = (f_b(+) + f_b(-))/2, error O(e^2).
   check[0] += sum dU/de + sum f.v (zero up to O(e^2)), check[1] its scale. Everything the
   evaluations touch is restored bit for bit.
------------------------------------------------------------------------- */

bool ComputeOnsager::exact_potential_flux(double *jpot, double *check, bool central)
{
  grow_exact();
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  double **v = atom->v;
  for (int i = 0; i < nlocal; i++) {
    vall[i][0] = v[i][0];
    vall[i][1] = v[i][1];
    vall[i][2] = v[i][2];
  }
  comm->forward_comm(this);

  if (use_eam) {
    onsager_eam_potential_flux(lmp, groupbit, vall, jpot);
    return false;
  }

  double **x = atom->x;
  double **f = atom->f;
  double **torque = atom->torque_flag ? atom->torque : nullptr;
  const int *mask = atom->mask;
  const bool forward = !central && stash_usable();

  // the step: the fastest copy on this rank moves a fixed fraction of the cutoff (each rank
  // evaluates its own copies independently, so ranks need not agree on e)
  double v2max = 0.0;
  for (int i = 0; i < nall; i++) {
    if (!(mask[i] & groupbit)) continue;
    const double v2 = vall[i][0] * vall[i][0] + vall[i][1] * vall[i][1] + vall[i][2] * vall[i][2];
    if (v2 > v2max) v2max = v2;
  }
  const double fraction = forward ? EXACT_FRACTION_FWD : EXACT_FRACTION;
  const double e = v2max > 0.0 ? fraction * length_scale / sqrt(v2max) : 1.0;

  for (auto &st : *styles) st.save(nall);
  for (int i = 0; i < nall; i++)
    for (int a = 0; a < 3; a++) {
      xsave[i][a] = x[i][a];
      fsave[i][a] = f[i][a];
      fsum[i][a] = forward ? f0[i][a] : 0.0;
    }
  if (torque)
    for (int i = 0; i < nall; i++)
      for (int a = 0; a < 3; a++) tsave[i][a] = torque[i][a];
  for (int i = 0; i < nall; i++) dudesum[i] = forward ? -u0[i] : 0.0;

  const int nevals = forward ? 1 : 2;
  for (int k = 0; k < nevals; k++) {
    const double sign = k == 0 ? 1.0 : -1.0;
    const double h = sign * e;
    for (int i = 0; i < nall; i++) {
      const double s = (mask[i] & groupbit) ? h : 0.0;
      for (int a = 0; a < 3; a++) {
        x[i][a] = xsave[i][a] + s * vall[i][a];
        f[i][a] = 0.0;
      }
    }
    if (torque)
      for (int i = 0; i < nall; i++) torque[i][0] = torque[i][1] = torque[i][2] = 0.0;

    evaluate_short_range();

    for (const auto &st : *styles) {
      if (!st.sums_eatom) continue;
      const double *eatom = *st.eatom;
      for (int i = 0; i < nall; i++) dudesum[i] += sign * eatom[i];
    }
    for (int i = 0; i < nall; i++)
      for (int a = 0; a < 3; a++) fsum[i][a] += f[i][a];
  }

  // restore the saved copies (never x - e v: that would not round-trip)
  for (int i = 0; i < nall; i++)
    for (int a = 0; a < 3; a++) {
      x[i][a] = xsave[i][a];
      f[i][a] = fsave[i][a];
    }
  if (torque)
    for (int i = 0; i < nall; i++)
      for (int a = 0; a < 3; a++) torque[i][a] = tsave[i][a];
  for (auto &st : *styles) st.restore(nall);

  double c[3];
  if (domain->triclinic) {
    double lamda[3];
    for (int a = 0; a < 3; a++) lamda[a] = 0.5 * (domain->sublo_lamda[a] + domain->subhi_lamda[a]);
    domain->lamda2x(lamda, c);
  } else {
    for (int a = 0; a < 3; a++) c[a] = 0.5 * (domain->sublo[a] + domain->subhi[a]);
  }

  // dU/de = dudesum / (nevals e); f = fsum / 2 in both schemes
  const double inve = 1.0 / (nevals * e);
  double j[3] = {0.0, 0.0, 0.0};
  double sum = 0.0, scale = 0.0;
  for (int i = 0; i < nall; i++) {
    const double dude = dudesum[i] * inve;
    double fv = 0.0;
    if (mask[i] & groupbit)
      fv = 0.5 * (fsum[i][0] * vall[i][0] + fsum[i][1] * vall[i][1] + fsum[i][2] * vall[i][2]);
    const double w = dude + fv;
    if (w != 0.0)
      for (int a = 0; a < 3; a++) j[a] += (xsave[i][a] - c[a]) * w;
    sum += w;
    scale += fabs(dude) + fabs(fv);
  }
  for (int a = 0; a < 3; a++) jpot[a] += j[a];
  check[0] += sum;
  check[1] += scale;
  return forward;
}

/* ---------------------------------------------------------------------- */

int ComputeOnsager::pack_forward_comm(int n, int *list, double *buf, int, int *)
{
  int m = 0;
  for (int k = 0; k < n; k++) {
    const double *vj = vall[list[k]];
    buf[m++] = vj[0];
    buf[m++] = vj[1];
    buf[m++] = vj[2];
  }
  return m;
}

/* ---------------------------------------------------------------------- */

void ComputeOnsager::unpack_forward_comm(int n, int first, double *buf)
{
  int m = 0;
  for (int i = first; i < first + n; i++) {
    vall[i][0] = buf[m++];
    vall[i][1] = buf[m++];
    vall[i][2] = buf[m++];
  }
}

/* ---------------------------------------------------------------------- */

double ComputeOnsager::memory_usage()
{
  if (!exact) return 0.0;
  const double rows = use_eam ? 3.0 : (atom->torque_flag ? 16.0 : 13.0);
  return rows * sizeof(double) * nmax_exact + 7.0 * sizeof(double) * nmax_stash;
}
