# bench_cx_mar: IMS AKA vectors/s from the embedded HSS beside Diameter Cx
# MAR/MAA to `imsec hss serve` (set IMSEC to the imsec binary), one run.
add_executable(bench_cx_mar ${CMAKE_CURRENT_SOURCE_DIR}/cx_mar.c)
target_link_libraries(bench_cx_mar PRIVATE imsec)
