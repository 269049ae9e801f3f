/* C entry points: find a fix onsager by ID in a LAMMPS instance and talk to it. */

#include "onsager_capi.h"

#include "fix_onsager.h"
#include "lammps.h"
#include "modify.h"
#include "onsager_styles.h"

#include <cstring>
#include <string>

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
