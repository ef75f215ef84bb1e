# cmake -DSCDOC=... -DIN=page.1.scd -DOUT=page.1 -P scdoc.cmake
# scdoc reads stdin and writes stdout; a page it rejects fails the build
# (its message names the line) and leaves no half-written page behind.
execute_process(
  COMMAND ${SCDOC}
  INPUT_FILE ${IN}
  OUTPUT_FILE ${OUT}.tmp
  ERROR_VARIABLE err
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "scdoc ${IN}: ${err}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
