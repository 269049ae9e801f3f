"""Hand-written SI constants for reference values in tests (never the package's own).

Exact SI-2019 values (k_B, e, N_A) and CODATA 2018 amu, typed here so that a wrong constant in
``pyonsager.units`` cannot hide behind a test that reuses it.
"""
K_B = 1.380649e-23          # J/K
E_CHARGE = 1.602176634e-19  # C; 1 eV = 1.602176634e-19 J
N_A = 6.02214076e23         # 1/mol
AMU = 1.66053906660e-27     # kg (CODATA 2018)
G_PER_MOL = 1e-3 / N_A      # kg: LAMMPS metal/real masses are grams/mole (1e-9 from the amu)
KCAL_PER_MOL = 4184.0 / N_A  # J
ANGSTROM = 1e-10            # m
PS = 1e-12                  # s
FS = 1e-15                  # s


def metal_kappa_per_unit_integral(volume_A3: float, temperature_K: float) -> float:
    """W m^-1 K^-1 per unit of integral_0^inf <X0(t) X0(0)> dt in (eV A/ps)^2 ps (metal):
    L = integral / (V k_B T^2) with X0 extensive."""
    flux = E_CHARGE * ANGSTROM / PS                   # one eV A/ps in J m/s
    return flux ** 2 * PS / (volume_A3 * ANGSTROM ** 3 * K_B * temperature_K ** 2)
