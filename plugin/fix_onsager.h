/* fix onsager: samples compute onsager at end of step into a file and a callback (pyonsager) */

#ifndef ONSAGER_FIX_ONSAGER_H
#define ONSAGER_FIX_ONSAGER_H

#include "fix.h"
#include "onsager_capi.h"

#include <cstdio>
#include <string>
#include <vector>

namespace LAMMPS_NS {

class FixOnsager : public Fix {
 public:
  FixOnsager(class LAMMPS *, int, char **);
  ~FixOnsager() override;
  int setmask() override;
  void init() override;
  void end_of_step() override;
  void post_run() override;

  int ncols() const { return ncol; }
  int nspecies() const { return nsite; }
  void set_callback(onsager_callback_t, void *, int);
  void flush();
  // the run metadata of the header as one JSON object (empty before the first run's init)
  const std::string &metadata_json() const { return metadata; }

 private:
  std::string id_flux, id_temp, filename, analysis;
  std::string metadata;            // JSON of the header's metadata, built on every rank
  class ComputeOnsager *c_flux;
  class Compute *c_temp;
  int ncol;         // step, temperature, the compute's vector, then nsite site energies
  int nsite;        // species of the compute: one mean site energy column each
  int nflush;       // rows between file flushes (and callback batches by default)
  FILE *fp;

  bool header_written;
  double header_volume, header_dt;
  std::vector<bigint> counts;      // atoms per species in the compute's group

  std::vector<double> filerows;    // rows not yet written to the file (rank 0 only)
  int nfilerows;
  std::vector<double> cbrows;      // rows not yet handed to the callback
  int ncbrows, nbatch;
  onsager_callback_t callback;
  void *callback_ctx;

  bool warned_thermostat, warned_group;

  void lookup_computes(bool);
  double box_volume() const;
  void count_species();
  void build_metadata();
  void write_header();
  void flush_file();
  void flush_callback();
  void fill_row(double *, bigint, double) const;
};

}    // namespace LAMMPS_NS

#endif
