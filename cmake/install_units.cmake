# Install-time half of the unit rules in CMakeLists.txt: each
# dist/systemd/*.service.in with @IMSEC_BINDIR@ set to the bin folder of
# the prefix this install uses (cmake --install --prefix), then installed
# like any file (DESTDIR and the install manifest included).
if(IS_ABSOLUTE "${IMSEC_BINDIR_REL}")
  set(bindir "${IMSEC_BINDIR_REL}")
else()
  set(bindir "${CMAKE_INSTALL_PREFIX}/${IMSEC_BINDIR_REL}")
endif()
file(GLOB templates "${IMSEC_UNIT_SRC}/*.service.in")
# One scratch folder per destination: installs to other prefixes running
# at once (the tests) never write each other's units.
string(MD5 dest "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
set(IMSEC_UNIT_TMP "${IMSEC_UNIT_TMP}/${dest}")
file(MAKE_DIRECTORY "${IMSEC_UNIT_TMP}")
set(units)
foreach(t ${templates})
  get_filename_component(name "${t}" NAME)
  string(REGEX REPLACE "\\.in$" "" name "${name}")
  file(READ "${t}" text)
  string(REPLACE "@IMSEC_BINDIR@" "${bindir}" text "${text}")
  file(WRITE "${IMSEC_UNIT_TMP}/${name}" "${text}")
  list(APPEND units "${IMSEC_UNIT_TMP}/${name}")
endforeach()
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/${IMSEC_UNITDIR}"
     TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES ${units})
