/* Which potential heat flux is exact for the force styles of a LAMMPS instance (pyonsager).
   Shared by compute onsager (its refusals) and the C API (virial: auto). */

#ifndef ONSAGER_STYLES_H
#define ONSAGER_STYLES_H

#include <string>
#include <vector>

namespace LAMMPS_NS {
class LAMMPS;
class Pair;

struct PairPart {
  std::string name;    // style name as the user wrote it (sub-style keyword inside hybrid)
  Pair *pair;
};

// the pair style itself, or for hybrid/hybrid/overlay/hybrid/scaled each of its sub-styles
std::vector<PairPart> onsager_pair_parts(LAMMPS *lmp);

enum OnsagerVirialPath { ONSAGER_NEITHER = -1, ONSAGER_NEEDS_EXACT = 0, ONSAGER_CENTROID = 1 };

// ONSAGER_CENTROID if the per-atom centroid virial (stress-ID path) is exact for the current
// styles; ONSAGER_NEEDS_EXACT if only the exact keyword is; ONSAGER_NEITHER if no path is.
// why: the reason the centroid path is not exact (empty for ONSAGER_CENTROID), and for
// ONSAGER_NEITHER also why exact cannot be used.
int onsager_virial_path(LAMMPS *lmp, std::string &why);

// empty if `exact` can be used with the current styles, else the reason it cannot
std::string onsager_exact_refusal(LAMMPS *lmp);

// empty if the centroid path is exact for the current styles, else why not (naming exact)
std::string onsager_centroid_refusal(LAMMPS *lmp);
}    // namespace LAMMPS_NS

#endif
