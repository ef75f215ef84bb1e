# Server CPU per handshake for every deployment mode (M1 full and resumed,
# M2a, M3 configured on TLS 1.3 and 1.2, M3 AKA-derived, DTLS) on the
# host's net port, side by side in one run.
add_executable(bench_modes ${CMAKE_CURRENT_LIST_DIR}/modes.c)
target_include_directories(bench_modes PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_modes PRIVATE imsec)
