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
# scdoc turns hyphenation off (.nh) before .TH, and the man macros' .TH
# turns it on again: options such as --insecure-core would then be split
# across lines, where a reader searching the page would not find them.
# Off again after .TH, and no line break after a '-' either.
file(READ ${OUT}.tmp roff)
string(REGEX REPLACE "(\n\\.TH [^\n]*\n)" "\\1.nh\n.cflags 0 -\n" roff
       "${roff}")
file(WRITE ${OUT}.tmp "${roff}")
file(RENAME ${OUT}.tmp ${OUT})
