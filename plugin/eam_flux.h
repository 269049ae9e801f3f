/* Site-energy-consistent potential part of the energy flux for the EAM family
   (pair_style eam, eam/alloy, eam/fs), used by compute onsager ... exact.

   With the site energies LAMMPS reports for EAM,
     U_i = F_i(rho_i) + 1/2 sum_j phi_ij(r_ij),   rho_i = sum_j f_{j->i}(r_ij),
   the potential part of the energy flux is J_pot = sum_i W_i . v_i with
     W_i = sum_j (r_j - r_i) (x) dU_j/dr_i
         = -sum_j ( F'_j f'_{i->j}(r_ij) + phi'_ij / 2 ) d_ij (x) d_ij / r_ij,   d_ij = r_j - r_i.
   LAMMPS' per-atom (and centroid) virial instead gives each atom of a pair half of the pair
   term, -(F'_i f'_{j->i} + F'_j f'_{i->j} + phi'_ij)/2 d(x)d/r, which has the same sum over
   atoms (the pressure) but a different flux. See docs/eam_exact.md. */

#ifndef ONSAGER_EAM_FLUX_H
#define ONSAGER_EAM_FLUX_H

namespace LAMMPS_NS {
class LAMMPS;

// true if force->pair is eam, eam/alloy or eam/fs (also their /opt and /omp variants,
// which share PairEAM's data and single())
bool onsager_is_eam(LAMMPS *lmp);

// Adds this rank's share of J_pot = sum_{i in group} W_i . v_i (energy*velocity, extensive,
// same sign/units as the virial part of compute onsager, elements 7-9) to jpot[3];
// vall: velocities of owned AND ghost atoms, current; each pair counted once over the ranks.
// Needs newton_pair on and the EAM embedding derivatives of the current step (the pair's
// last compute()); leaves every LAMMPS array as it found it. No MPI communication.
void onsager_eam_potential_flux(LAMMPS *lmp, int groupbit, double **vall, double *jpot);
}    // namespace LAMMPS_NS

#endif
