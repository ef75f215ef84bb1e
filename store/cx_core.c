/* freeDiameter's process core for Cx (store/cx_core.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

#include "store/cx_core.h"

#include "imsec/obs.h"

/* Where Debian's freediameter-extensions puts the dictionaries. */
#define CX_EXT_DIR "/usr/lib/freeDiameter"

typedef enum core_state {
  CORE_NEW,     /* never started in this process */
  CORE_RUNNING, /* started */
  CORE_DONE,    /* stopped, or a start that failed after fd_core_initialize:
                   libfdcore cannot be initialized twice */
} core_state;

/* libfdcore is process-global; so is what describes it here. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static core_state g_state = CORE_NEW;
static imsec_cx_role g_role;
static int g_tls; /* the listener or the HSS peer is "tls:" */
static char g_identity[256];
static char g_realm[256];
static char g_peer_id[256];
static char g_peer_realm[256];
static volatile int g_log_level; /* 0 errors, 1 notices, 2 debug */
static volatile int g_peer_was_open;
static volatile int g_refuse_new; /* server draining: no new peer */
/* Where the lines go instead of stderr (imsec_cx_log_sink). */
static imsec_cx_log_fn volatile g_sink;
static void *volatile g_sink_arg;
static struct fd_hook_hdl *g_hook;
/* The client's first connection attempt has ended (open or failed). */
static pthread_mutex_t g_first_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_first_cv = PTHREAD_COND_INITIALIZER;
static int g_first_done;
/* How long the client's start waits for that first attempt: freeDiameter
 * starts a new peer after a random delay of up to 2 s. */
#define FIRST_ATTEMPT_MS 4000

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t cap, const char *fmt, ...) {
  if (!err || !cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

void imsec_cx_core_log_level(int level) {
  g_log_level = level;
}

void imsec_cx_log_sink(imsec_cx_log_fn fn, void *arg) {
  g_sink_arg = arg;
  g_sink = fn;
}

/* ---------------------------------------------------------------- logging */

static int level_shown(int fd_level) {
  if (fd_level >= FD_LOG_ERROR)
    return 1;
  if (fd_level >= FD_LOG_NOTICE)
    return g_log_level >= 1;
  return g_log_level >= 2;
}

/* freeDiameter's log lines, one write each so that threads do not
 * interleave. */
__attribute__((format(printf, 2, 0))) static void
fd_logger(int level, const char *fmt, va_list ap) {
  if (!level_shown(level))
    return;
  imsec_cx_log_fn sink = g_sink;
  if (sink) {
    char text[1024];
    if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
      return;
    imsec_log_level lv = level >= FD_LOG_ERROR    ? IMSEC_LOG_ERROR
                         : level >= FD_LOG_NOTICE ? IMSEC_LOG_INFO
                                                  : IMSEC_LOG_DEBUG;
    sink(g_sink_arg, lv, text);
    return;
  }
  char line[1024];
  int n = snprintf(line, sizeof(line), "diameter: ");
  int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
  if (m < 0)
    return;
  size_t len = (size_t)n + (size_t)m;
  if (len > sizeof(line) - 2)
    len = sizeof(line) - 2;
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}

static void core_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void core_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fd_logger(level, fmt, ap);
  va_end(ap);
}

static const char *peer_name(struct peer_hdr *peer) {
  return peer && peer->info.pi_diamid ? peer->info.pi_diamid : "(unknown)";
}

/* Takes the place of freeDiameter's default hook actions, which dump
 * whole messages (a discarded MAA carries CK and IK, TS 29.229 §6.3.14)
 * and serialise every message behind one lock: a line naming the command
 * and the reason, never an AVP value. */
static void fd_hook(enum fd_hook_type type, struct msg *msg,
                    struct peer_hdr *peer, void *other,
                    struct fd_hook_permsgdata *pmd, void *regdata) {
  (void)pmd, (void)regdata;
  struct msg_hdr *hdr = NULL;
  unsigned code = 0;
  const char *kind = "";
  if (msg && fd_msg_hdr(msg, &hdr) == 0 && hdr) {
    code = hdr->msg_code;
    kind = (hdr->msg_flags & CMD_FLAG_REQUEST) ? " request" : " answer";
  }
  switch (type) {
  case HOOK_MESSAGE_PARSING_ERROR:
    core_log(FD_LOG_ERROR, "unparsable message%s %u from %s: %s", kind, code,
             peer_name(peer), msg && other ? (const char *)other : "framing");
    break;
  case HOOK_MESSAGE_ROUTING_ERROR:
    core_log(FD_LOG_NOTICE, "cannot route%s %u: %s", kind, code,
             other ? (const char *)other : "");
    break;
  case HOOK_MESSAGE_DROPPED:
    core_log(FD_LOG_NOTICE, "discarded%s %u: %s", kind, code,
             other ? (const char *)other : "");
    break;
  case HOOK_PEER_CONNECT_FAILED:
    /* The client's HSS going away is worth an error once; the retries
     * every TcTimer while it is away are notices. */
    if (g_role == IMSEC_CX_ROLE_CLIENT && g_peer_was_open) {
      g_peer_was_open = 0;
      core_log(FD_LOG_ERROR, "peer %s lost: %s", peer_name(peer),
               other ? (const char *)other : "");
    } else {
      core_log(FD_LOG_NOTICE, "peer %s: %s", peer_name(peer),
               other ? (const char *)other : "connection failed");
    }
    break;
  case HOOK_PEER_CONNECT_SUCCESS:
    if (g_role == IMSEC_CX_ROLE_CLIENT)
      g_peer_was_open = 1;
    core_log(FD_LOG_NOTICE, "peer %s open", peer_name(peer));
    break;
  default:
    break;
  }
}

/* ------------------------------------------------------------- settings */

int imsec_cx_addr_parse(const char *s, imsec_cx_addr *out) {
  if (!s || !out)
    return IMSEC_ERR_CONFIG;
  memset(out, 0, sizeof(*out));
  if (strncmp(s, "tcp:", 4) == 0)
    out->tls = 0;
  else if (strncmp(s, "tls:", 4) == 0)
    out->tls = 1;
  else
    return IMSEC_ERR_CONFIG;
  const char *h = s + 4;
  const char *colon = strrchr(h, ':');
  if (!colon || colon == h)
    return IMSEC_ERR_CONFIG;
  const char *he = colon;
  if (*h == '[') { /* [v6]:port */
    if (he[-1] != ']')
      return IMSEC_ERR_CONFIG;
    h++;
    he--;
  }
  size_t hl = (size_t)(he - h);
  if (hl == 0 || hl >= sizeof(out->host))
    return IMSEC_ERR_CONFIG;
  memcpy(out->host, h, hl);
  out->host[hl] = '\0';
  for (size_t i = 0; i < hl; i++) {
    char ch = out->host[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == ':' ||
          ch == '_'))
      return IMSEC_ERR_CONFIG;
  }
  const char *p = colon + 1;
  unsigned long port = 0;
  if (!*p)
    return IMSEC_ERR_CONFIG;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return IMSEC_ERR_CONFIG;
    port = port * 10 + (unsigned long)(*p - '0');
    if (port > 65535)
      return IMSEC_ERR_CONFIG;
  }
  if (port == 0)
    return IMSEC_ERR_CONFIG;
  out->port = (uint16_t)port;
  return 0;
}

/* A Diameter identity or realm: an FQDN (RFC 6733 §4.3.1 DiameterIdentity),
 * which also keeps it safe inside the quotes of the generated file. */
static int fqdn_ok(const char *s) {
  if (!s || !*s || strlen(s) > 255)
    return 0;
  for (const char *p = s; *p; p++) {
    char ch = *p;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_'))
      return 0;
  }
  return s[0] != '.' && s[0] != '-';
}

/* A file name written between the quotes of freeDiameter's configuration
 * (its grammar has no escapes). */
static int path_ok(const char *s) {
  if (!s || !*s || strlen(s) > 1024)
    return 0;
  for (const char *p = s; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
      return 0;
  return 1;
}

/* HOST to one numeric address (freeDiameter's ListenOn and the peer's
 * endpoint take addresses; a name is resolved once, here). */
static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
                   socklen_t *sl, char *num, size_t numcap) {
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  char ps[8];
  snprintf(ps, sizeof(ps), "%u", (unsigned)port);
  if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
    return IMSEC_ERR_CONFIG;
  if (ai->ai_addrlen > sizeof(*ss)) {
    freeaddrinfo(ai);
    return IMSEC_ERR_CONFIG;
  }
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  *sl = ai->ai_addrlen;
  freeaddrinfo(ai);
  if (getnameinfo((struct sockaddr *)ss, *sl, num, (socklen_t)numcap, NULL, 0,
                  NI_NUMERICHOST) != 0)
    return IMSEC_ERR_CONFIG;
  return 0;
}

static int file_readable(const char *path) {
  return access(path, R_OK) == 0;
}

/* The generated freeDiameter.conf. */
static int write_conf(const char *path, const imsec_cx_config *c,
                      imsec_cx_role role, const imsec_cx_addr *a,
                      const char *listen_num, int v6, const char *ext_dir,
                      char *err, size_t errcap) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    set_err(err, errcap, "cannot write %s: %s", path, strerror(errno));
    return IMSEC_ERR_IO;
  }
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return IMSEC_ERR_NOMEM;
  }
  int tw = c->watchdog_s > 0 ? c->watchdog_s : 6;
  fprintf(f, "Identity = \"%s\";\nRealm = \"%s\";\n", c->identity, c->realm);
  /* RFC 3539 §3.4.1: Tw no lower than 6 s. */
  fprintf(f, "TwTimer = %d;\nTcTimer = 1;\n", tw < 6 ? 6 : tw);
  fprintf(f, "No_SCTP;\nNoRelay;\nPrefer_TCP;\n");
  fprintf(f, v6 ? "No_IPv4;\n" : "No_IPv6;\n");
  if (role == IMSEC_CX_ROLE_SERVER) {
    /* One listener: plain on Port, or TLS from the first octet on
     * SecPort (RFC 6733 §2.1); never both. */
    fprintf(f, "Port = %u;\nSecPort = %u;\nListenOn = \"%s\";\n",
            a->tls ? 0u : (unsigned)a->port, a->tls ? (unsigned)a->port : 0u,
            listen_num);
  } else {
    /* The client never listens: it connects to its HSS. */
    fprintf(f, "Port = 0;\nSecPort = 0;\n");
  }
  if (a->tls) {
    fprintf(f, "TLS_Cred = \"%s\", \"%s\";\nTLS_CA = \"%s\";\n", c->cert,
            c->key, c->ca);
  }
  static const char *const dicts[] = {"dict_nasreq", "dict_dcca",
                                      "dict_dcca_3gpp"};
  for (size_t i = 0; i < sizeof(dicts) / sizeof(dicts[0]); i++)
    fprintf(f, "LoadExtension = \"%s/%s.fdx\";\n", ext_dir, dicts[i]);
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) {
    set_err(err, errcap, "cannot write %s", path);
    return IMSEC_ERR_IO;
  }
  return 0;
}

/* Server: any peer that completes the capabilities exchange may talk Cx
 * (over "tls:" GnuTLS has already checked its certificate against the
 * CA and its Diameter identity against the certificate). freeDiameter
 * refuses unknown peers unless a validator accepts them. */
static int accept_peer(struct peer_info *info, int *auth,
                       int (**cb2)(struct peer_info *)) {
  (void)cb2;
  if (g_refuse_new) {
    /* Draining: the peer goes to another HSS (RFC 6733 §5.3: an unknown
     * peer is refused in the CEA). */
    core_log(FD_LOG_NOTICE, "peer %s refused: draining", info->pi_diamid);
    *auth = -1;
    return 0;
  }
  core_log(FD_LOG_NOTICE, "peer %s connecting", info->pi_diamid);
  /* A "tcp:" listener is plain Diameter by the operator's choice (a
   * protected network, RFC 6733 §13.1 IPsec); freeDiameter would
   * otherwise want TLS after the CER. */
  if (!g_tls)
    info->config.pic_flags.sec |= PI_SEC_NONE;
  *auth = 1;
  return 0;
}

/* Advertise Cx in CER/CEA as a Vendor-Specific-Application-Id (TS 29.229
 * §6.1, 3GPP vendor 10415): the setup must have defined the application. */
static int support_cx(char *err, size_t errcap) {
  struct dict_object *app = NULL, *vendor = NULL;
  application_id_t aid = IMSEC_CX_APP_ID;
  vendor_id_t vid = IMSEC_CX_VENDOR_3GPP;
  if (fd_dict_search(fd_g_config->cnf_dict, DICT_APPLICATION, APPLICATION_BY_ID,
                     &aid, &app, ENOENT) != 0 ||
      fd_dict_search(fd_g_config->cnf_dict, DICT_VENDOR, VENDOR_BY_ID, &vid,
                     &vendor, ENOENT) != 0) {
    set_err(err, errcap,
            "the Cx application or the 3GPP vendor is missing "
            "from the dictionary");
    return IMSEC_ERR_CONFIG;
  }
  if (fd_disp_app_support(app, vendor, 1, 0) != 0) {
    set_err(err, errcap, "freeDiameter refused the Cx application");
    return IMSEC_ERR_CONFIG;
  }
  return 0;
}

static void first_attempt(struct peer_info *info, void *data) {
  (void)info, (void)data;
  pthread_mutex_lock(&g_first_mu);
  g_first_done = 1;
  pthread_cond_broadcast(&g_first_cv);
  pthread_mutex_unlock(&g_first_mu);
}

/* Wait (bounded) until the first attempt to reach the HSS has ended, so
 * that a daemon starting beside a running HSS takes its first request
 * with the peer open; an absent HSS costs this wait once. */
static void wait_first_attempt(void) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += FIRST_ATTEMPT_MS / 1000;
  pthread_mutex_lock(&g_first_mu);
  while (!g_first_done)
    if (pthread_cond_timedwait(&g_first_cv, &g_first_mu, &dl) != 0)
      break;
  pthread_mutex_unlock(&g_first_mu);
}

static int add_hss_peer(const imsec_cx_config *c, const imsec_cx_addr *a,
                        const struct sockaddr_storage *ss, socklen_t sl,
                        char *err, size_t errcap) {
  struct peer_info info;
  memset(&info, 0, sizeof(info));
  fd_list_init(&info.pi_endpoints, NULL);
  info.pi_diamid = g_peer_id;
  info.pi_diamidlen = strlen(g_peer_id);
  info.config.pic_flags.pro3 =
      ss->ss_family == AF_INET6 ? PI_P3_IPv6 : PI_P3_IP;
  info.config.pic_flags.pro4 = PI_P4_TCP;
  info.config.pic_flags.alg = PI_ALGPREF_TCP;
  info.config.pic_flags.sec = a->tls ? PI_SEC_DEFAULT : PI_SEC_NONE;
  /* Keep the entry after a loss and reconnect every TcTimer (RFC 6733
   * §2.1: a node keeps trying its configured peers). */
  info.config.pic_flags.persist = PI_PRST_ALWAYS;
  info.config.pic_realm = g_peer_realm;
  info.config.pic_port = a->port;
  info.config.pic_tctimer = 1;
  info.config.pic_twtimer = c->watchdog_s >= 6 ? c->watchdog_s : 6;
  if (fd_ep_add_merge(&info.pi_endpoints, (sSA *)ss, sl,
                      EP_FL_CONF | EP_ACCEPTALL) != 0) {
    set_err(err, errcap, "cannot add the HSS address");
    return IMSEC_ERR_NOMEM;
  }
  int rv = fd_peer_add(&info, "imsec", first_attempt, NULL);
  while (!FD_IS_LIST_EMPTY(&info.pi_endpoints)) {
    struct fd_list *li = info.pi_endpoints.next;
    fd_list_unlink(li);
    free(li);
  }
  if (rv != 0) {
    set_err(err, errcap, "freeDiameter refused the HSS peer %s: %s", g_peer_id,
            strerror(rv));
    return IMSEC_ERR_CONFIG;
  }
  return 0;
}

static int copy_id(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap)
    return IMSEC_ERR_CONFIG;
  memcpy(dst, src, n + 1);
  return 0;
}

/* The checks that need no freeDiameter; fills the globals' names. */
static int check_config(const imsec_cx_config *c, imsec_cx_role role,
                        imsec_cx_addr *a, int commit, char *err,
                        size_t errcap) {
  if (!fqdn_ok(c->identity)) {
    set_err(err, errcap, "diameter identity: an FQDN is needed");
    return IMSEC_ERR_CONFIG;
  }
  if (!fqdn_ok(c->realm)) {
    set_err(err, errcap, "diameter realm: a domain name is needed");
    return IMSEC_ERR_CONFIG;
  }
  if (imsec_cx_addr_parse(c->addr, a) != 0) {
    set_err(err, errcap, "diameter address: tcp:HOST:PORT or tls:HOST:PORT");
    return IMSEC_ERR_CONFIG;
  }
  if (a->tls) {
    if (!path_ok(c->cert) || !path_ok(c->key) || !path_ok(c->ca)) {
      set_err(err, errcap,
              "diameter over TLS needs a certificate, its key "
              "and a CA");
      return IMSEC_ERR_CONFIG;
    }
    if (!file_readable(c->cert) || !file_readable(c->key) ||
        !file_readable(c->ca)) {
      set_err(err, errcap,
              "diameter TLS: cannot read the certificate, key "
              "or CA file");
      return IMSEC_ERR_CONFIG;
    }
  }
  if (c->ext_dir && !path_ok(c->ext_dir)) {
    set_err(err, errcap, "diameter extension folder: bad path");
    return IMSEC_ERR_CONFIG;
  }
  if (commit && (copy_id(g_identity, sizeof(g_identity), c->identity) ||
                 copy_id(g_realm, sizeof(g_realm), c->realm)))
    return IMSEC_ERR_CONFIG;
  if (role == IMSEC_CX_ROLE_CLIENT) {
    const char *pid = c->peer_identity ? c->peer_identity : a->host;
    const char *prl = c->peer_realm ? c->peer_realm : c->realm;
    if (!fqdn_ok(pid) || !fqdn_ok(prl)) {
      set_err(err, errcap, "HSS identity and realm: FQDNs are needed");
      return IMSEC_ERR_CONFIG;
    }
    if (commit && (copy_id(g_peer_id, sizeof(g_peer_id), pid) ||
                   copy_id(g_peer_realm, sizeof(g_peer_realm), prl)))
      return IMSEC_ERR_CONFIG;
  }
  return 0;
}

/* The configuration file's home: the caller's folder, or a private one
 * removed once freeDiameter has read it. */
static int conf_path(const imsec_cx_config *c, char *dir, size_t dircap,
                     char *path, size_t pathcap, int *made_dir, char *err,
                     size_t errcap) {
  *made_dir = 0;
  if (c->run_dir) {
    if (!path_ok(c->run_dir) || strlen(c->run_dir) >= dircap) {
      set_err(err, errcap, "diameter run folder: bad path");
      return IMSEC_ERR_CONFIG;
    }
    snprintf(dir, dircap, "%s", c->run_dir);
  } else {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || !path_ok(tmp) || strlen(tmp) > dircap - 32)
      tmp = "/tmp";
    snprintf(dir, dircap, "%s/imsec-cx-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
      set_err(err, errcap,
              "cannot make a folder for the diameter "
              "configuration: %s",
              strerror(errno));
      return IMSEC_ERR_IO;
    }
    *made_dir = 1;
  }
  int n =
      snprintf(path, pathcap, "%s/freeDiameter-%ld.conf", dir, (long)getpid());
  if (n < 0 || (size_t)n >= pathcap)
    return IMSEC_ERR_CONFIG;
  return 0;
}

int imsec_cx_config_check(const imsec_cx_config *c, int server, char *err,
                          size_t errcap) {
  if (err && errcap)
    err[0] = '\0';
  if (!c)
    return IMSEC_ERR_INVAL;
  imsec_cx_addr a;
  IMSEC_GUARD(check_config(c,
                           server ? IMSEC_CX_ROLE_SERVER : IMSEC_CX_ROLE_CLIENT,
                           &a, 0, err, errcap));
  struct sockaddr_storage ss;
  socklen_t sl = 0;
  char num[INET6_ADDRSTRLEN + 1];
  if (resolve(a.host, a.port, &ss, &sl, num, sizeof(num)) != 0) {
    set_err(err, errcap, "diameter address: cannot resolve %s", a.host);
    return IMSEC_ERR_CONFIG;
  }
  /* The dictionaries freeDiameter will load (write_conf). */
  const char *dir = c->ext_dir ? c->ext_dir : CX_EXT_DIR;
  static const char *const dicts[] = {"dict_nasreq", "dict_dcca",
                                      "dict_dcca_3gpp"};
  for (size_t i = 0; i < sizeof(dicts) / sizeof(dicts[0]); i++) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s.fdx", dir, dicts[i]);
    if (!file_readable(p)) {
      set_err(err, errcap, "cannot read freeDiameter's %s", p);
      return IMSEC_ERR_CONFIG;
    }
  }
  return 0;
}

int imsec_cx_core_start(const imsec_cx_config *c, imsec_cx_role role,
                        imsec_cx_setup_fn setup, void *arg, char *err,
                        size_t errcap) {
  if (err && errcap)
    err[0] = '\0';
  if (!c)
    return IMSEC_ERR_INVAL;
  pthread_mutex_lock(&g_lock);
  if (g_state != CORE_NEW) {
    pthread_mutex_unlock(&g_lock);
    set_err(err, errcap, "freeDiameter runs once per process");
    return IMSEC_ERR_STATE;
  }
  imsec_cx_addr a;
  g_role = role;
  int rv = check_config(c, role, &a, 1, err, errcap);
  if (rv)
    goto fail_unlocked_new;
  g_tls = a.tls;

  struct sockaddr_storage ss;
  socklen_t sl = 0;
  char num[INET6_ADDRSTRLEN + 1];
  if (resolve(a.host, a.port, &ss, &sl, num, sizeof(num)) != 0) {
    set_err(err, errcap, "diameter address: cannot resolve %s", a.host);
    rv = IMSEC_ERR_CONFIG;
    goto fail_unlocked_new;
  }

  char dir[512], path[600];
  int made_dir = 0;
  rv = conf_path(c, dir, sizeof(dir), path, sizeof(path), &made_dir, err,
                 errcap);
  if (rv)
    goto fail_unlocked_new;
  rv = write_conf(path, c, role, &a, num, ss.ss_family == AF_INET6,
                  c->ext_dir ? c->ext_dir : CX_EXT_DIR, err, errcap);
  if (rv)
    goto fail_conf;

  /* IMSEC_CX_LOG=0..2 overrides the level (debugging a peer that will
   * not open, whatever process embeds the core). */
  const char *lv = getenv("IMSEC_CX_LOG");
  if (lv && lv[0] >= '0' && lv[0] <= '2' && !lv[1])
    g_log_level = lv[0] - '0';
  /* From here on libfdcore's globals are in use: a failure leaves the
   * core unusable for this process. */
  fd_log_handler_register(fd_logger);
  if (fd_core_initialize() != 0) {
    set_err(err, errcap, "freeDiameter did not initialize");
    rv = IMSEC_ERR_NOMEM;
    goto fail_conf_done;
  }
  /* Every hook type but the raw data one: no default dumps. */
  uint32_t mask = 0;
  for (int t = HOOK_MESSAGE_RECEIVED; t <= HOOK_LAST; t++)
    mask |= 1u << t;
  if (fd_hook_register(mask, fd_hook, NULL, NULL, &g_hook) != 0) {
    set_err(err, errcap, "freeDiameter hooks");
    rv = IMSEC_ERR_NOMEM;
    goto fail_core;
  }
  if (fd_core_parseconf(path) != 0) {
    set_err(err, errcap,
            "freeDiameter refused its configuration (the "
            "dictionaries in %s, the TLS files?)",
            c->ext_dir ? c->ext_dir : CX_EXT_DIR);
    rv = IMSEC_ERR_CONFIG;
    goto fail_core;
  }
  unlink(path);
  if (made_dir)
    rmdir(dir);
  made_dir = 0;
  path[0] = '\0';
  /* freeDiameter's parser drops a loopback ListenOn address (its address
   * filter), and an empty endpoint list means "bind every address": a
   * server asked for 127.0.0.1 would listen on all of them, and two on
   * 127.0.1.x and 127.0.2.x with one port could not both start. Put the
   * one address back, past the filter. */
  if (role == IMSEC_CX_ROLE_SERVER &&
      FD_IS_LIST_EMPTY(&fd_g_config->cnf_endpoints) &&
      fd_ep_add_merge(&fd_g_config->cnf_endpoints, (sSA *)&ss, sl,
                      EP_FL_CONF | EP_ACCEPTALL) != 0) {
    set_err(err, errcap, "cannot set the listen address");
    rv = IMSEC_ERR_NOMEM;
    goto fail_core;
  }

  if (setup) {
    rv = setup(arg, err, errcap);
    if (rv)
      goto fail_core;
  }
  rv = support_cx(err, errcap);
  if (rv)
    goto fail_core;
  if (role == IMSEC_CX_ROLE_SERVER &&
      fd_peer_validate_register(accept_peer) != 0) {
    set_err(err, errcap, "freeDiameter peer validation");
    rv = IMSEC_ERR_NOMEM;
    goto fail_core;
  }
  if (fd_core_start() != 0) {
    set_err(err, errcap, "freeDiameter did not start (cannot listen on %s?)",
            c->addr);
    rv = IMSEC_ERR_IO;
    goto fail_core;
  }
  if (fd_core_waitstartcomplete() != 0) {
    set_err(err, errcap, "freeDiameter did not start (cannot listen on %s?)",
            c->addr);
    rv = IMSEC_ERR_IO;
    goto fail_core;
  }
  if (role == IMSEC_CX_ROLE_CLIENT) {
    rv = add_hss_peer(c, &a, &ss, sl, err, errcap);
    if (rv)
      goto fail_core;
  }
  g_state = CORE_RUNNING;
  pthread_mutex_unlock(&g_lock);
  if (role == IMSEC_CX_ROLE_CLIENT)
    wait_first_attempt();
  return 0;

fail_core:
  fd_core_shutdown();
  fd_core_wait_shutdown_complete();
fail_conf_done:
  g_state = CORE_DONE;
fail_conf:
  if (path[0])
    unlink(path);
  if (made_dir)
    rmdir(dir);
fail_unlocked_new:
  if (g_state == CORE_NEW) {
    g_identity[0] = g_realm[0] = g_peer_id[0] = g_peer_realm[0] = '\0';
  }
  pthread_mutex_unlock(&g_lock);
  return rv;
}

void imsec_cx_core_stop(void) {
  pthread_mutex_lock(&g_lock);
  if (g_state != CORE_RUNNING) {
    pthread_mutex_unlock(&g_lock);
    return;
  }
  g_state = CORE_DONE;
  pthread_mutex_unlock(&g_lock);
  fd_core_shutdown();
  fd_core_wait_shutdown_complete();
}

int imsec_cx_core_running(void) {
  pthread_mutex_lock(&g_lock);
  int r = g_state == CORE_RUNNING;
  pthread_mutex_unlock(&g_lock);
  return r;
}

int imsec_cx_core_peer_open(void) {
  if (!imsec_cx_core_running() || g_role != IMSEC_CX_ROLE_CLIENT)
    return 0;
  struct peer_hdr *peer = NULL;
  if (fd_peer_getbyid(g_peer_id, strlen(g_peer_id), 0, &peer) != 0 || !peer)
    return 0;
  int st = fd_peer_get_state(peer);
  return st == STATE_OPEN || st == STATE_OPEN_NEW;
}

static const char *running_str(const char *s) {
  return imsec_cx_core_running() && s[0] ? s : NULL;
}

const char *imsec_cx_core_identity(void) {
  return running_str(g_identity);
}

const char *imsec_cx_core_realm(void) {
  return running_str(g_realm);
}

const char *imsec_cx_core_peer_identity(void) {
  return running_str(g_peer_id);
}

const char *imsec_cx_core_peer_realm(void) {
  return running_str(g_peer_realm);
}

void imsec_cx_core_refuse_peers(int on) {
  g_refuse_new = on;
}

/* ------------------------------------------------------------ operations */

static const char *state_name(int st) {
  switch (st) {
  case STATE_NEW:
    return "new";
  case STATE_OPEN:
  case STATE_OPEN_NEW:
  case STATE_OPEN_HANDSHAKE:
    return "open";
  case STATE_CLOSED:
    return "closed";
  case STATE_CLOSING:
  case STATE_CLOSING_GRACE:
    return "closing";
  case STATE_WAITCNXACK:
  case STATE_WAITCNXACK_ELEC:
    return "connecting";
  case STATE_WAITCEA:
    return "capabilities";
  case STATE_SUSPECT:
    return "suspect"; /* RFC 3539 §3.4.1: no DWA within Tw */
  case STATE_REOPEN:
    return "reopening";
  case STATE_ZOMBIE:
    return "stopped";
  default:
    return "unknown";
  }
}

static int state_up(int st) {
  return st == STATE_OPEN || st == STATE_OPEN_NEW;
}

/* Walk freeDiameter's peer list under g_lock (a stop waits for the walk)
 * and its read lock. */
typedef void (*peer_fn)(void *arg, struct peer_hdr *p, int state);

static void each_peer(peer_fn fn, void *arg) {
  pthread_mutex_lock(&g_lock);
  if (g_state == CORE_RUNNING && pthread_rwlock_rdlock(&fd_g_peers_rw) == 0) {
    for (struct fd_list *li = fd_g_peers.next; li != &fd_g_peers;
         li = li->next) {
      /* chain is the first member of a peer_hdr */
      struct peer_hdr *p = (struct peer_hdr *)li;
      if (p && p->info.pi_diamid)
        fn(arg, p, fd_peer_get_state(p));
    }
    pthread_rwlock_unlock(&fd_g_peers_rw);
  }
  pthread_mutex_unlock(&g_lock);
}

static void peer_metric(void *arg, struct peer_hdr *p, int state) {
  (void)imsec_metrics_add(arg, "imsec_diameter_peer_up", state_up(state),
                          "peer", p->info.pi_diamid, (const char *)NULL);
}

void imsec_cx_core_metrics(struct imsec_metrics *m) {
  if (!m)
    return;
  (void)imsec_metrics_declare(
      m, "imsec_diameter_peer_up", IMSEC_METRIC_GAUGE,
      "Diameter peers by identity: 1 open (capabilities exchanged), 0 not");
  each_peer(peer_metric, m);
}

static void peer_row(void *arg, struct peer_hdr *p, int state) {
  char conn[64] = "", detail[512];
  if (state_up(state) && fd_peer_cnx_proto_info(p, conn, sizeof conn) != 0)
    conn[0] = '\0';
  long out = 0, in = 0;
  (void)fd_peer_get_load_pending(p, &out, &in);
  const char *realm = p->info.runtime.pir_realm;
  snprintf(detail, sizeof detail,
           "realm=%.*s%s%s pending_out=%ld pending_in=%ld",
           realm ? (int)p->info.runtime.pir_realmlen : 1, realm ? realm : "-",
           conn[0] ? " conn=" : "", conn, out, in);
  const char *cells[4] = {p->info.pi_diamid, "diameter", state_name(state),
                          detail};
  (void)imsec_table_add(arg, cells);
}

int imsec_cx_core_list_peers(struct imsec_table *t) {
  if (!t)
    return IMSEC_ERR_INVAL;
  each_peer(peer_row, t);
  return t->err;
}
