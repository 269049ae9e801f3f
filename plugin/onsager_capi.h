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
/* the run metadata the fix writes into its file header, as one JSON object: units, dt (time
   between samples), timestep, nevery, volume, species, masses (null with per-atom masses),
   counts, charge, group, virial ("centroid"|"exact"), lammps_version. "" before the first
   run's init (when it is measured), NULL if there is no fix onsager with that ID. The text
   belongs to the fix: valid until the fix is deleted. */
const char *onsager_metadata(void *lmp, const char *fix_id);

/* Test entry point of the exact EAM potential flux: writes this rank's share of
   J_pot = sum_{i in group} W_i . v_i (energy*velocity) to jpot3, for the forces of the last
   evaluation. Ghost velocities: ghost_v_from_owner = 0 reads atom->v (current right after
   `run 0` with `comm_modify vel yes`); 1 copies each ghost's velocity from its owned atom
   (one rank only; valid at any point of a run). Returns 0, or < 0 with a message in
   onsager_eam_last_error(): -1 bad handle, -2 no such group, -3 not an EAM pair style,
   -4 ghost_v_from_owner with several ranks, -5 a LAMMPS error. */
int onsager_eam_flux_local(void *lmp, const char *group, int ghost_v_from_owner, double *jpot3);
const char *onsager_eam_last_error(void);
/* which potential heat flux is exact for the force styles now defined in lmp:
   1: the stress-ID path (compute centroid/stress/atom) is exact;
   0: only `compute ... onsager pe-ID exact` is (many-body styles without a usable centroid
      virial: snap, mliap, pod, tersoff, sw, bop, the eam family, ...);
  -1: neither (e.g. a many-body style that communicates inside its force call, newton off);
  -2: no LAMMPS handle. onsager_virial_reason() then says why (empty string for 1). */
int onsager_centroid_exact(void *lmp);
/* reason of the last onsager_centroid_exact() call; valid until the next call */
const char *onsager_virial_reason(void *lmp);

#ifdef __cplusplus
}
#endif

#endif
