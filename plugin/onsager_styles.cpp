/* ----------------------------------------------------------------------
   Safety table of compute onsager (pyonsager plugin)

   The stress-ID path uses LAMMPS' per-atom centroid virial. It is the heat-flux virial
   W_i = sum_j (r_j - r_i) (x) dU_j/dr_i only where a style implements it (CENTROID_AVAIL)
   or where the symmetric pair split is exact, i.e. for two-body terms (CENTROID_SAME and not
   many-body). A many-body style left at CENTROID_SAME (bop, pace, the eam family, ...) silently gets
   the pairwise half-half split, which is not W_i: only `exact` is right there.
------------------------------------------------------------------------- */

#include "onsager_styles.h"

#include "angle.h"
#include "atom.h"
#include "dihedral.h"
#include "eam_flux.h"
#include "force.h"
#include "improper.h"
#include "lammps.h"
#include "pair.h"

#include <algorithm>
#include <cstring>

using namespace LAMMPS_NS;

/* ----------------------------------------------------------------------
   the wheel ships no pair_hybrid.h: find the sub-styles by asking force->pair_match
   for every registered style name (instances numbered 1, 2, ... per name)
------------------------------------------------------------------------- */

std::vector<PairPart> LAMMPS_NS::onsager_pair_parts(LAMMPS *lmp)
{
  std::vector<PairPart> parts;
  Force *force = lmp->force;
  if (!force->pair) return parts;
  if (strncmp(force->pair_style, "hybrid", 6) != 0) {
    parts.push_back({force->pair_style, force->pair});
    return parts;
  }
  for (const auto &entry : *force->pair_map) {
    const std::string &name = entry.first;
    if (name.compare(0, 6, "hybrid") == 0) continue;
    for (int nsub = 1;; nsub++) {
      Pair *p = force->pair_match(name, 1, nsub);
      if (!p) break;
      bool seen = false;
      for (const auto &q : parts) seen = seen || q.pair == p;
      if (seen) break;    // pair_match hands back the only instance for any nsub
      parts.push_back({name, p});
    }
  }
  return parts;
}

/* ---------------------------------------------------------------------- */

std::string LAMMPS_NS::onsager_centroid_refusal(LAMMPS *lmp)
{
  Force *force = lmp->force;
  if (onsager_is_eam(lmp))
    return fmt::format(
        "pair style {} is many-body and LAMMPS gives it the pairwise (CENTROID_SAME) per-atom "
        "virial, which is not the heat-flux virial: measured on liquid AlCu its potential flux "
        "is off by 93% of its largest component and kappa comes out about 14% too high; use "
        "'compute ID group onsager pe-ID exact ...'",
        force->pair_style);
  for (const auto &part : onsager_pair_parts(lmp)) {
    const Pair *p = part.pair;
    if (p->centroidstressflag == CENTROID_NOTAVAIL)
      return fmt::format("pair style {} has no per-atom centroid virial in this LAMMPS; use "
                         "'compute ID group onsager pe-ID exact ...'",
                         part.name);
    if (p->centroidstressflag == CENTROID_SAME && p->manybody_flag)
      return fmt::format(
          "pair style {} is many-body but LAMMPS gives it the pairwise (CENTROID_SAME) "
          "per-atom virial, which is not the heat-flux virial and gives a wrong flux without "
          "a word; use 'compute ID group onsager pe-ID exact ...'",
          part.name);
  }
  if (force->angle && force->angle->centroidstressflag == CENTROID_NOTAVAIL)
    return fmt::format("angle style {} has no per-atom centroid virial; use exact",
                       force->angle_style);
  if (force->dihedral && force->dihedral->centroidstressflag == CENTROID_NOTAVAIL)
    return fmt::format("dihedral style {} has no per-atom centroid virial; use exact",
                       force->dihedral_style);
  if (force->improper && force->improper->centroidstressflag == CENTROID_NOTAVAIL)
    return fmt::format("improper style {} has no per-atom centroid virial; use exact",
                       force->improper_style);
  return "";
}

/* ---------------------------------------------------------------------- */

std::string LAMMPS_NS::onsager_exact_refusal(LAMMPS *lmp)
{
  Force *force = lmp->force;
  if (!force->newton_pair)
    return "exact needs newton_pair on ('newton on'): with it off a rank's ghost forces are "
           "not those of its own per-atom energies";
  if (lmp->atom->molecular != Atom::ATOMIC && !force->newton_bond &&
      (force->bond || force->angle || force->dihedral || force->improper))
    return "exact needs newton_bond on ('newton on'): with it off a rank's ghost forces of "
           "bonded terms are not those of its own per-atom energies";
  if (onsager_is_eam(lmp)) return "";
  for (const auto &part : onsager_pair_parts(lmp)) {
    const Pair *p = part.pair;
    if (p->comm_forward > 0 || p->comm_reverse > 0 || p->comm_reverse_off > 0)
      return fmt::format(
          "pair style {} communicates inside its force computation (comm_forward {}, "
          "comm_reverse {}), so a rank's per-atom energies and ghost forces do not come from "
          "one evaluation over the atoms it holds and the generic exact flux would mix images; "
          "exact supports it only for eam, eam/alloy and eam/fs on their own",
          part.name, p->comm_forward, std::max(p->comm_reverse, p->comm_reverse_off));
  }
  return "";
}

/* ---------------------------------------------------------------------- */

int LAMMPS_NS::onsager_virial_path(LAMMPS *lmp, std::string &why)
{
  why = onsager_centroid_refusal(lmp);
  if (why.empty()) return ONSAGER_CENTROID;
  const std::string no_exact = onsager_exact_refusal(lmp);
  if (no_exact.empty()) return ONSAGER_NEEDS_EXACT;
  why += "; and " + no_exact;
  return ONSAGER_NEITHER;
}
