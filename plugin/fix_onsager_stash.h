/* fix ONSAGER/STASH: internal helper of compute onsager ... exact (pyonsager).
   Hands the step's undisplaced short-range per-atom energies and pre-reverse forces of every
   copy (owned + ghost) to its compute, so the exact flux needs one displaced evaluation. */

#ifndef ONSAGER_FIX_ONSAGER_STASH_H
#define ONSAGER_FIX_ONSAGER_STASH_H

#include "fix.h"

namespace LAMMPS_NS {

class FixOnsagerStash : public Fix {
 public:
  FixOnsagerStash(class LAMMPS *, int, char **);
  int setmask() override;
  void setup_pre_reverse(int, int) override;
  void pre_reverse(int, int) override;

  class ComputeOnsager *owner;    // set by the compute that created this fix
};

}    // namespace LAMMPS_NS

#endif
