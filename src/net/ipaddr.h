/* ipaddr.h - an IPv4 or IPv6 host address as one comparable value.
 *
 * The HTTP layer keys connections, listen addresses and sealed recipients by
 * host address; IPv4 addresses are held as IPv4-mapped IPv6 (::ffff:a.b.c.d)
 * so one 16-byte compare serves both families. */
#ifndef MC_IPADDR_H
#define MC_IPADDR_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct mc_ip {
    unsigned char b[16];
} mc_ip;

/* From a socket address (AF_INET or AF_INET6); 0 if neither. */
int mc_ip_from_sockaddr(const struct sockaddr *sa, mc_ip *ip);
/* From text: "a.b.c.d" or an IPv6 address (no brackets); 0 if neither. */
int mc_ip_parse(const char *s, mc_ip *ip);
/* "a.b.c.d" for IPv4(-mapped), else the IPv6 text; returns b. */
const char *mc_ip_str(const mc_ip *ip, char *b, size_t n);
int mc_ip_equal(const mc_ip *a, const mc_ip *b);
int mc_ip_is_any(const mc_ip *ip);      /* 0.0.0.0 or :: */
int mc_ip_is_loopback(const mc_ip *ip); /* 127/8 or ::1 */
/* "host:port" with brackets around an IPv6 host ("[::1]:9000"), the form a
 * sealed request names its recipient in. */
void mc_ip_hostport(const mc_ip *ip, int port, char *out, size_t n);
/* Parses "a.b.c.d:port" or "[v6]:port"; 0 if it is neither. */
int mc_ip_parse_hostport(const char *s, mc_ip *ip, int *port);

#endif
