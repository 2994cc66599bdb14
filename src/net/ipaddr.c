/* ipaddr.c - IPv4/IPv6 host addresses as one value (ipaddr.h). */
#include "ipaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const unsigned char MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void from_v4(const void *a4, mc_ip *ip)
{
    memcpy(ip->b, MAPPED, 12);
    memcpy(ip->b + 12, a4, 4);
}

int mc_ip_from_sockaddr(const struct sockaddr *sa, mc_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    if (!sa) return 0;
    if (sa->sa_family == AF_INET) {
        from_v4(&((const struct sockaddr_in *)sa)->sin_addr, ip);
        return 1;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(ip->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 1;
    }
    return 0;
}

int mc_ip_parse(const char *s, mc_ip *ip)
{
    struct in_addr a4;
    memset(ip, 0, sizeof *ip);
    if (inet_pton(AF_INET, s, &a4) == 1) {
        from_v4(&a4, ip);
        return 1;
    }
    return inet_pton(AF_INET6, s, ip->b) == 1;
}

static int is_v4(const mc_ip *ip) { return !memcmp(ip->b, MAPPED, 12); }

const char *mc_ip_str(const mc_ip *ip, char *b, size_t n)
{
    const char *ok = is_v4(ip) ? inet_ntop(AF_INET, ip->b + 12, b, (socklen_t)n)
                               : inet_ntop(AF_INET6, ip->b, b, (socklen_t)n);
    if (!ok && n) snprintf(b, n, "?");
    return b;
}

int mc_ip_equal(const mc_ip *a, const mc_ip *b) { return !memcmp(a->b, b->b, 16); }

int mc_ip_is_any(const mc_ip *ip)
{
    static const unsigned char zero[16];
    return !memcmp(ip->b, zero, 16) || (is_v4(ip) && !memcmp(ip->b + 12, zero, 4));
}

int mc_ip_is_loopback(const mc_ip *ip)
{
    static const unsigned char one[16] = {[15] = 1};
    return (is_v4(ip) && ip->b[12] == 127) || !memcmp(ip->b, one, 16);
}

void mc_ip_hostport(const mc_ip *ip, int port, char *out, size_t n)
{
    char h[INET6_ADDRSTRLEN];
    mc_ip_str(ip, h, sizeof h);
    snprintf(out, n, is_v4(ip) ? "%s:%d" : "[%s]:%d", h, port);
}

int mc_ip_parse_hostport(const char *s, mc_ip *ip, int *port)
{
    char host[INET6_ADDRSTRLEN + 1];
    int k = 0;
    if (s[0] == '[') {
        if (sscanf(s, "[%46[0-9a-fA-F:.]]:%d%n", host, port, &k) != 2 || s[k]) return 0;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) return 0;
        memcpy(ip->b, &a6, 16);
        return 1;
    }
    if (sscanf(s, "%15[0-9.]:%d%n", host, port, &k) != 2 || s[k]) return 0;
    return mc_ip_parse(host, ip) && is_v4(ip);
}
