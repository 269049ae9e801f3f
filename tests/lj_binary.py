"""A 108-atom binary Lennard-Jones liquid (Ar/Kr-like, metal units), as LAMMPS input lines,
shared by the tests that run LAMMPS in a subprocess to produce real output files."""

LJ_BINARY_SETUP = """\
units metal
atom_style atomic
lattice fcc 5.26
region box block 0 3 0 3 0 3
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.5 12345
mass 1 39.948
mass 2 83.798
pair_style lj/cut 8.0
pair_coeff * * 0.0104 3.40
pair_coeff 2 2 0.0140 3.60
velocity all create 60.0 87287 mom yes
fix nve all nve
"""
