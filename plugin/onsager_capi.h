/* C entry points of the onsager plugin, for callers such as Python ctypes that hold a
   LAMMPS handle (the `lmp` pointer of the library interface) but cannot see C++ classes. */

#ifndef ONSAGER_CAPI_H
#define ONSAGER_CAPI_H

#ifdef __cplusplus
extern "C" {
#endif

/* rows: nrows x ncols doubles, row-major, valid only during the call */
typedef void (*onsager_callback_t)(void *ctx, int nrows, int ncols, const double *rows);

/* each returns -1 if there is no fix onsager with that ID */
int onsager_set_callback(void *lmp, const char *fix_id, onsager_callback_t cb, void *ctx,
                         int nbatch);
int onsager_flush(void *lmp, const char *fix_id);
int onsager_ncols(void *lmp, const char *fix_id);      /* 2 + compute vector + nspecies */
int onsager_nspecies(void *lmp, const char *fix_id);   /* trailing site_energy columns */

#ifdef __cplusplus
}
#endif

#endif
