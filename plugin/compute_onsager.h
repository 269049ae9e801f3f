/* compute onsager: energy, mass and charge fluxes for Green-Kubo transport (pyonsager) */

#ifndef ONSAGER_COMPUTE_ONSAGER_H
#define ONSAGER_COMPUTE_ONSAGER_H

#include "compute.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {

class ComputeOnsager : public Compute {
 public:
  struct StyleState;    // energy/virial accumulators, per-atom arrays and ev flags of a style

  ComputeOnsager(class LAMMPS *, int, char **);
  ~ComputeOnsager() override;
  void init() override;
  void compute_vector() override;
  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  double memory_usage() override;

  // read by fix onsager to describe the columns in its file header
  int nspecies() const { return (int) species_names.size(); }
  const std::string &species_name(int s) const { return species_names[s]; }
  int species_of_type(int itype) const { return type2species[itype]; }
  bool has_charge() const { return chargeflag != 0; }
  // 1 if the potential part comes from the exact finite-difference path, 0 from stress-ID
  bool is_exact() const { return exact != 0; }
  // the path as written in the flux file header: centroid, exact, or exact forward (the
  // one-sided difference was requested; samples it cannot serve are taken central)
  const char *virial_path() const
  {
    return !exact ? "centroid" : (central_only ? "exact" : "exact forward");
  }
  // called by fix ONSAGER/STASH at pre_reverse on steps that tally per-atom energy
  void take_stash();

  // per-species sums over the group of pe_i and of the atom count, from the last
  // compute_vector(): reduced with the vector, stored just past its size_vector elements
  // (the global vector itself is unchanged); valid until the next compute_vector()
  const double *species_pe_sums() const { return vector + size_vector; }
  const double *species_counts() const { return vector + size_vector + nspecies(); }

 private:
  std::string id_pe, id_stress;
  Compute *c_pe, *c_stress;
  int centroid;      // 1 if the stress compute gives the 9-component centroid tensor
  int chargeflag;
  std::vector<std::string> species_names;
  std::vector<int> type2species;    // index 1..ntypes, species in order of first appearance
  double *local;                    // this rank's partial sums, reduced into vector
  int nreduce;                      // size_vector + 2 nspecies: vector, pe sums, counts
  bool warned_kspace;

  Compute *lookup(const std::string &, int);
  void check_stress_physics();

  // exact potential flux: finite differences (forward by default, or central) of the
  // short-range per-atom energies and forces along x -> x + e v over every copy (owned +
  // ghost) this rank holds
  int exact;             // 1: `exact` in place of stress-ID
  int use_eam;           // 1: the eam family, through onsager_eam_potential_flux()
  double length_scale;   // the largest displacement is EXACT_FRACTION of this
  int nmax_exact;        // rows allocated in the arrays below
  double **vall;         // current velocities of owned and ghost atoms (own forward comm)
  double **xsave, **fsave, **tsave, **fsum;
  double *dudesum;       // U_a(e) - U_a(0) (forward) or U_a(+) - U_a(-) (central)
  std::vector<StyleState> *styles;
  bool warned_kspace_exact;

  // forward difference against the step's own evaluation (one displaced evaluation):
  // x, short-range per-atom energy and pre-reverse force of every copy at pre_reverse
  int central_only;            // 1: `exact central`, always two displaced evaluations
  std::string id_stash;        // the internal fix ONSAGER/STASH
  class FixOnsagerStash *stash;
  int nmax_stash;
  double **x0, **f0, *u0;
  bigint stash_step;           // step of the stash, -1 if none
  int stash_nall;
  bool stash_usable() const;

  void init_exact();
  void grow_exact();
  void destroy_exact();    // the per-atom arrays of the displaced evaluations
  bool exact_potential_flux(double *jpot, double *check, bool central);
  void evaluate_short_range();
};

}    // namespace LAMMPS_NS

#endif
