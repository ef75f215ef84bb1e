# Registration benchmark: REGISTER transactions/s of the full IMS AKA
# registration through the real P-CSCF and S-CSCF over loopback TLS/TCP
# (new TLS connections, resumed sessions, re-registration on open ones),
# and complete calls between registered UEs over their open flows beside
# them when the UE has calls (lib/ue/call.c), and SIP Digest registrations
# (MD5, SHA-256; new TLS and open connections) in the same rounds. Needs
# the element headers.
if(EXISTS ${PROJECT_SOURCE_DIR}/include/imsec/ue.h AND
   EXISTS ${PROJECT_SOURCE_DIR}/include/imsec/pcscf.h AND
   EXISTS ${PROJECT_SOURCE_DIR}/include/imsec/scscf.h)
  add_executable(reg_bench ${CMAKE_CURRENT_LIST_DIR}/reg.c)
  target_include_directories(reg_bench PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(reg_bench PRIVATE imsec)
  if(EXISTS ${PROJECT_SOURCE_DIR}/lib/ue/call.c)
    target_compile_definitions(reg_bench PRIVATE REG_BENCH_CALLS=1)
  endif()
endif()
