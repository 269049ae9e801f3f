/* ----------------------------------------------------------------------
   fix onsager (pyonsager plugin)

   Samples compute onsager on every NEVERY-th step at end of step, where the velocities
   belong to the same full step as the per-atom energy and virial; a sampler running at
   post_force would pair half-step velocities with full-step forces.
------------------------------------------------------------------------- */

#include "fix_onsager.h"

#include "atom.h"
#include "comm.h"
#include "compute_onsager.h"
#include "domain.h"
#include "error.h"
#include "group.h"
#include "lammps.h"
#include "modify.h"
#include "update.h"

#include <cctype>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;
using namespace FixConst;

static constexpr int DEFAULT_FLUSH = 1000;

// styles that exchange energy with a bath: Green-Kubo wants NVE dynamics
static const char *const thermostat_prefixes[] = {
    "langevin", "nvt", "npt", "temp/", "gld", "gle", "rigid/nvt", "rigid/npt",
    "nvk", "ffl", "dpd/tstat", "ttm", "tgnvt", "tgnpt"};

/* ----------------------------------------------------------------------
   shortest text that reads back to the same double, in a form YAML 1.1 loaders
   (PyYAML) take for a float: they read "1e-05" as a string, so give it a ".0"
------------------------------------------------------------------------- */

static std::string yaml_float(double x)
{
  std::string text = fmt::format("{}", x);
  const auto e = text.find_first_of("eE");
  if (e != std::string::npos && text.find('.') == std::string::npos) text.insert(e, ".0");
  return text;
}

/* ---------------------------------------------------------------------- */

FixOnsager::FixOnsager(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), c_flux(nullptr), c_temp(nullptr), ncol(0), nsite(0), nflush(DEFAULT_FLUSH),
    fp(nullptr), header_written(false), header_volume(0.0), header_dt(0.0), nfilerows(0),
    ncbrows(0), nbatch(0), callback(nullptr), callback_ctx(nullptr), warned_thermostat(false),
    warned_group(false)
{
  if (narg < 5)
    error->all(FLERR,
               "Illegal fix onsager command: expected "
               "'fix ID group onsager COMPUTE-ID NEVERY [file PATH] [flush NSAMPLES] "
               "[analysis YAML-MAPPING]'");

  id_flux = arg[3];
  nevery = utils::inumeric(FLERR, arg[4], false, lmp);
  if (nevery <= 0) error->all(FLERR, "Fix onsager {}: NEVERY must be > 0, got {}", id, nevery);

  int iarg = 5;
  while (iarg < narg) {
    if (strcmp(arg[iarg], "file") == 0) {
      if (iarg + 1 >= narg) error->all(FLERR, "Fix onsager {}: keyword file needs a path", id);
      filename = arg[iarg + 1];
      iarg += 2;
    } else if (strcmp(arg[iarg], "flush") == 0) {
      if (iarg + 1 >= narg) error->all(FLERR, "Fix onsager {}: keyword flush needs a count", id);
      nflush = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (nflush <= 0) error->all(FLERR, "Fix onsager {}: flush must be > 0, got {}", id, nflush);
      iarg += 2;
    } else if (strcmp(arg[iarg], "analysis") == 0) {
      // one YAML flow mapping, written verbatim as the header line "# analysis: ..." so that
      // pyonsager analyze takes the run's settings as its defaults
      if (iarg + 1 >= narg)
        error->all(FLERR, "Fix onsager {}: keyword analysis needs a quoted YAML mapping", id);
      analysis = utils::trim(arg[iarg + 1]);
      if (analysis.size() < 2 || analysis.front() != '{' || analysis.back() != '}' ||
          analysis.find_first_of("\n\r") != std::string::npos)
        error->all(FLERR,
                   "Fix onsager {}: analysis must be one quoted YAML flow mapping on one line, "
                   "e.g. analysis \"{{max_lag: 2.0, estimator: green-kubo}}\", got {}",
                   id, arg[iarg + 1]);
      iarg += 2;
    } else {
      error->all(FLERR, "Fix onsager {}: unknown keyword {} (expected file, flush or analysis)",
                 id, arg[iarg]);
    }
  }

  // fail at this command, not at the next run, when the compute is wrong
  lookup_computes(false);
  nsite = c_flux->nspecies();
  ncol = 2 + c_flux->size_vector + nsite;

  // our own thermometer on the fix group, so user redefinitions of thermo_temp do not leak in

  id_temp = std::string(id) + "_onsager_temp";
  modify->add_compute(fmt::format("{} {} temp", id_temp, group->names[igroup]));

  if (comm->me == 0 && !filename.empty()) {
    fp = fopen(filename.c_str(), "w");
    if (!fp)
      error->one(FLERR, "Fix onsager {}: cannot open file {}: {}", id, filename,
                 utils::getsyserror());
  }

  time_depend = 1;
}

/* ---------------------------------------------------------------------- */

FixOnsager::~FixOnsager()
{
  if (fp) {
    flush_file();
    fclose(fp);
  }
  if (modify && modify->get_compute_by_id(id_temp)) modify->delete_compute(id_temp);
}

/* ---------------------------------------------------------------------- */

int FixOnsager::setmask()
{
  return END_OF_STEP | POST_RUN;
}

/* ---------------------------------------------------------------------- */

void FixOnsager::lookup_computes(bool with_temp)
{
  Compute *c = modify->get_compute_by_id(id_flux);
  if (!c)
    error->all(FLERR,
               "Fix onsager {}: could not find compute {}; define it first with "
               "'compute {} all onsager pe-ID stress-ID|exact ...'",
               id, id_flux, id_flux);
  // the style check guards the cast: another plugin could register a class under our name
  c_flux = strcmp(c->style, "onsager") == 0 ? dynamic_cast<ComputeOnsager *>(c) : nullptr;
  if (!c_flux)
    error->all(FLERR, "Fix onsager {}: compute {} is style {}, not onsager", id, id_flux,
               c->style);
  if (!with_temp) return;
  c_temp = modify->get_compute_by_id(id_temp);
  if (!c_temp) error->all(FLERR, "Fix onsager {}: internal compute {} was deleted", id, id_temp);
}

/* ---------------------------------------------------------------------- */

double FixOnsager::box_volume() const
{
  return domain->xprd * domain->yprd * (domain->dimension == 3 ? domain->zprd : 1.0);
}

/* ---------------------------------------------------------------------- */

void FixOnsager::init()
{
  lookup_computes(true);

  const int n = 2 + c_flux->size_vector + c_flux->nspecies();
  if (header_written && n != ncol)
    error->all(FLERR,
               "Fix onsager {}: compute {} now has {} values and {} species instead of {} and {}; "
               "define a new fix onsager for the new columns",
               id, id_flux, c_flux->size_vector, c_flux->nspecies(), ncol - 2 - nsite, nsite);
  nsite = c_flux->nspecies();
  ncol = n;

  if (domain->box_change_size) {
    std::string culprits;
    for (const auto &f : modify->get_fix_list())
      if (f->box_change) culprits += fmt::format(" {} ({})", f->id, f->style);
    error->all(FLERR,
               "Fix onsager {}: the box volume may change during the run (fixes:{}); Green-Kubo "
               "sampling needs constant volume: equilibrate with NPT before defining this fix, "
               "then sample with NVE",
               id, culprits);
  }

  if (!warned_thermostat) {
    for (const auto &f : modify->get_fix_list()) {
      for (const char *prefix : thermostat_prefixes) {
        if (strncmp(f->style, prefix, strlen(prefix)) == 0) {
          warned_thermostat = true;
          if (comm->me == 0)
            error->warning(FLERR,
                           "Fix onsager {}: thermostat fix {} (style {}) is active; it perturbs "
                           "the dynamics, Green-Kubo coefficients want NVE sampling",
                           id, f->id, f->style);
          break;
        }
      }
      if (warned_thermostat) break;
    }
  }

  if (!warned_group && igroup != c_flux->igroup) {
    warned_group = true;
    if (comm->me == 0)
      error->warning(FLERR,
                     "Fix onsager {}: group {} differs from group {} of compute {}; the "
                     "temperature column uses the fix group",
                     id, group->names[igroup], group->names[c_flux->igroup], id_flux);
  }

  if (!header_written) {
    header_dt = update->dt;
    header_volume = box_volume();
    count_species();
    build_metadata();
    write_header();
    header_written = true;
  } else {
    if (update->dt != header_dt)
      error->all(FLERR,
                 "Fix onsager {}: timestep changed from {} to {} since sampling began; define a "
                 "new fix onsager (new file) for the new timestep",
                 id, header_dt, update->dt);
    const double vol = box_volume();
    if (fabs(vol - header_volume) > 1e-10 * header_volume)
      error->all(FLERR,
                 "Fix onsager {}: box volume changed from {} to {} since sampling began; "
                 "Green-Kubo sampling needs constant volume",
                 id, header_volume, vol);
  }

  // buffers are sized here so that sampling never allocates

  if (fp) filerows.resize((size_t) nflush * ncol);
  if (callback) cbrows.resize((size_t) (nbatch > 0 ? nbatch : nflush) * ncol);

  // the per-atom energy and virial are tallied only on steps registered in advance

  const bigint next = (update->ntimestep / nevery) * nevery + nevery;
  modify->addstep_compute_all(next);
}

/* ----------------------------------------------------------------------
   atoms per species in the group the fluxes are summed over
------------------------------------------------------------------------- */

void FixOnsager::count_species()
{
  const int ns = c_flux->nspecies();
  std::vector<bigint> mine(ns, 0);
  counts.assign(ns, 0);
  const int cbit = group->bitmask[c_flux->igroup];
  for (int i = 0; i < atom->nlocal; i++)
    if (atom->mask[i] & cbit) mine[c_flux->species_of_type(atom->type[i])]++;
  MPI_Allreduce(mine.data(), counts.data(), ns, MPI_LMP_BIGINT, MPI_SUM, world);

  // an empty species has an identically zero flux and a singular Onsager matrix
  for (int s = 0; s < ns; s++)
    if (counts[s] == 0 && comm->me == 0)
      error->warning(FLERR, "Fix onsager {}: species {} has no atoms in group {}", id,
                     c_flux->species_name(s), group->names[c_flux->igroup]);
}

/* ----------------------------------------------------------------------
   the header's metadata as one JSON object, on every rank, for the C API
   (onsager_metadata): a driver takes it from here rather than reading the file back
------------------------------------------------------------------------- */

static std::string json_string(const std::string &s)
{
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if ((unsigned char) ch < 0x20) {
      out += fmt::format("\\u{:04x}", (int) (unsigned char) ch);
      continue;
    }
    out += ch;
  }
  return out + "\"";
}

// JSON has no inf/nan: null instead (a dt or volume is always finite here)
static std::string json_float(double x)
{
  return std::isfinite(x) ? yaml_float(x) : std::string("null");
}

void FixOnsager::build_metadata()
{
  const int ns = c_flux->nspecies();
  const int ntypes = atom->ntypes;
  std::string species, masses, ncount;
  for (int s = 0; s < ns; s++) {
    const char *sep = s ? ", " : "";
    species += sep + json_string(c_flux->species_name(s));
    ncount += fmt::format("{}{}", sep, counts[s]);
    int first = 1;
    while (first <= ntypes && c_flux->species_of_type(first) != s) first++;
    if (atom->rmass_flag || !atom->mass || first > ntypes)
      masses += fmt::format("{}null", sep);
    else
      masses += sep + json_float(atom->mass[first]);
  }
  metadata = fmt::format(
      "{{\"units\": {}, \"dt\": {}, \"timestep\": {}, \"nevery\": {}, \"volume\": {}, "
      "\"species\": [{}], \"masses\": [{}], \"counts\": [{}], \"charge\": {}, "
      "\"group\": {}, \"virial\": {}, \"lammps_version\": {}}}",
      json_string(update->unit_style), json_float(header_dt * nevery), json_float(header_dt),
      nevery, json_float(header_volume), species, masses, ncount,
      c_flux->has_charge() ? "true" : "false", json_string(group->names[c_flux->igroup]),
      json_string(c_flux->virial_path()), json_string(lmp->version));
}

/* ---------------------------------------------------------------------- */

void FixOnsager::write_header()
{
  if (!fp) return;

  const int ns = c_flux->nspecies();
  const int ntypes = atom->ntypes;

  // species names that YAML would read as numbers or booleans are quoted
  auto yaml_name = [](const std::string &s) {
    bool plain = !s.empty() && (isalpha((unsigned char) s[0]) || s[0] == '_');
    for (char ch : s) plain = plain && (isalnum((unsigned char) ch) || ch == '_' || ch == '-');
    static const char *const reserved[] = {"true", "false", "yes", "no", "on", "off", "null",
                                           "True", "False", "Yes", "No", "On", "Off", "Null",
                                           "TRUE", "FALSE", "YES", "NO", "ON", "OFF", "NULL", "y",
                                           "n", "Y", "N"};
    for (const char *r : reserved) plain = plain && s != r;
    return plain ? s : "'" + s + "'";
  };

  std::string species, masses, ncount;
  for (int s = 0; s < ns; s++) {
    const char *sep = s ? ", " : "";
    species += sep + yaml_name(c_flux->species_name(s));
    ncount += fmt::format("{}{}", sep, counts[s]);
    int first = 1;
    while (first <= ntypes && c_flux->species_of_type(first) != s) first++;
    if (atom->rmass_flag || !atom->mass)
      masses += fmt::format("{}null", sep);
    else
      masses += sep + yaml_float(atom->mass[first]);
  }

  std::string columns = "step temperature";
  for (const char *block : {"energy_flux", "energy_flux_kinetic", "energy_flux_potential"})
    for (int a = 1; a <= 3; a++) columns += fmt::format(" {}[{}]", block, a);
  for (int s = 0; s < ns; s++)
    for (int a = 1; a <= 3; a++)
      columns += fmt::format(" mass_flux_{}[{}]", c_flux->species_name(s), a);
  if (c_flux->has_charge())
    for (int a = 1; a <= 3; a++) columns += fmt::format(" charge_flux[{}]", a);
  for (int s = 0; s < ns; s++) columns += fmt::format(" site_energy_{}", c_flux->species_name(s));

  fmt::print(fp, "# pyonsager flux series 1\n");
  fmt::print(fp, "# units: {}\n", update->unit_style);
  fmt::print(fp, "# dt: {}\n", yaml_float(header_dt * nevery));
  fmt::print(fp, "# timestep: {}\n", yaml_float(header_dt));
  fmt::print(fp, "# nevery: {}\n", nevery);
  fmt::print(fp, "# volume: {}\n", yaml_float(header_volume));
  fmt::print(fp, "# species: [{}]\n", species);
  fmt::print(fp, "# masses: [{}]\n", masses);
  fmt::print(fp, "# counts: [{}]\n", ncount);
  fmt::print(fp, "# charge: {}\n", c_flux->has_charge() ? "true" : "false");
  fmt::print(fp, "# group: {}\n", group->names[c_flux->igroup]);
  fmt::print(fp, "# virial: {}\n", c_flux->virial_path());
  fmt::print(fp, "# lammps_version: {}\n", lmp->version);
  if (!analysis.empty()) fmt::print(fp, "# analysis: {}\n", analysis);
  fmt::print(fp, "# {}\n", columns);
  fflush(fp);
}

/* ---------------------------------------------------------------------- */

void FixOnsager::end_of_step()
{
  const bigint ntimestep = update->ntimestep;

  const double vol = box_volume();
  if (fabs(vol - header_volume) > 1e-10 * header_volume)
    error->all(FLERR,
               "Fix onsager {}: box volume changed from {} to {} on step {}; Green-Kubo "
               "sampling needs constant volume (no fix npt/nph/deform/box/relax while sampling)",
               id, header_volume, vol, ntimestep);

  modify->clearstep_compute();
  c_flux->compute_vector();
  c_flux->invoked_flag |= Compute::INVOKED_VECTOR;
  const double temperature = c_temp->compute_scalar();
  c_temp->invoked_flag |= Compute::INVOKED_SCALAR;
  modify->addstep_compute(ntimestep + nevery);

  if (fp) {
    fill_row(filerows.data() + (size_t) nfilerows * ncol, ntimestep, temperature);
    if (++nfilerows == nflush) flush_file();
  }
  if (callback) {
    fill_row(cbrows.data() + (size_t) ncbrows * ncol, ntimestep, temperature);
    if (++ncbrows == (nbatch > 0 ? nbatch : nflush)) flush_callback();
  }
}

/* ----------------------------------------------------------------------
   one row: step, temperature, the compute's vector, then the mean pe per atom of each
   species in the compute's group (0 for a species with no atoms there, so the row stays finite)
------------------------------------------------------------------------- */

void FixOnsager::fill_row(double *row, bigint ntimestep, double temperature) const
{
  const int nvec = ncol - 2 - nsite;
  const double *flux = c_flux->vector;
  const double *pesum = c_flux->species_pe_sums();
  const double *count = c_flux->species_counts();
  row[0] = (double) ntimestep;
  row[1] = temperature;
  for (int k = 0; k < nvec; k++) row[2 + k] = flux[k];
  double *site = row + 2 + nvec;
  for (int s = 0; s < nsite; s++) site[s] = count[s] > 0.0 ? pesum[s] / count[s] : 0.0;
}

/* ---------------------------------------------------------------------- */

void FixOnsager::post_run()
{
  flush();
}

/* ---------------------------------------------------------------------- */

void FixOnsager::flush()
{
  flush_file();
  flush_callback();
}

/* ---------------------------------------------------------------------- */

void FixOnsager::flush_file()
{
  if (!fp || nfilerows == 0) return;
  for (int r = 0; r < nfilerows; r++) {
    const double *row = filerows.data() + (size_t) r * ncol;
    fprintf(fp, "%.17g", row[0]);
    for (int k = 1; k < ncol; k++) fprintf(fp, " %.17g", row[k]);
    fputc('\n', fp);
  }
  fflush(fp);
  nfilerows = 0;
}

/* ---------------------------------------------------------------------- */

void FixOnsager::flush_callback()
{
  if (!callback || ncbrows == 0) return;
  const int n = ncbrows;
  ncbrows = 0;    // reset first: the callback may call back into LAMMPS
  callback(callback_ctx, n, ncol, cbrows.data());
}

/* ----------------------------------------------------------------------
   register (or with cb = nullptr, remove) the batch consumer; pending rows of
   the previous consumer are handed over first so none are lost or misdelivered
------------------------------------------------------------------------- */

void FixOnsager::set_callback(onsager_callback_t cb, void *ctx, int batch)
{
  flush_callback();
  callback = cb;
  callback_ctx = ctx;
  nbatch = batch > 0 ? batch : 0;
  ncbrows = 0;
  if (callback) cbrows.assign((size_t) (nbatch > 0 ? nbatch : nflush) * ncol, 0.0);
}
