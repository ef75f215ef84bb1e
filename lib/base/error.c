#include "imsec/base.h"

/* One table for names and sentences, indexed by -code. */
static const struct {
  const char *name;
  const char *text;
} err_table[] = {
    {"IMSEC_OK", "success"},
    {"IMSEC_ERR_INVAL", "invalid argument"},
    {"IMSEC_ERR_NOMEM", "out of memory"},
    {"IMSEC_ERR_NOBUF", "output buffer too small"},
    {"IMSEC_ERR_AGAIN", "input incomplete, more is needed"},
    {"IMSEC_ERR_PARSE", "malformed input"},
    {"IMSEC_ERR_LIMIT", "input exceeds a configured limit"},
    {"IMSEC_ERR_CRYPTO", "cryptographic operation failed"},
    {"IMSEC_ERR_MAC", "MAC verification failed"},
    {"IMSEC_ERR_SYNC", "sequence number out of range"},
    {"IMSEC_ERR_NOTFOUND", "not found"},
    {"IMSEC_ERR_EXISTS", "already exists"},
    {"IMSEC_ERR_IO", "input/output error"},
    {"IMSEC_ERR_STATE", "operation not allowed in this state"},
    {"IMSEC_ERR_UNSUPPORTED", "not supported"},
    {"IMSEC_ERR_AUTH", "authentication failed"},
    {"IMSEC_ERR_TRUST", "peer not trusted"},
    {"IMSEC_ERR_TIMEOUT", "timed out"},
    {"IMSEC_ERR_CLOSED", "closed"},
    {"IMSEC_ERR_REPLAY", "replay detected"},
    {"IMSEC_ERR_STALE", "value too old"},
    {"IMSEC_ERR_CONFIG", "invalid configuration"},
    {"IMSEC_ERR_PERM", "not permitted"},
    {"IMSEC_ERR_INTERNAL", "internal error"},
    {"IMSEC_ERR_BUSY", "busy, try again later"},
};

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) ==
                   (size_t)(-IMSEC_ERR_MIN) + 1,
               "every error code needs a table entry");

const char *imsec_strerror(int err) {
  if (err > 0 || err < IMSEC_ERR_MIN)
    return "unknown error";
  return err_table[-err].text;
}

const char *imsec_errname(int err) {
  if (err > 0 || err < IMSEC_ERR_MIN)
    return "IMSEC_ERR_UNKNOWN";
  return err_table[-err].name;
}
