/* Dialogs through the UE's flow (TS 24.229 §5.2.6.3, RFC 5626 §5.3):
 * Record-Route with the flow token and the dialogs each UE is part of.
 *
 * Record-Route (RFC 3261 §16.6 step 4, RFC 5658): a dialog-creating
 * request (INVITE, SUBSCRIBE, REFER outside a dialog) gets two entries,
 * each `<sip:TOKEN@HOST:PORT;transport=T;lr>` with the binding's flow token
 * (the Path token): one naming the access listener the UE reached, one
 * naming the core side. The entry facing the next hop is on top. So every
 * in-dialog request toward the UE comes back through this P-CSCF with the
 * token that names the UE's binding, and leaves on its bound flow.
 *
 * The dialog table: one record per (binding, Call-ID, the UE's tag),
 * at most cfg.max_dialogs, and at most DLG_PER_BINDING per binding. A record is
 * made when the UE's initial request is forwarded (the UE as UAC: its From tag)
 * or when the UE's 1xx with a To tag or 2xx to a dialog-creating request from
 * the core is relayed (the UE as UAS: its To tag). It ends on the 2xx to a BYE,
 * a final response >= 300 to the initial request before any 2xx, a 481 to an
 * in-dialog request, the 2xx to a NOTIFY with Subscription-State:
 * terminated (subscription dialogs), an idle timeout, or with its binding.
 *
 * In-dialog requests are checked both ways: from a UE, the Route entries
 * naming this P-CSCF must carry the UE's own token, the dialog must be the
 * binding's, and the next Route a known S-CSCF; from the core, a request
 * with a To tag must belong to a dialog of the binding its token names. */
#include "imsec/obs.h"
#include "lib/pcscf/pcscf_int.h"

/* Idle timeouts. A confirmed dialog with no request either way for 12 h is
 * forgotten: far beyond RFC 4028 session refreshes (default 1800 s) and
 * RFC 6665 subscription refreshes, so only abandoned records go; the
 * binding's end removes its dialogs earlier anyway. An early dialog (no
 * 2xx yet) lives as long as its INVITE may wait: Timer C (RFC 3261 §16.6
 * step 11; cfg.timer_c_ms, default 180 s) plus a transaction timeout. */
#define DLG_IDLE_MS ((imsec_time_ms)12 * 3600 * 1000)
#define DLG_TIMER_C_MS 180000
#define DLG_MAX_DEFAULT 65536 /* cfg.max_dialogs 0 */
/* Dialogs of one registration (binding): enough for a phone's calls and
 * its subscriptions (reg event, presence, message waiting), and it keeps
 * one UE, or its callers, from filling the table for everyone. */
#define DLG_PER_BINDING 64

/* txn.dlg_role bits (txn.dlg_bid names the binding). */
#define DR_UE_UAC 1  /* the request came from the UE: its tag is From's */
#define DR_CREATE 2  /* a dialog-creating request */
#define DR_SUB 4     /* ... creating a subscription dialog (RFC 6665) */
#define DR_BYE 8     /* a BYE: its 2xx ends the dialog */
#define DR_NOTIFY 16 /* a NOTIFY with Subscription-State: terminated */

/* The far ends one record tracks: a forked request may make an early or
 * confirmed dialog with each branch that answers (RFC 3261 §12.1, §13.2.2.4);
 * the UE keeps one and ends the others (BYE). Beyond this many, a far end
 * is not listed and its end does not end the record (idle timeout does). */
#define DLG_MAX_PEERS 8

typedef struct dialog {
  struct dialog *next;          /* same Call-ID and tag, another binding */
  struct dialog *bprev, *bnext; /* the binding's dialogs */
  uint64_t bid;
  int confirmed;    /* a 2xx went by */
  int subscription; /* made by SUBSCRIBE or REFER */
  /* The far ends' tags (RFC 3261 §12: the dialog id is Call-ID and both
   * tags): the record ends when the last one's usage ends. */
  char *peers[DLG_MAX_PEERS];
  size_t n_peers;
  imsec_time_ms idle_at;
  char *pai; /* the identity asserted on the UE's requests in it */
  char *key; /* its key in p->dlgs */
} dialog;

/* ------------------------------------------------------------ the table */

static int dlg_setup(imsec_pcscf *p) {
  if (p->dlg_ready)
    return 0;
  /* Call-IDs and tags are chosen by peers: keys hashed under a seed
   * derived from the element's random key (include/imsec/map.h). */
  uint8_t seed[32];
  imsec_iov iov[1] = {{"dialog-seed", 11}};
  IMSEC_GUARD(
      imsec_hmac(p->crypto, IMSEC_HASH_SHA256, p->key, KEY_LEN, iov, 1, seed));
  imsec_map_init_str(&p->dlgs, seed);
  imsec_wipe(seed, sizeof(seed));
  imsec_map_init_u64(&p->dlg_bids);
  p->dlg_ready = 1;
  return 0;
}

/* "Call-ID SP tag" in the arena (neither may hold a space, RFC 3261 §25.1). */
static int dlg_key(imsec_pcscf *p, imsec_str callid, imsec_str tag,
                   imsec_str *out) {
  sb b = arena_sb(p);
  sb_put(&b, callid);
  sb_putc(&b, " ");
  sb_put(&b, tag);
  return sb_done(p, &b, out);
}

static dialog *dlg_find(imsec_pcscf *p, imsec_str key, uint64_t bid) {
  if (!p->dlg_ready)
    return NULL;
  for (dialog *d = imsec_map_sget(&p->dlgs, key); d; d = d->next)
    if (d->bid == bid)
      return d;
  return NULL;
}

static size_t dlg_max(const imsec_pcscf *p) {
  return p->cfg.max_dialogs ? p->cfg.max_dialogs : DLG_MAX_DEFAULT;
}

/* Is there room for one more dialog of binding `bid`, in the table and
 * under the binding's own bound? */
static int dlg_room(imsec_pcscf *p, uint64_t bid) {
  if (p->n_dlgs >= dlg_max(p))
    return 0;
  if (!p->dlg_ready)
    return 1;
  size_t n = 0;
  for (const dialog *d = imsec_map_get(&p->dlg_bids, bid); d; d = d->bnext)
    if (++n >= DLG_PER_BINDING)
      return 0;
  return 1;
}

static imsec_time_ms dlg_early_ms(const imsec_pcscf *p) {
  imsec_time_ms tc = p->cfg.timer_c_ms > 0 ? p->cfg.timer_c_ms : DLG_TIMER_C_MS;
  return tc + p->cfg.transaction_timeout_ms;
}

static void dlg_touch(ev *e, dialog *d) {
  imsec_pcscf *p = e->p;
  d->idle_at = e->now + (d->confirmed ? DLG_IDLE_MS : dlg_early_ms(p));
  if (!p->dlg_check_at || d->idle_at < p->dlg_check_at) {
    p->dlg_check_at = d->idle_at;
    pc_arm(e, d->idle_at);
  }
}

static void dlg_free(dialog *d) {
  for (size_t i = 0; i < d->n_peers; i++)
    free(d->peers[i]);
  free(d->pai);
  free(d->key);
  free(d);
}

/* A new value for a key that is in the map: replaced in place, nothing
 * allocated, so it cannot fail. */
static void replace_u64(imsec_map *m, uint64_t key, void *val) {
  int rv = imsec_map_put(m, key, val, NULL);
  (void)rv;
}

static void replace_str(imsec_map *m, imsec_str key, void *val) {
  int rv = imsec_map_sput(m, key, val, NULL);
  (void)rv;
}

/* Take `d` off its binding's list. */
static void dlg_unbind(imsec_pcscf *p, dialog *d) {
  if (d->bprev)
    d->bprev->bnext = d->bnext;
  else if (d->bnext)
    replace_u64(&p->dlg_bids, d->bid, d->bnext);
  else
    (void)imsec_map_del(&p->dlg_bids, d->bid);
  if (d->bnext)
    d->bnext->bprev = d->bprev;
  p->n_dlgs--;
}

/* Take `d` out of both indexes and free it. */
static void dlg_end(imsec_pcscf *p, dialog *d) {
  imsec_str key = imsec_str_c(d->key);
  dialog *head = imsec_map_sget(&p->dlgs, key);
  if (head == d) {
    if (d->next)
      replace_str(&p->dlgs, key, d->next);
    else
      (void)imsec_map_sdel(&p->dlgs, key);
  } else {
    for (dialog *c = head; c; c = c->next)
      if (c->next == d) {
        c->next = d->next;
        break;
      }
  }
  dlg_unbind(p, d);
  dlg_free(d);
}

/* Note the far end `tag` (a branch answered with it). */
static void peer_add(dialog *d, imsec_str tag) {
  if (!tag.len || d->n_peers >= DLG_MAX_PEERS)
    return;
  for (size_t i = 0; i < d->n_peers; i++)
    if (imsec_str_eq(imsec_str_c(d->peers[i]), tag)) /* no secret: a tag */
      return;
  char *c = pc_dup_str(tag);
  if (c)
    d->peers[d->n_peers++] = c;
}

/* The dialog with far end `tag` is over: 1 when none is left (the record
 * goes), else 0. A far end never listed ends the record only when no
 * other is listed. */
static int peer_gone(dialog *d, imsec_str tag) {
  for (size_t i = 0; i < d->n_peers; i++)
    if (imsec_str_eq(imsec_str_c(d->peers[i]), tag)) { /* no secret: a tag */
      free(d->peers[i]);
      d->peers[i] = d->peers[--d->n_peers];
      break;
    }
  return d->n_peers == 0;
}

/* A new record; the caller checked the bound. NULL without memory. */
static dialog *dlg_add(ev *e, uint64_t bid, imsec_str key, imsec_str pai,
                       int subscription) {
  imsec_pcscf *p = e->p;
  if (dlg_setup(p) < 0)
    return NULL;
  dialog *d = calloc(1, sizeof(*d));
  if (!d || !(d->key = pc_dup_str(key)) || !(d->pai = pc_dup_str(pai)))
    goto fail;
  d->bid = bid;
  d->subscription = subscription;
  dialog *head = imsec_map_sget(&p->dlgs, key);
  dialog *bhead = imsec_map_get(&p->dlg_bids, bid);
  if (imsec_map_sput(&p->dlgs, key, d, NULL) < 0)
    goto fail;
  if (imsec_map_put(&p->dlg_bids, bid, d, NULL) < 0) {
    if (head)
      replace_str(&p->dlgs, key, head);
    else
      (void)imsec_map_sdel(&p->dlgs, key);
    goto fail;
  }
  d->next = head;
  d->bnext = bhead;
  if (bhead)
    bhead->bprev = d;
  p->n_dlgs++;
  dlg_touch(e, d);
  return d;
fail:
  if (d)
    dlg_free(d);
  return NULL;
}

void pc_dialog_binding_gone(imsec_pcscf *p, uint64_t bid) {
  if (!p->dlg_ready)
    return;
  dialog *d;
  while ((d = imsec_map_get(&p->dlg_bids, bid)))
    dlg_end(p, d);
}

void pc_dialogs_free(imsec_pcscf *p) {
  if (!p->dlg_ready)
    return;
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&p->dlgs, &it))) {
    dialog *d = s->val;
    (void)imsec_map_del_at(&p->dlgs, &it);
    while (d) {
      dialog *n = d->next;
      dlg_free(d);
      d = n;
    }
  }
  imsec_map_free(&p->dlgs);
  imsec_map_free(&p->dlg_bids);
  p->n_dlgs = 0;
  p->dlg_ready = 0;
}

void pc_dialog_sweep(ev *e, imsec_time_ms *next) {
  imsec_pcscf *p = e->p;
  if (!p->dlg_ready || !p->n_dlgs) {
    p->dlg_check_at = 0;
    return;
  }
  if (p->dlg_check_at > e->now) {
    /* Nothing can have idled out yet: no walk. */
    if (!*next || p->dlg_check_at < *next)
      *next = p->dlg_check_at;
    return;
  }
  imsec_time_ms first = 0;
  size_t ended = 0, it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&p->dlgs, &it))) {
    dialog *keep = NULL, **tail = &keep;
    for (dialog *d = s->val, *n; d; d = n) {
      n = d->next;
      if (d->idle_at <= e->now) {
        dlg_unbind(p, d);
        dlg_free(d);
        ended++;
        continue;
      }
      if (!first || d->idle_at < first)
        first = d->idle_at;
      *tail = d;
      tail = &d->next;
    }
    *tail = NULL;
    if (keep)
      s->val = keep;
    else
      (void)imsec_map_del_at(&p->dlgs, &it);
  }
  if (ended)
    LOG(e, IMSEC_LOG_INFO, pc_num(p, ended),
        S(" dialog(s) idle too long; forgotten"));
  p->dlg_check_at = first;
  if (first && (!*next || first < *next))
    *next = first;
}

/* ------------------------------------------------------------ helpers */

static int creates_dialog(const imsec_sip_msg *m) {
  return m->method_id == IMSEC_SIP_M_INVITE ||
         m->method_id == IMSEC_SIP_M_SUBSCRIBE ||
         m->method_id == IMSEC_SIP_M_REFER;
}

static imsec_str to_tag(imsec_sip_msg *m) {
  const imsec_sip_addr *to;
  return imsec_sip_get_to(m, &to) == 0 ? to->tag : S("");
}

static imsec_str from_tag(imsec_sip_msg *m) {
  const imsec_sip_addr *from;
  return imsec_sip_get_from(m, &from) == 0 ? from->tag : S("");
}

/* RFC 6665 §8.2.3: a NOTIFY whose Subscription-State is "terminated". */
static int notify_terminates(const imsec_sip_msg *m) {
  if (m->method_id != IMSEC_SIP_M_NOTIFY)
    return 0;
  for (size_t i = 0; i < m->nhdrs; i++) {
    const imsec_sip_hdr *h = &m->hdrs[i];
    if (!imsec_str_ieq(h->name, S("Subscription-State")))
      continue;
    imsec_str v = h->value;
    long semi = imsec_str_find(v, ';');
    if (semi >= 0)
      v = imsec_str_sub(v, 0, (size_t)semi);
    return imsec_str_ieq(imsec_str_trim(v), S("terminated"));
  }
  return 0;
}

/* One log line per dropped ACK, within the element's budget for lines
 * about refused input (an ACK is never answered, RFC 3261 §17). */
static void ack_dropped(ev *e, const char *why) {
  uint64_t held = 0;
  if (!imsec_lograte_take(&e->p->bad_rate, e->now, &held))
    return;
  LOG(e, IMSEC_LOG_INFO, S("ACK on flow "), pc_num(e->p, e->f->id),
      S(" dropped: "), imsec_str_c(why), held ? S(" (") : S(""),
      held ? pc_num(e->p, held) : S(""), held ? S(" more lines held)") : S(""));
}

/* A Route or Record-Route entry of ours for binding `bid`, in the arena:
 * core side (the Path's host, port and transport) or access side (the
 * listener of flow `f`, tls or dtls-udp as the UE's Contact says it). */
static int rr_entry(imsec_pcscf *p, uint64_t bid, const flowrec *f,
                    imsec_str *out) {
  sb b = arena_sb(p);
  sb_putc(&b, "<sip:");
  IMSEC_GUARD(pc_token_make(p, bid, &b));
  sb_putc(&b, "@");
  if (f) {
    sb_putc(&b, f->local_host);
    sb_putc(&b, ":");
    sb_u64(&b, f->local_port);
    /* draft-jennings-sip-dtls: SIP over DTLS is transport=dtls-udp. */
    sb_putc(&b, f->local_tp == IMSEC_TP_DTLS ? ";transport=dtls-udp"
                                             : ";transport=tls");
  } else {
    sb_putc(&b, p->host_uri);
    sb_putc(&b, ":");
    sb_u64(&b, p->cfg.core.port);
    sb_putc(&b, ";transport=");
    sb_putc(&b, imsec_tp_lower(p->cfg.core.tp));
  }
  sb_putc(&b, ";lr>");
  return sb_done(p, &b, out);
}

/* Is Route value `v` one of ours? 1: its user part is a token under our
 * key (*rv: pc_token_check's 0 with *tb, or IMSEC_ERR_NOTFOUND for a
 * binding gone); 2: it names this P-CSCF's core side or the listener of
 * flow `f` but carries no token of ours (forged); 0: another hop's. */
static int route_ours(imsec_pcscf *p, const flowrec *f, imsec_str v,
                      binding **tb, int *rv) {
  imsec_sip_addr a;
  imsec_sip_uri u;
  *tb = NULL;
  if (imsec_sip_addr_parse(v, 64, &a) < 0 ||
      imsec_sip_uri_parse(a.uri, 64, &u) < 0 ||
      (u.scheme != IMSEC_SIP_SCHEME_SIP && u.scheme != IMSEC_SIP_SCHEME_SIPS))
    return 0;
  *rv = pc_token_check(p, u.user, tb);
  if (*rv == 0 || *rv == IMSEC_ERR_NOTFOUND)
    return 1;
  uint16_t port = u.has_port ? u.port : 5060;
  imsec_str host = pc_bare_host(u.host);
  if (imsec_str_ieq(host, imsec_str_c(p->cfg.core.host)) &&
      port == p->cfg.core.port)
    return 2;
  if (f && f->local_host[0] &&
      imsec_str_ieq(u.host, imsec_str_c(f->local_host)) &&
      port == f->local_port)
    return 2;
  return 0;
}

/* The first Route value, or an empty slice. */
static imsec_str route_top(imsec_sip_msg *m) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  return imsec_sip_value_next(m, IMSEC_SIP_H_ROUTE, &it, &v, NULL) == 1 ? v
                                                                        : S("");
}

/* The identity the UE asserts in a dialog where it answers: the To URI
 * when registered (RFC 3325, TS 24.229 §5.2.6.4), else its default
 * public identity. Empty when the binding has none. */
static imsec_str uas_identity(imsec_pcscf *p, binding *b, imsec_sip_msg *m) {
  const imsec_sip_addr *to;
  imsec_str id = S("");
  size_t pos = 0;
  if (imsec_sip_get_to(m, &to) == 0) {
    imsec_str s;
    while (pc_strlist_next(&b->impus, &pos, &s))
      if (pc_uri_text_eq(s, to->uri)) {
        id = s;
        break;
      }
  }
  pos = 0;
  if (!id.len && !pc_strlist_next(&b->impus, &pos, &id))
    return S("");
  sb ab = arena_sb(p);
  sb_putc(&ab, "<");
  sb_put(&ab, id);
  sb_putc(&ab, ">");
  imsec_str out = S("");
  (void)sb_done(p, &ab, &out);
  return out;
}

/* ------------------------------------------------------------ from the UE */

int pc_dialog_ue_request(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  flowrec *f = e->f;
  int ack = m->method_id == IMSEC_SIP_M_ACK;
  if (!ack && !to_tag(m).len)
    return 0; /* outside a dialog: pc_ue_request's */
  refusal r = {0};
  txn *t = NULL;
  int pushed = 0;
  /* TS 24.229 §5.2.6.3, RFC 3261 §16.4: the leading Route entries naming
   * this P-CSCF (the access and the core entry we Record-Routed) go; each
   * must carry the token of a binding on this very flow. */
  binding *tb = NULL;
  int gone = 0, n_ours = 0, other = 0, forged = 0;
  while (n_ours < 2) {
    imsec_str v = route_top(m);
    binding *b = NULL;
    int rv = 0, k = v.len ? route_ours(p, f, v, &b, &rv) : 0;
    if (!k)
      break;
    if (k == 2) {
      forged = 1;
      break;
    }
    if (rv == IMSEC_ERR_NOTFOUND)
      gone = 1;
    else if (tb && b != tb)
      other = 1;
    else
      tb = b;
    if (pc_pop_top(m, IMSEC_SIP_H_ROUTE) < 0) {
      r = (refusal){.code = 500,
                    .reason = "Server Internal Error",
                    .why = "cannot edit request"};
      goto out;
    }
    n_ours++;
  }
  if (forged || !n_ours) {
    r = (refusal){.code = 403,
                  .reason = "Forbidden",
                  .why = forged ? "forged Route to this P-CSCF"
                                : "in-dialog request without this P-CSCF's "
                                  "Route (Record-Route, RFC 3261 §12.2.1.1)"};
    goto out;
  }
  if (other || (tb && tb->flow != f)) {
    r = (refusal){.code = 403,
                  .reason = "Forbidden",
                  .why = "Route names another UE's binding"};
    goto out;
  }
  if (gone || !tb) {
    /* The binding (and its dialogs) went: de-registered or replaced. */
    r = (refusal){.code = 481,
                  .reason = "Call/Transaction Does Not Exist",
                  .why = "the dialog's registration is gone"};
    goto out;
  }
  /* The dialog: (Call-ID, From tag) among the binding's. */
  imsec_str callid, key = S(""), ftag = from_tag(m);
  dialog *d = NULL;
  if (imsec_sip_get_call_id(m, &callid) == 0 && ftag.len &&
      dlg_key(p, callid, ftag, &key) == 0)
    d = dlg_find(p, key, tb->id);
  if (!d) {
    int theirs = key.len && p->dlg_ready && imsec_map_sget(&p->dlgs, key);
    r = theirs ? (refusal){.code = 403,
                           .reason = "Forbidden",
                           .why = "dialog of another UE"}
               : (refusal){.code = 481,
                           .reason = "Call/Transaction Does Not Exist",
                           .why = "no such dialog of this UE"};
    goto out;
  }
  /* The next hop must be an S-CSCF we know (the one that Record-Routed). */
  long di = pc_dest_of_uri(p, route_top(m));
  if (di < 0) {
    r = (refusal){.code = 403,
                  .reason = "Forbidden",
                  .why = "forged route: the next Route is no known S-CSCF"};
    goto out;
  }
  di = (long)pc_dest_live(p, (size_t)di); /* failover.c: a dead one's sibling */
  if (!ack) {
    /* RFC 3261 §16: a re-INVITE is an INVITE transaction like any
     * (100 Trying, CANCEL, the ACK of a non-2xx, Timer C; invite.c). */
    if (!(t = pc_txn_open(e, m, 1, &r)))
      goto out;
    t->dlg_bid = tb->id;
    t->dlg_role = DR_UE_UAC | (m->method_id == IMSEC_SIP_M_BYE ? DR_BYE : 0) |
                  (notify_terminates(m) ? DR_NOTIFY : 0);
  }
  /* RFC 3325, TS 24.229 §5.2.6.3: the UE asserts nothing itself; the
   * dialog's identity is asserted for it. */
  r = (refusal){.code = 500,
                .reason = "Server Internal Error",
                .why = "cannot edit request"};
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_PREFERRED_IDENTITY);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_ASSERTED_IDENTITY);
  if (d->pai[0] && imsec_sip_msg_insert(m, m->nhdrs, S("P-Asserted-Identity"),
                                        imsec_str_c(d->pai)) < 0)
    goto out;
  if (pc_push_via(e, m, t, p->dests[di].addr.tp) < 0)
    goto out;
  pushed = 1;
  if (pc_dec_max_forwards(e, m) < 0 ||
      (t && pc_invite_forwarded(e, t, m) < 0) ||
      pc_send_dest(e, (size_t)di, m, t) < 0) {
    r = (refusal){.code = 503,
                  .reason = "Service Unavailable",
                  .why = "S-CSCF queue full or unreachable",
                  .retry_after = IMSEC_PCSCF_RETRY_CORE};
    goto out;
  }
  dlg_touch(e, d);
  LOG(e, IMSEC_LOG_DEBUG, m->method, S(" in dialog from flow "),
      pc_num(p, f->id), S(" -> "), pc_addr_str(p, &p->dests[di].addr));
  return 1;
out:
  if (t)
    pc_txn_clear(p, t);
  if (pushed)
    (void)pc_pop_top(m, IMSEC_SIP_H_VIA);
  if (ack) {
    ack_dropped(e, r.why);
    return 1;
  }
  (void)pc_refuse_with(e, m, &r);
  return 1;
}

/* ------------------------------------------------------------ from the core */

int pc_dialog_core_check(ev *e, imsec_sip_msg *m, binding *b, refusal *r) {
  imsec_pcscf *p = e->p;
  int ack = m->method_id == IMSEC_SIP_M_ACK;
  /* RFC 5658: our two Record-Route entries come back as two Route
   * entries; pc_core_request takes the top (the core side), the access
   * side entry under it goes here. Both carry the same token. */
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str first, second;
  if (imsec_sip_value_next(m, IMSEC_SIP_H_ROUTE, &it, &first, NULL) == 1 &&
      imsec_sip_value_next(m, IMSEC_SIP_H_ROUTE, &it, &second, NULL) == 1) {
    binding *sb2 = NULL;
    int rv = 0;
    if (route_ours(p, NULL, second, &sb2, &rv) == 1) {
      if (rv != 0 || sb2 != b) {
        *r = (refusal){.code = 403,
                       .reason = "Forbidden",
                       .why = "Route names another UE's binding"};
        goto refused;
      }
      if (pc_pop_top(m, IMSEC_SIP_H_ROUTE) < 0 ||
          pc_pop_top(m, IMSEC_SIP_H_ROUTE) < 0 ||
          imsec_sip_msg_push_top(m, S("Route"), first) < 0) {
        *r = (refusal){.code = 500,
                       .reason = "Server Internal Error",
                       .why = "cannot edit request"};
        goto refused;
      }
    }
  }
  imsec_str tag = to_tag(m);
  if (!tag.len)
    return 0; /* outside a dialog */
  imsec_str callid, key;
  dialog *d = NULL;
  if (imsec_sip_get_call_id(m, &callid) == 0 &&
      dlg_key(p, callid, tag, &key) == 0)
    d = dlg_find(p, key, b->id);
  if (!d) {
    *r = (refusal){
        .code = 403, .reason = "Forbidden", .why = "dialog not of this UE"};
    goto refused;
  }
  dlg_touch(e, d);
  return 0;
refused:
  if (ack) {
    ack_dropped(e, r->why);
    *r = (refusal){0};
  }
  return -1;
}

/* ------------------------------------------------------------ Record-Route */

int pc_dialog_record_route(ev *e, imsec_sip_msg *m, binding *b, txn *t,
                           int toward_ue, refusal *r) {
  imsec_pcscf *p = e->p;
  if (!t)
    return 0; /* an ACK */
  if (to_tag(m).len) {
    /* In a dialog (from the core; the UE's own go through
     * pc_dialog_ue_request): its responses may end the dialog. */
    if (toward_ue) {
      t->dlg_bid = b->id;
      t->dlg_role = (m->method_id == IMSEC_SIP_M_BYE ? DR_BYE : 0) |
                    (notify_terminates(m) ? DR_NOTIFY : 0);
    }
    return 0;
  }
  if (!creates_dialog(m))
    return 0;
  int sub = m->method_id != IMSEC_SIP_M_INVITE;
  imsec_str callid, key = S("");
  dialog *d = NULL;
  if (!toward_ue) {
    imsec_str ftag = from_tag(m);
    if (!ftag.len || imsec_sip_get_call_id(m, &callid) < 0) {
      /* RFC 3261 §8.1.1.3: a From tag starts every dialog. */
      *r = (refusal){
          .code = 400, .reason = "Bad Request", .why = "From without a tag"};
      return IMSEC_ERR_PARSE;
    }
    if (dlg_key(p, callid, ftag, &key) < 0) {
      *r = (refusal){.code = 500,
                     .reason = "Server Internal Error",
                     .why = "dialog key too long"};
      return IMSEC_ERR_NOBUF;
    }
    d = dlg_find(p, key, b->id); /* the same request again (a challenge) */
  }
  if (!d && !dlg_room(p, b->id)) {
    *r = (refusal){.code = 503,
                   .reason = "Service Unavailable",
                   .why = "dialog table full, or the UE's share of it",
                   .retry_after = IMSEC_PCSCF_RETRY_BUSY};
    return IMSEC_ERR_LIMIT;
  }
  /* RFC 5658, RFC 5626 §5.3: the access and the core side, the one
   * facing the next hop on top. Without a flow (M2b, the UE not yet
   * dialled) the access side is not known: the core entry alone. */
  imsec_str core, acc = S("");
  const flowrec *uf = b->flow && b->flow->local_host[0] ? b->flow : NULL;
  int bad = rr_entry(p, b->id, NULL, &core) < 0 ||
            (uf && rr_entry(p, b->id, uf, &acc) < 0);
  imsec_str under = toward_ue ? core : acc, top = toward_ue ? acc : core;
  if (!bad && under.len)
    bad = imsec_sip_msg_push_top(m, S("Record-Route"), under) < 0;
  if (!bad && top.len)
    bad = imsec_sip_msg_push_top(m, S("Record-Route"), top) < 0;
  if (bad) {
    *r = (refusal){.code = 500,
                   .reason = "Server Internal Error",
                   .why = "cannot add Record-Route"};
    return IMSEC_ERR_NOBUF;
  }
  if (!toward_ue && !d) {
    const imsec_sip_hdr *h =
        imsec_sip_hdr_first(m, IMSEC_SIP_H_P_ASSERTED_IDENTITY);
    d = dlg_add(e, b->id, key, h ? h->value : S(""), sub);
    if (!d) {
      *r = (refusal){.code = 500,
                     .reason = "Server Internal Error",
                     .why = "out of memory"};
      return IMSEC_ERR_NOMEM;
    }
  }
  if (d)
    dlg_touch(e, d);
  t->dlg_bid = b->id;
  t->dlg_role = DR_CREATE | (toward_ue ? 0 : DR_UE_UAC) | (sub ? DR_SUB : 0);
  return 0;
}

/* ------------------------------------------------------------ responses */

void pc_dialog_on_response(ev *e, txn *t, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  if (!t->dlg_bid || m->status <= 100)
    return;
  int uac = t->dlg_role & DR_UE_UAC;
  /* The UE's tag and the far end's, by who sent the request. */
  imsec_str tag = uac ? from_tag(m) : to_tag(m);
  imsec_str far = uac ? to_tag(m) : from_tag(m), callid, key;
  if (!tag.len || imsec_sip_get_call_id(m, &callid) < 0 ||
      dlg_key(p, callid, tag, &key) < 0)
    return;
  dialog *d = dlg_find(p, key, t->dlg_bid);
  unsigned st = m->status;
  if (t->dlg_role & DR_CREATE) {
    if (st >= 300) {
      /* RFC 3261 §13.2.2.3, §12.3: the request failed; no 2xx came (a
       * proxy sends no final non-2xx after one), so the early dialogs of
       * every branch are over and no dialog is left. */
      if (d && !d->confirmed)
        dlg_end(p, d);
      return;
    }
    if (!d && !uac) {
      /* The UE answers with its To tag: now the dialog exists (RFC 3261
       * §12.1.1). A full table leaves it unrecorded: its in-dialog
       * requests are then refused, the call does not go on blindly. */
      binding *b = pc_binding_by_id(p, t->dlg_bid);
      if (!b)
        return;
      if (!dlg_room(p, t->dlg_bid)) {
        LOG(e, IMSEC_LOG_WARN, S("dialog table full: dialog of flow "),
            pc_num(p, b->flow ? b->flow->id : 0), S(" not recorded"));
        return;
      }
      d = dlg_add(e, t->dlg_bid, key, uas_identity(p, b, m),
                  (t->dlg_role & DR_SUB) != 0);
      if (!d)
        return;
    }
    if (!d)
      return;
    peer_add(d, far);
    if (st >= 200)
      d->confirmed = 1;
    dlg_touch(e, d);
    return;
  }
  if (!d)
    return;
  if (st == 481 || (st >= 200 && st < 300 &&
                    ((t->dlg_role & DR_BYE) ||
                     ((t->dlg_role & DR_NOTIFY) && d->subscription)))) {
    /* RFC 3261 §15.1.2 (BYE), §12.2.1.2 (481), RFC 6665 §4.4.1: this far
     * end's dialog is over; another fork's may go on. */
    if (peer_gone(d, far)) {
      LOG(e, IMSEC_LOG_DEBUG, S("dialog ended ("), pc_num(p, st), S(")"));
      dlg_end(p, d);
    }
  }
}

/* ------------------------------------------------------------ listing */

/* `imsec ctl dialogs` (docs/OPERATIONS.md): one row per dialog record. */
int pc_dialog_list(const imsec_pcscf *p, imsec_time_ms now, imsec_table *t) {
  static const char *const cols[] = {"call_id", "ue_tag",   "impi",      "kind",
                                     "state",   "far_ends", "idle_out_s"};
  int rv = imsec_table_init(t, cols, 7);
  if (rv < 0 || !p->dlg_ready)
    return rv;
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&p->dlgs, &it)) != NULL) {
    for (const dialog *d = s->val; d; d = d->next) {
      /* The key is "Call-ID SP UE tag" (dlg_key). */
      imsec_str key = imsec_str_c(d->key);
      long sp = imsec_str_find(key, ' ');
      imsec_str cid = sp >= 0 ? imsec_str_sub(key, 0, (size_t)sp) : key;
      imsec_str tag =
          sp >= 0 ? imsec_str_sub(key, (size_t)sp + 1, key.len - (size_t)sp - 1)
                  : S("");
      const binding *b = pc_binding_by_id(p, d->bid);
      char n[24], idle[24];
      imsec_fmt_u64(n, d->n_peers);
      imsec_fmt_u64(idle, d->idle_at > now
                              ? (uint64_t)(d->idle_at - now + 999) / 1000
                              : 0);
      imsec_str row[7] = {
          cid,
          tag,
          imsec_str_c(b ? b->impi : "-"),
          imsec_str_c(d->subscription ? "subscription" : "invite"),
          imsec_str_c(d->confirmed ? "confirmed" : "early"),
          imsec_str_c(n),
          imsec_str_c(idle)};
      imsec_table_addv(t, row);
    }
  }
  return t->err;
}
