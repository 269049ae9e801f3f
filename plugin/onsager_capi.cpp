/* C entry points: find a fix onsager by ID in a LAMMPS instance and talk to it. */

#include "onsager_capi.h"

#include "atom.h"
#include "comm.h"
#include "eam_flux.h"
#include "fix_onsager.h"
#include "group.h"
#include "lammps.h"
#include "modify.h"
#include "onsager_styles.h"

#include <cstring>
#include <exception>
#include <string>
#include <vector>

using namespace LAMMPS_NS;

// the style check guards the cast: another plugin could register a class under our name
static FixOnsager *find_fix(void *handle, const char *fix_id)
{
  if (!handle || !fix_id) return nullptr;
  auto lmp = (LAMMPS *) handle;
  if (!lmp->modify) return nullptr;
  Fix *fix = lmp->modify->get_fix_by_id(fix_id);
  if (!fix || strcmp(fix->style, "onsager") != 0) return nullptr;
  return dynamic_cast<FixOnsager *>(fix);
}

extern "C" int onsager_set_callback(void *lmp, const char *fix_id, onsager_callback_t cb,
                                    void *ctx, int nbatch)
{
  FixOnsager *fix = find_fix(lmp, fix_id);
  if (!fix) return -1;
  fix->set_callback(cb, ctx, nbatch);
  return 0;
}

extern "C" int onsager_flush(void *lmp, const char *fix_id)
{
  FixOnsager *fix = find_fix(lmp, fix_id);
  if (!fix) return -1;
  fix->flush();
  return 0;
}

extern "C" int onsager_ncols(void *lmp, const char *fix_id)
{
  FixOnsager *fix = find_fix(lmp, fix_id);
  if (!fix) return -1;
  return fix->ncols();
}

extern "C" int onsager_nspecies(void *lmp, const char *fix_id)
{
  FixOnsager *fix = find_fix(lmp, fix_id);
  if (!fix) return -1;
  return fix->nspecies();
}

extern "C" const char *onsager_metadata(void *lmp, const char *fix_id)
{
  FixOnsager *fix = find_fix(lmp, fix_id);
  if (!fix) return nullptr;
  return fix->metadata_json().c_str();
}

/* test entry point of the exact EAM flux (see onsager_capi.h) */

static std::string eam_last_error;

extern "C" const char *onsager_eam_last_error()
{
  return eam_last_error.c_str();
}

extern "C" int onsager_eam_flux_local(void *handle, const char *group, int ghost_v_from_owner,
                                      double *jpot3)
{
  eam_last_error.clear();
  if (!handle || !group || !jpot3) return -1;
  auto lmp = (LAMMPS *) handle;
  if (!lmp->atom || !lmp->group) return -1;
  const int igroup = lmp->group->find(group);
  if (igroup < 0) {
    eam_last_error = std::string("no group ") + group;
    return -2;
  }
  if (!onsager_is_eam(lmp)) {
    eam_last_error = "pair style is not eam, eam/alloy or eam/fs";
    return -3;
  }
  try {
    Atom *atom = lmp->atom;
    double **vall = atom->v;
    // kept across calls so that repeated sampling does not allocate
    static std::vector<int> owner_of_tag;
    static std::vector<double *> vrows;
    if (ghost_v_from_owner) {
      if (lmp->comm->nprocs != 1) {
        eam_last_error = "ghost_v_from_owner needs a single MPI rank (every owner local)";
        return -4;
      }
      // atomic systems have no atom map by default: a tag -> owned index table instead
      const int nlocal = atom->nlocal;
      const int nall = nlocal + atom->nghost;
      const tagint *tag = atom->tag;
      tagint maxtag = 0;
      for (int k = 0; k < nall; k++) maxtag = tag[k] > maxtag ? tag[k] : maxtag;
      if ((tagint) owner_of_tag.size() <= maxtag) owner_of_tag.resize(maxtag + 1);
      if ((int) vrows.size() < nall) vrows.resize(nall);
      for (int k = 0; k < nlocal; k++) owner_of_tag[tag[k]] = k;
      for (int k = 0; k < nall; k++) vrows[k] = atom->v[k < nlocal ? k : owner_of_tag[tag[k]]];
      vall = vrows.data();
    }
    jpot3[0] = jpot3[1] = jpot3[2] = 0.0;
    onsager_eam_potential_flux(lmp, lmp->group->bitmask[igroup], vall, jpot3);
  } catch (std::exception &e) {
    eam_last_error = e.what();
    return -5;
  }
  return 0;
}

static std::string last_reason;

extern "C" int onsager_centroid_exact(void *handle)
{
  last_reason.clear();
  auto lmp = (LAMMPS *) handle;
  if (!lmp || !lmp->force) {
    last_reason = "no LAMMPS instance";
    return -2;
  }
  return onsager_virial_path(lmp, last_reason);
}

extern "C" const char *onsager_virial_reason(void *)
{
  return last_reason.c_str();
}
