# bench_store: authentication vectors/s and registration saves/s over the
# in-memory stores and SQLite (rollback journal vs WAL, SQN range 1 vs
# 32), all with synchronous commits, side by side in one run.
add_executable(bench_store ${CMAKE_CURRENT_SOURCE_DIR}/store.c)
target_link_libraries(bench_store PRIVATE imsec)
