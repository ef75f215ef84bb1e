/* Header field names: long and compact forms (RFC 3261 §7.3.3, §20; the
 * IANA SIP header registry), looked up case-insensitively. */
#include "sip_int.h"

static const char *const names[IMSEC_SIP_H_COUNT] = {
    "",
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Contact",
    "Expires",
    "Route",
    "Record-Route",
    "Path",
    "Service-Route",
    "Content-Length",
    "Content-Type",
    "Require",
    "Proxy-Require",
    "Supported",
    "Unsupported",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "WWW-Authenticate",
    "Authorization",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Authentication-Info",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "P-Associated-URI",
    "P-Visited-Network-ID",
    "P-Access-Network-Info",
    "Allow",
    "Accept",
    "Date",
    "Min-Expires",
    "Content-Encoding",
    "Subject",
    "Event",
    "Allow-Events",
    "Refer-To",
    "Referred-By",
    "Session-Expires",
    "Identity",
    "Accept-Contact",
    "Reject-Contact",
    "Request-Disposition",
    "Identity-Info",
    "User-Agent",
    "Server",
    "Warning",
    "Retry-After",
};

const char *imsec_sip_hid_name(imsec_sip_hid id) {
  return (unsigned)id < IMSEC_SIP_H_COUNT ? names[id] : "";
}

/* `lit` is lower case. Exact per octet (a CR does not pass for '-'), so
 * a name that matches is a token. */
static int is(const char *p, const char *lit, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (lx_lower((unsigned char)p[i]) != (unsigned char)lit[i])
      return 0;
  }
  return 1;
}

imsec_sip_hid imsec_sip_hid_lookup(imsec_str name) {
  const char *p = name.p;
  switch (name.len) {
  case 1:
    /* `| 0x20` maps only upper-case letters onto letters */
    switch (p[0] | 0x20) {
    case 'a':
      return IMSEC_SIP_H_ACCEPT_CONTACT;
    case 'b':
      return IMSEC_SIP_H_REFERRED_BY;
    case 'c':
      return IMSEC_SIP_H_CONTENT_TYPE;
    case 'd':
      return IMSEC_SIP_H_REQUEST_DISPOSITION;
    case 'e':
      return IMSEC_SIP_H_CONTENT_ENCODING;
    case 'f':
      return IMSEC_SIP_H_FROM;
    case 'i':
      return IMSEC_SIP_H_CALL_ID;
    case 'j':
      return IMSEC_SIP_H_REJECT_CONTACT;
    case 'k':
      return IMSEC_SIP_H_SUPPORTED;
    case 'l':
      return IMSEC_SIP_H_CONTENT_LENGTH;
    case 'm':
      return IMSEC_SIP_H_CONTACT;
    case 'n':
      return IMSEC_SIP_H_IDENTITY_INFO;
    case 'o':
      return IMSEC_SIP_H_EVENT;
    case 'r':
      return IMSEC_SIP_H_REFER_TO;
    case 's':
      return IMSEC_SIP_H_SUBJECT;
    case 't':
      return IMSEC_SIP_H_TO;
    case 'u':
      return IMSEC_SIP_H_ALLOW_EVENTS;
    case 'v':
      return IMSEC_SIP_H_VIA;
    case 'x':
      return IMSEC_SIP_H_SESSION_EXPIRES;
    case 'y':
      return IMSEC_SIP_H_IDENTITY;
    default:
      return IMSEC_SIP_H_OTHER;
    }
  case 2:
    if (is(p, "to", 2))
      return IMSEC_SIP_H_TO;
    return IMSEC_SIP_H_OTHER;
  case 3:
    if (is(p, "via", 3))
      return IMSEC_SIP_H_VIA;
    return IMSEC_SIP_H_OTHER;
  case 4:
    if (is(p, "from", 4))
      return IMSEC_SIP_H_FROM;
    if (is(p, "cseq", 4))
      return IMSEC_SIP_H_CSEQ;
    if (is(p, "path", 4))
      return IMSEC_SIP_H_PATH;
    if (is(p, "date", 4))
      return IMSEC_SIP_H_DATE;
    return IMSEC_SIP_H_OTHER;
  case 5:
    if (is(p, "route", 5))
      return IMSEC_SIP_H_ROUTE;
    if (is(p, "allow", 5))
      return IMSEC_SIP_H_ALLOW;
    if (is(p, "event", 5))
      return IMSEC_SIP_H_EVENT;
    return IMSEC_SIP_H_OTHER;
  case 6:
    if (is(p, "accept", 6))
      return IMSEC_SIP_H_ACCEPT;
    if (is(p, "server", 6))
      return IMSEC_SIP_H_SERVER;
    return IMSEC_SIP_H_OTHER;
  case 7:
    if (is(p, "call-id", 7))
      return IMSEC_SIP_H_CALL_ID;
    if (is(p, "contact", 7))
      return IMSEC_SIP_H_CONTACT;
    if (is(p, "expires", 7))
      return IMSEC_SIP_H_EXPIRES;
    if (is(p, "require", 7))
      return IMSEC_SIP_H_REQUIRE;
    if (is(p, "subject", 7))
      return IMSEC_SIP_H_SUBJECT;
    if (is(p, "warning", 7))
      return IMSEC_SIP_H_WARNING;
    return IMSEC_SIP_H_OTHER;
  case 8:
    if (is(p, "refer-to", 8))
      return IMSEC_SIP_H_REFER_TO;
    if (is(p, "identity", 8))
      return IMSEC_SIP_H_IDENTITY;
    return IMSEC_SIP_H_OTHER;
  case 9:
    if (is(p, "supported", 9))
      return IMSEC_SIP_H_SUPPORTED;
    return IMSEC_SIP_H_OTHER;
  case 10:
    if (is(p, "user-agent", 10))
      return IMSEC_SIP_H_USER_AGENT;
    return IMSEC_SIP_H_OTHER;
  case 11:
    if (is(p, "unsupported", 11))
      return IMSEC_SIP_H_UNSUPPORTED;
    if (is(p, "min-expires", 11))
      return IMSEC_SIP_H_MIN_EXPIRES;
    if (is(p, "referred-by", 11))
      return IMSEC_SIP_H_REFERRED_BY;
    if (is(p, "retry-after", 11))
      return IMSEC_SIP_H_RETRY_AFTER;
    return IMSEC_SIP_H_OTHER;
  case 12:
    if (is(p, "max-forwards", 12))
      return IMSEC_SIP_H_MAX_FORWARDS;
    if (is(p, "record-route", 12))
      return IMSEC_SIP_H_RECORD_ROUTE;
    if (is(p, "content-type", 12))
      return IMSEC_SIP_H_CONTENT_TYPE;
    if (is(p, "allow-events", 12))
      return IMSEC_SIP_H_ALLOW_EVENTS;
    return IMSEC_SIP_H_OTHER;
  case 13:
    if (is(p, "service-route", 13))
      return IMSEC_SIP_H_SERVICE_ROUTE;
    if (is(p, "proxy-require", 13))
      return IMSEC_SIP_H_PROXY_REQUIRE;
    if (is(p, "authorization", 13))
      return IMSEC_SIP_H_AUTHORIZATION;
    if (is(p, "identity-info", 13))
      return IMSEC_SIP_H_IDENTITY_INFO;
    return IMSEC_SIP_H_OTHER;
  case 14:
    if (is(p, "content-length", 14))
      return IMSEC_SIP_H_CONTENT_LENGTH;
    if (is(p, "accept-contact", 14))
      return IMSEC_SIP_H_ACCEPT_CONTACT;
    if (is(p, "reject-contact", 14))
      return IMSEC_SIP_H_REJECT_CONTACT;
    return IMSEC_SIP_H_OTHER;
  case 15:
    if (is(p, "security-client", 15))
      return IMSEC_SIP_H_SECURITY_CLIENT;
    if (is(p, "security-server", 15))
      return IMSEC_SIP_H_SECURITY_SERVER;
    if (is(p, "security-verify", 15))
      return IMSEC_SIP_H_SECURITY_VERIFY;
    if (is(p, "session-expires", 15))
      return IMSEC_SIP_H_SESSION_EXPIRES;
    return IMSEC_SIP_H_OTHER;
  case 16:
    if (is(p, "www-authenticate", 16))
      return IMSEC_SIP_H_WWW_AUTHENTICATE;
    if (is(p, "p-associated-uri", 16))
      return IMSEC_SIP_H_P_ASSOCIATED_URI;
    if (is(p, "content-encoding", 16))
      return IMSEC_SIP_H_CONTENT_ENCODING;
    return IMSEC_SIP_H_OTHER;
  case 18:
    if (is(p, "proxy-authenticate", 18))
      return IMSEC_SIP_H_PROXY_AUTHENTICATE;
    return IMSEC_SIP_H_OTHER;
  case 19:
    if (is(p, "proxy-authorization", 19))
      return IMSEC_SIP_H_PROXY_AUTHORIZATION;
    if (is(p, "authentication-info", 19))
      return IMSEC_SIP_H_AUTHENTICATION_INFO;
    if (is(p, "p-asserted-identity", 19))
      return IMSEC_SIP_H_P_ASSERTED_IDENTITY;
    if (is(p, "request-disposition", 19))
      return IMSEC_SIP_H_REQUEST_DISPOSITION;
    return IMSEC_SIP_H_OTHER;
  case 20:
    if (is(p, "p-preferred-identity", 20))
      return IMSEC_SIP_H_P_PREFERRED_IDENTITY;
    if (is(p, "p-visited-network-id", 20))
      return IMSEC_SIP_H_P_VISITED_NETWORK_ID;
    return IMSEC_SIP_H_OTHER;
  case 21:
    if (is(p, "p-access-network-info", 21))
      return IMSEC_SIP_H_P_ACCESS_NETWORK_INFO;
    return IMSEC_SIP_H_OTHER;
  default:
    return IMSEC_SIP_H_OTHER;
  }
}
