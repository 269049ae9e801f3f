/* Registers compute onsager and fix onsager with LAMMPS at `plugin load`. */

#include "lammpsplugin.h"

#include "compute_onsager.h"
#include "fix_onsager.h"
#include "fix_onsager_stash.h"
#include "lammps.h"

#include <string>

using namespace LAMMPS_NS;

static Compute *onsager_compute_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new ComputeOnsager(lmp, argc, argv);
}

static Fix *onsager_fix_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new FixOnsager(lmp, argc, argv);
}

static Fix *onsager_stash_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new FixOnsagerStash(lmp, argc, argv);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  // the host keeps our record by pointer after this call, and the wheel has no
  // version.h, so keep a private copy of the running version for its compatibility check
  static std::string version;
  version = ((LAMMPS *) lmp)->version;

  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  lammpsplugin_t plugin;

  plugin.version = version.c_str();
  plugin.style = "compute";
  plugin.name = "onsager";
  plugin.info = "energy, mass and charge fluxes for Green-Kubo Onsager coefficients";
  plugin.author = "pyonsager developers";
  plugin.creator.v2 = (onsager_plugin_factory2 *) &onsager_compute_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);

  plugin.style = "fix";
  plugin.name = "onsager";
  plugin.info = "samples compute onsager at end of step into a flux file and a callback";
  plugin.creator.v2 = (onsager_plugin_factory2 *) &onsager_fix_creator;
  (*register_plugin)(&plugin, lmp);

  // internal: compute onsager ... exact creates it to keep the step's undisplaced energies
  plugin.name = "ONSAGER/STASH";
  plugin.info = "internal helper of compute onsager exact (pre-reverse energies and forces)";
  plugin.creator.v2 = (onsager_plugin_factory2 *) &onsager_stash_creator;
  (*register_plugin)(&plugin, lmp);
}
