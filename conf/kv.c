/* A YAML file of plain key: value settings (include/imsec/conf_kv.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "conf_int.h"
#include "imsec/conf_kv.h"

#define MAX_FILE (64 * 1024)
#define MAX_VALUE 4096

__attribute__((format(printf, 5, 6))) static int
kv_fail(char *err, size_t errcap, const char *name, size_t line,
        const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rv = conf_vfail(err, errcap, name, line, IMSEC_ERR_PARSE, fmt, ap);
  va_end(ap);
  return rv;
}

static int is_path_key(const char *const *keys, const char *k) {
  for (; keys && *keys; keys++)
    if (strcmp(*keys, k) == 0) /* no secret: a key name */
      return 1;
  return 0;
}

static int walk(const char *path, const char *dir, yaml_document_t *doc,
                const char *const *path_keys, imsec_conf_kv_fn fn, void *arg,
                char *err, size_t errcap) {
  yaml_node_t *root = yaml_document_get_root_node(doc);
  if (!root)
    return 0; /* an empty file: nothing set */
  if (root->type != YAML_MAPPING_NODE)
    return kv_fail(err, errcap, path, root->start_mark.line + 1,
                   "expected a map of settings");
  for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
       pr < root->data.mapping.pairs.top; pr++) {
    yaml_node_t *kn = yaml_document_get_node(doc, pr->key);
    yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
    if (!kn || !vn)
      return kv_fail(err, errcap, path, root->start_mark.line + 1,
                     "broken map");
    size_t line = kn->start_mark.line + 1;
    if (kn->type != YAML_SCALAR_NODE)
      return kv_fail(err, errcap, path, line, "a key must be a plain name");
    const char *key = (const char *)kn->data.scalar.value;
    for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < pr; q++) {
      yaml_node_t *k2 = yaml_document_get_node(doc, q->key);
      if (k2 && k2->type == YAML_SCALAR_NODE &&
          strcmp((const char *)k2->data.scalar.value, key) == 0) /* no secret */
        return kv_fail(err, errcap, path, line, "key '%.64s': given twice",
                       key);
    }
    if (vn->type != YAML_SCALAR_NODE)
      return kv_fail(err, errcap, path, line,
                     "key '%.64s': expected a plain value", key);
    const char *v = (const char *)vn->data.scalar.value;
    size_t vl = vn->data.scalar.length;
    if (vl > MAX_VALUE || memchr(v, 0, vl))
      return kv_fail(err, errcap, path, line, "key '%.64s': invalid value",
                     key);
    char *full = NULL;
    if (is_path_key(path_keys, key) && vl && v[0] != '/' && dir[0] &&
        !strstr(v, "://")) {
      size_t dl = strlen(dir);
      full = malloc(dl + vl + 1);
      if (!full)
        return IMSEC_ERR_NOMEM;
      memcpy(full, dir, dl);
      memcpy(full + dl, v, vl + 1);
      v = full;
    }
    char why[512] = "";
    int rv = fn(arg, key, v, why, sizeof why);
    free(full);
    if (rv == 0)
      return kv_fail(err, errcap, path, line, "key '%.64s': unknown key", key);
    if (rv < 0) {
      kv_fail(err, errcap, path, line, "%s", why[0] ? why : imsec_strerror(rv));
      return rv;
    }
  }
  return 0;
}

int imsec_conf_kv_load(const char *path, const char *const *path_keys,
                       imsec_conf_kv_fn fn, void *arg, char *err,
                       size_t errcap) {
  if (err && errcap)
    err[0] = 0;
  if (!path || !fn)
    return IMSEC_ERR_INVAL;
  char *buf;
  size_t n;
  const char *why;
  int rc = conf_read_file(path, MAX_FILE, &buf, &n, &why);
  if (rc < 0) {
    if (errcap)
      snprintf(err, errcap, "%s: %s", path, why);
    return rc;
  }
  char *dir = conf_dir_of(path);
  if (!dir) {
    free(buf);
    return IMSEC_ERR_NOMEM;
  }
  int rv;
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    rv = IMSEC_ERR_NOMEM;
    goto done;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)buf, n);
  yaml_document_t doc;
  if (!yaml_parser_load(&parser, &doc)) {
    rv = kv_fail(err, errcap, path, parser.problem_mark.line + 1, "YAML: %s",
                 parser.problem ? parser.problem : "syntax error");
    yaml_parser_delete(&parser);
    goto done;
  }
  rv = walk(path, dir, &doc, path_keys, fn, arg, err, errcap);
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
done:
  free(dir);
  free(buf);
  return rv;
}
