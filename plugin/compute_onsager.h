/* compute onsager: energy, mass and charge fluxes for Green-Kubo transport (pyonsager) */

#ifndef ONSAGER_COMPUTE_ONSAGER_H
#define ONSAGER_COMPUTE_ONSAGER_H

#include "compute.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {

class ComputeOnsager : public Compute {
 public:
  ComputeOnsager(class LAMMPS *, int, char **);
  ~ComputeOnsager() override;
  void init() override;
  void compute_vector() override;

  // read by fix onsager to describe the columns in its file header
  int nspecies() const { return (int) species_names.size(); }
  const std::string &species_name(int s) const { return species_names[s]; }
  int species_of_type(int itype) const { return type2species[itype]; }
  bool has_charge() const { return chargeflag != 0; }

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
};

}    // namespace LAMMPS_NS

#endif
