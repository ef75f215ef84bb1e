# net/ benchmark: TLS handshakes/s against a minimal OpenSSL epoll server
# (written in the same file), RSS per idle TLS flow, most flows held.
add_executable(net_tls_bench ${CMAKE_CURRENT_LIST_DIR}/net_tls.c)
target_link_libraries(net_tls_bench PRIVATE imsec)
