/* Interface of the dedicated exact potential heat flux for the eam family (pyonsager plugin).
   compute onsager ... exact calls it when force->pair is eam, eam/alloy or eam/fs. */

#ifndef ONSAGER_EAM_FLUX_H
#define ONSAGER_EAM_FLUX_H

namespace LAMMPS_NS {
class LAMMPS;
// true if force->pair is eam, eam/alloy or eam/fs (also the /omp-free base styles only)
bool onsager_is_eam(LAMMPS *lmp);
// Adds this rank's share of J_pot = sum_{i in group, owned or ghost copy handled once} W_i . v_i
// (energy*velocity, extensive, same sign/units as the virial part of compute onsager) to jpot[3];
// W_i the site-energy-consistent EAM virial; vall: velocities of owned AND ghost atoms, current.
void onsager_eam_potential_flux(LAMMPS *lmp, int groupbit, double **vall, double *jpot);
}    // namespace LAMMPS_NS

#endif
