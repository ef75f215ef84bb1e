# imsec SIP parser beside libosip2 and sofia-sip: same bytes,
# same process, same run. Peers come from the `bench:` group of
# scripts/packages.txt.
pkg_check_modules(OSIP2 IMPORTED_TARGET libosip2)
pkg_check_modules(SOFIA IMPORTED_TARGET sofia-sip-ua)
add_executable(bench_sip_parse ${CMAKE_CURRENT_SOURCE_DIR}/sip_parse.c)
target_link_libraries(bench_sip_parse PRIVATE imsec)
if(OSIP2_FOUND)
  target_compile_definitions(bench_sip_parse PRIVATE HAVE_OSIP2=1)
  target_link_libraries(bench_sip_parse PRIVATE PkgConfig::OSIP2)
endif()
if(SOFIA_FOUND)
  target_compile_definitions(bench_sip_parse PRIVATE HAVE_SOFIA=1)
  target_link_libraries(bench_sip_parse PRIVATE PkgConfig::SOFIA)
endif()
