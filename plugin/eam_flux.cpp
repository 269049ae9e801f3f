/* TEMPORARY stub of the eam-family exact flux: the eam branch replaces this file at merge. */

#include "eam_flux.h"

#include "error.h"
#include "force.h"
#include "lammps.h"

#include <cstring>

namespace LAMMPS_NS {

bool onsager_is_eam(LAMMPS *lmp)
{
  const char *style = lmp->force->pair_style;
  if (!lmp->force->pair || !style) return false;
  return strcmp(style, "eam") == 0 || strcmp(style, "eam/alloy") == 0 ||
      strcmp(style, "eam/fs") == 0;
}

void onsager_eam_potential_flux(LAMMPS *lmp, int, double **, double *)
{
  lmp->error->all(FLERR, "compute onsager exact: the eam-family path is not yet merged");
}

}    // namespace LAMMPS_NS
