/* IMS identities: TS 23.003 clause 13 derivation, host names, IMPI and
 * IMPU syntax. */
#include "imsec/ident.h"

/* ---------------------------------------------------------- host names */

imsec_str imsec_dns_name_trim(imsec_str s) {
  if (s.len > 0 && s.p[s.len - 1] == '.')
    s.len--;
  return s;
}

int imsec_dns_name_valid(imsec_str s) {
  s = imsec_dns_name_trim(s);
  if (s.len == 0 || s.len > IMSEC_DOMAIN_MAX)
    return 0;
  size_t label_start = 0;
  int last_all_digits = 1;
  for (size_t i = 0; i <= s.len; i++) {
    if (i == s.len || s.p[i] == '.') {
      size_t n = i - label_start;
      /* RFC 1035 §2.3.4 / RFC 1123 §2.1: 1..63, no hyphen at either end. */
      if (n == 0 || n > 63 || s.p[label_start] == '-' || s.p[i - 1] == '-')
        return 0;
      if (i == s.len)
        break;
      label_start = i + 1;
      last_all_digits = 1;
      continue;
    }
    int ch = (unsigned char)s.p[i];
    if (!imsec_is_alnum(ch) && ch != '-')
      return 0;
    if (!imsec_is_digit(ch))
      last_all_digits = 0;
  }
  /* RFC 3261 §25.1 toplabel starts with a letter; an all-digit last label
   * would make "10.0.0.1" a host name. */
  return !last_all_digits;
}

int imsec_dns_name_eq(imsec_str a, imsec_str b) {
  return imsec_str_ieq(imsec_dns_name_trim(a), imsec_dns_name_trim(b));
}

int imsec_dns_name_within(imsec_str name, imsec_str domain) {
  name = imsec_dns_name_trim(name);
  domain = imsec_dns_name_trim(domain);
  if (domain.len == 0 || name.len < domain.len)
    return 0;
  if (!imsec_str_iends_with(name, domain))
    return 0;
  /* CR to TS 33.203 clause 8.1: containment per whole label, so the
   * character before the suffix must be a label boundary. */
  return name.len == domain.len || name.p[name.len - domain.len - 1] == '.';
}

/* ---------------------------------------------------------- derivation */

static int all_digits(imsec_str s) {
  for (size_t i = 0; i < s.len; i++) {
    if (!imsec_is_digit((unsigned char)s.p[i]))
      return 0;
  }
  return 1;
}

/* Append `s` at *pos in buf (cap); fails with IMSEC_ERR_NOBUF. */
static int put(char *buf, size_t cap, size_t *pos, imsec_str s) {
  if (*pos + s.len + 1 > cap)
    return IMSEC_ERR_NOBUF;
  for (size_t i = 0; i < s.len; i++)
    buf[*pos + i] = s.p[i];
  *pos += s.len;
  buf[*pos] = '\0';
  return 0;
}

int imsec_ident_operator_domain(imsec_str mcc, imsec_str mnc, imsec_str suffix,
                                char *buf, size_t cap) {
  if (mcc.len != 3 || !all_digits(mcc) || mnc.len < 2 || mnc.len > 3 ||
      !all_digits(mnc))
    return IMSEC_ERR_PARSE;
  size_t pos = 0;
  if (cap == 0)
    return IMSEC_ERR_NOBUF;
  buf[0] = '\0';
  /* TS 23.003 §13.2: a two-digit MNC gets a leading zero. */
  IMSEC_GUARD(put(buf, cap, &pos, IMSEC_STR_LIT("ims.mnc")));
  if (mnc.len == 2)
    IMSEC_GUARD(put(buf, cap, &pos, IMSEC_STR_LIT("0")));
  IMSEC_GUARD(put(buf, cap, &pos, mnc));
  IMSEC_GUARD(put(buf, cap, &pos, IMSEC_STR_LIT(".mcc")));
  IMSEC_GUARD(put(buf, cap, &pos, mcc));
  IMSEC_GUARD(put(buf, cap, &pos, IMSEC_STR_LIT(".")));
  IMSEC_GUARD(put(buf, cap, &pos, suffix));
  return (int)pos;
}

int imsec_ident_from_imsi(imsec_str imsi, unsigned mnc_len,
                          imsec_ident_derived *out) {
  if (mnc_len != 2 && mnc_len != 3)
    return IMSEC_ERR_INVAL;
  /* TS 23.003 §2.2: MCC (3) + MNC (2 or 3) + MSIN, at most 15 digits; we
   * ask for at least one MSIN digit. */
  if (imsi.len < 3 + mnc_len + 1 || imsi.len > 15 || !all_digits(imsi))
    return IMSEC_ERR_PARSE;
  imsec_str mcc = imsec_str_sub(imsi, 0, 3);
  imsec_str mnc = imsec_str_sub(imsi, 3, mnc_len);
  IMSEC_GUARD(imsec_str_copy(mcc, out->mcc, sizeof(out->mcc)));
  out->mnc[0] = '0';
  IMSEC_GUARD(imsec_str_copy(mnc, out->mnc + (mnc_len == 2),
                             sizeof(out->mnc) - (mnc_len == 2)));
  int n =
      imsec_ident_operator_domain(mcc, mnc, IMSEC_STR_LIT(IMSEC_3GPP_DOMAIN),
                                  out->home_domain, sizeof(out->home_domain));
  IMSEC_GUARD(n);
  imsec_str home = imsec_str_make(out->home_domain, (size_t)n);
  /* §13.3: the IMPI is IMSI@home network domain name. */
  size_t pos = 0;
  IMSEC_GUARD(put(out->impi, sizeof(out->impi), &pos, imsi));
  IMSEC_GUARD(put(out->impi, sizeof(out->impi), &pos, IMSEC_STR_LIT("@")));
  IMSEC_GUARD(put(out->impi, sizeof(out->impi), &pos, home));
  /* §13.4B: the temporary IMPU is sip:IMSI@home network domain name. */
  pos = 0;
  IMSEC_GUARD(put(out->impu, sizeof(out->impu), &pos, IMSEC_STR_LIT("sip:")));
  IMSEC_GUARD(put(out->impu, sizeof(out->impu), &pos, imsec_str_c(out->impi)));
  return 0;
}

/* ---------------------------------------------------------------- IMPI */

/* RFC 4282 §2.1 "char" of a NAI username: atext of RFC 2822 plus '.'
 * between characters. */
static int nai_char(int ch) {
  if (imsec_is_alnum(ch))
    return 1;
  switch (ch) {
  case '!':
  case '#':
  case '$':
  case '%':
  case '&':
  case '\'':
  case '*':
  case '+':
  case '-':
  case '/':
  case '=':
  case '?':
  case '^':
  case '_':
  case '`':
  case '{':
  case '|':
  case '}':
  case '~':
    return 1;
  default:
    return 0;
  }
}

int imsec_impi_parse(imsec_str s, imsec_impi *out) {
  long at = -1;
  for (size_t i = 0; i < s.len; i++) {
    if (s.p[i] == '@')
      at = (long)i; /* the realm follows the last '@' */
  }
  if (at <= 0)
    return IMSEC_ERR_PARSE;
  imsec_str user = imsec_str_sub(s, 0, (size_t)at);
  imsec_str realm = imsec_str_sub(s, (size_t)at + 1, s.len);
  /* RFC 4282 §2.1: dot-separated runs of "char"; no empty run. */
  int prev_dot = 1;
  for (size_t i = 0; i < user.len; i++) {
    int ch = (unsigned char)user.p[i];
    if (ch == '.') {
      if (prev_dot)
        return IMSEC_ERR_PARSE;
      prev_dot = 1;
    } else if (nai_char(ch)) {
      prev_dot = 0;
    } else {
      return IMSEC_ERR_PARSE;
    }
  }
  if (prev_dot)
    return IMSEC_ERR_PARSE;
  /* The realm of an IMPI is a domain name without a trailing dot. */
  if (!imsec_dns_name_valid(realm) || realm.p[realm.len - 1] == '.')
    return IMSEC_ERR_PARSE;
  out->user = user;
  out->realm = realm;
  return 0;
}

long imsec_ident_bad_char(imsec_str s) {
  for (size_t i = 0; i < s.len; i++) {
    unsigned char ch = (unsigned char)s.p[i];
    if (ch < 0x20 || ch == 0x7f || ch == ' ' || ch == '"' || ch == '\'' ||
        ch == '\\' || ch == '<' || ch == '>')
      return (long)i;
  }
  return -1;
}

/* ---------------------------------------------------------------- IMPU */

static int sip_user_char(int ch) {
  /* RFC 3261 §25.1: unreserved / user-unreserved; '%' checked apart. */
  if (imsec_is_alnum(ch))
    return 1;
  switch (ch) {
  case '-':
  case '_':
  case '.':
  case '!':
  case '~':
  case '*':
  case '\'':
  case '(':
  case ')':
  case '&':
  case '=':
  case '+':
  case '$':
  case ',':
  case ';':
  case '?':
  case '/':
    return 1;
  default:
    return 0;
  }
}

/* Parameters and headers after the host: printable, no spaces, escapes
 * well formed. The semantics belong to the full SIP parser (lib/sip). */
static int rest_ok(imsec_str r) {
  for (size_t i = 0; i < r.len; i++) {
    int ch = (unsigned char)r.p[i];
    if (ch <= 0x20 || ch >= 0x7f || ch == '<' || ch == '>' || ch == '"')
      return 0;
    if (ch == '%') {
      if (i + 2 >= r.len || !imsec_is_hexdigit((unsigned char)r.p[i + 1]) ||
          !imsec_is_hexdigit((unsigned char)r.p[i + 2]))
        return 0;
    }
  }
  return 1;
}

static int escapes_ok(imsec_str s) {
  for (size_t i = 0; i < s.len; i++) {
    if (s.p[i] != '%')
      continue;
    if (i + 2 >= s.len || !imsec_is_hexdigit((unsigned char)s.p[i + 1]) ||
        !imsec_is_hexdigit((unsigned char)s.p[i + 2]))
      return 0;
  }
  return 1;
}

static int ipv4_valid(imsec_str s) {
  size_t parts = 0, i = 0;
  while (i <= s.len) {
    size_t start = i;
    while (i < s.len && imsec_is_digit((unsigned char)s.p[i]))
      i++;
    uint64_t v;
    if (i - start == 0 || i - start > 3 ||
        imsec_str_to_u64(imsec_str_sub(s, start, i - start), 255, &v) != 0)
      return 0;
    parts++;
    if (i == s.len)
      break;
    if (s.p[i] != '.')
      return 0;
    i++;
  }
  return parts == 4;
}

static int ipv6_ref_valid(imsec_str s) {
  /* "[" IPv6address "]": hex digits, ':' and '.', at least two ':'. */
  if (s.len < 4 || s.p[0] != '[' || s.p[s.len - 1] != ']')
    return 0;
  size_t colons = 0;
  for (size_t i = 1; i + 1 < s.len; i++) {
    int ch = (unsigned char)s.p[i];
    if (ch == ':')
      colons++;
    else if (!imsec_is_hexdigit(ch) && ch != '.')
      return 0;
  }
  return colons >= 2 && colons <= 7;
}

static int parse_sip(imsec_str s, imsec_impu *out) {
  /* RFC 3261 §19.1.1: [userinfo "@"] hostport uri-parameters [headers].
   * The userinfo ends at the last '@' before any ';' or '?' of the host
   * part; users may contain ';' and '?' themselves, so search for '@'
   * over the whole text first. */
  long at = -1;
  for (size_t i = 0; i < s.len; i++) {
    if (s.p[i] == '@')
      at = (long)i;
  }
  imsec_str user = IMSEC_STR_NULL;
  imsec_str rest = s;
  if (at >= 0) {
    user = imsec_str_sub(s, 0, (size_t)at);
    rest = imsec_str_sub(s, (size_t)at + 1, s.len);
    if (user.len == 0)
      return IMSEC_ERR_PARSE;
    /* A password (user:password) is not part of an identity. */
    for (size_t i = 0; i < user.len; i++) {
      int ch = (unsigned char)user.p[i];
      if (ch != '%' && !sip_user_char(ch))
        return IMSEC_ERR_PARSE;
    }
    if (!escapes_ok(user))
      return IMSEC_ERR_PARSE;
  }
  /* hostport ends at ';' or '?'. */
  size_t end = 0;
  while (end < rest.len && rest.p[end] != ';' && rest.p[end] != '?')
    end++;
  imsec_str hostport = imsec_str_sub(rest, 0, end);
  imsec_str tail = imsec_str_sub(rest, end, rest.len);
  if (!rest_ok(tail))
    return IMSEC_ERR_PARSE;
  imsec_str host = hostport;
  /* The port follows the last ':' that is outside an IPv6 reference. */
  size_t colon = hostport.len;
  for (size_t i = hostport.len; i > 0; i--) {
    if (hostport.p[i - 1] == ']')
      break;
    if (hostport.p[i - 1] == ':') {
      colon = i - 1;
      break;
    }
  }
  if (colon < hostport.len) {
    uint64_t port;
    imsec_str ps = imsec_str_sub(hostport, colon + 1, hostport.len);
    if (ps.len > 5 || imsec_str_to_u64(ps, 65535, &port) != 0)
      return IMSEC_ERR_PARSE;
    host = imsec_str_sub(hostport, 0, colon);
  }
  if (host.len == 0)
    return IMSEC_ERR_PARSE;
  out->host_is_name = 0;
  if (imsec_dns_name_valid(host))
    out->host_is_name = 1;
  else if (!ipv4_valid(host) && !ipv6_ref_valid(host))
    return IMSEC_ERR_PARSE;
  out->user = user;
  out->host = host;
  return 0;
}

static int tel_visual(int ch) {
  return ch == '-' || ch == '.' || ch == '(' || ch == ')';
}

static int parse_tel(imsec_str s, imsec_impu *out) {
  /* RFC 3966 §3: global-number-digits / local-number-digits, then
   * parameters; a local number needs a phone-context. */
  size_t end = 0;
  while (end < s.len && s.p[end] != ';')
    end++;
  imsec_str number = imsec_str_sub(s, 0, end);
  if (number.len == 0)
    return IMSEC_ERR_PARSE;
  int global = number.p[0] == '+';
  size_t digits = 0;
  for (size_t i = global ? 1 : 0; i < number.len; i++) {
    int ch = (unsigned char)number.p[i];
    if (imsec_is_digit(ch))
      digits++;
    else if (!global && (imsec_is_hexdigit(ch) || ch == '*' || ch == '#'))
      digits++;
    else if (!tel_visual(ch))
      return IMSEC_ERR_PARSE;
  }
  if (digits == 0)
    return IMSEC_ERR_PARSE;
  out->number = number;
  out->context = IMSEC_STR_NULL;
  out->context_is_name = 0;
  imsec_str params = imsec_str_sub(s, end, s.len);
  while (params.len > 0) {
    /* params starts with ';' */
    size_t n = 1;
    while (n < params.len && params.p[n] != ';')
      n++;
    imsec_str par = imsec_str_sub(params, 1, n - 1);
    params = imsec_str_sub(params, n, params.len);
    if (par.len == 0 || !rest_ok(par))
      return IMSEC_ERR_PARSE;
    imsec_str key = IMSEC_STR_LIT("phone-context=");
    if (imsec_str_istarts_with(par, key)) {
      if (out->context.len)
        return IMSEC_ERR_PARSE;
      out->context = imsec_str_sub(par, key.len, par.len);
      if (out->context.len == 0)
        return IMSEC_ERR_PARSE;
    }
  }
  if (out->context.len) {
    if (out->context.p[0] == '+') {
      for (size_t i = 1; i < out->context.len; i++) {
        int ch = (unsigned char)out->context.p[i];
        if (!imsec_is_digit(ch) && !tel_visual(ch))
          return IMSEC_ERR_PARSE;
      }
    } else if (imsec_dns_name_valid(out->context)) {
      out->context_is_name = 1;
    } else {
      return IMSEC_ERR_PARSE;
    }
  } else if (!global) {
    return IMSEC_ERR_PARSE; /* RFC 3966 §5.1.5 */
  }
  return 0;
}

int imsec_impu_parse(imsec_str s, imsec_impu *out) {
  imsec_impu u = {0};
  int rv;
  if (imsec_str_istarts_with(s, IMSEC_STR_LIT("sip:"))) {
    u.scheme = IMSEC_IMPU_SIP;
    rv = parse_sip(imsec_str_sub(s, 4, s.len), &u);
  } else if (imsec_str_istarts_with(s, IMSEC_STR_LIT("sips:"))) {
    u.scheme = IMSEC_IMPU_SIPS;
    rv = parse_sip(imsec_str_sub(s, 5, s.len), &u);
  } else if (imsec_str_istarts_with(s, IMSEC_STR_LIT("tel:"))) {
    u.scheme = IMSEC_IMPU_TEL;
    rv = parse_tel(imsec_str_sub(s, 4, s.len), &u);
  } else {
    return IMSEC_ERR_PARSE;
  }
  if (rv < 0)
    return rv;
  *out = u;
  return 0;
}

int imsec_impu_domain(const imsec_impu *u, imsec_str *out) {
  if (u->scheme == IMSEC_IMPU_TEL) {
    if (!u->context_is_name)
      return 0;
    *out = u->context;
    return 1;
  }
  if (!u->host_is_name)
    return 0;
  *out = u->host;
  return 1;
}
