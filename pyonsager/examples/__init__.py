"""Example systems shipped with pyonsager (data files, LAMMPS inputs, configs)."""
