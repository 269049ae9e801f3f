/* ----------------------------------------------------------------------
   fix ONSAGER/STASH (pyonsager plugin): created by compute onsager ... exact, never by users.

   Verlet calls pre_reverse after the short-range and kspace forces of a step and before the
   reverse communication: the force on every ghost copy and every copy's per-atom energy are
   then those of this rank's single evaluation, which is what the exact potential flux needs
   as its undisplaced point. On steps that tally per-atom energy the owning compute copies
   them (O(N), no force evaluation).
------------------------------------------------------------------------- */

#include "fix_onsager_stash.h"

#include "compute_onsager.h"
#include "error.h"
#include "force.h"

using namespace LAMMPS_NS;

FixOnsagerStash::FixOnsagerStash(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), owner(nullptr)
{
  if (narg != 3)
    error->all(FLERR, "Fix {} is internal to compute onsager ... exact and takes no arguments",
               style);
}

int FixOnsagerStash::setmask()
{
  // no MIN_PRE_REVERSE: in a minimization the compute takes its central difference
  return FixConst::PRE_REVERSE;
}

void FixOnsagerStash::setup_pre_reverse(int eflag, int vflag)
{
  pre_reverse(eflag, vflag);
}

void FixOnsagerStash::pre_reverse(int eflag, int)
{
  if (owner && (eflag & ENERGY_ATOM)) owner->take_stash();
}
