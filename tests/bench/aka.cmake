# bench_aka: Milenage vectors/s and Digest-AKA responses/s beside
# libosmocore's osmo_auth_gen_vec (Debian libosmocore-dev, `bench:` group of
# scripts/packages.txt).
add_executable(bench_aka ${CMAKE_CURRENT_SOURCE_DIR}/aka.c)
target_link_libraries(bench_aka PRIVATE imsec)
# osmo_auth_gen_vec lives in libosmogsm.
pkg_check_modules(OSMOCORE IMPORTED_TARGET libosmogsm libosmocore)
if(OSMOCORE_FOUND)
  target_link_libraries(bench_aka PRIVATE PkgConfig::OSMOCORE)
  target_compile_definitions(bench_aka PRIVATE HAVE_OSMOCORE=1)
else()
  message(WARNING "libosmocore not found: bench_aka runs without its peer")
endif()
