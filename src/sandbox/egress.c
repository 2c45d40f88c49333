/* egress.c — Network "egress" (egress.h): the host's nftables table, the
 * block of addresses this daemon claims, and per instance a veth pair made
 * over rtnetlink (no `ip` process: a pool refill must cost little).
 *
 * Runs in the spawner, single-threaded, as root. Must never: touch a rule
 * outside its own table, leave the spawner in an instance's network
 * namespace, or give two live instances one address.
 */
#define _GNU_SOURCE
#include "sandbox/egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define POOL_NET 0x0afe0000u      /* 10.254.0.0/16: every daemon's instances */
#define BLOCKS 64                 /* /22 blocks of it, one a daemon */
#define LOCK_DIR "/run/nimbus"
#define PEER_IFINDEX 2            /* eth0 inside: the namespace has only lo (1) */

static struct {
    int state;                    /* 0 not tried, 1 ready, -1 unavailable */
    char why[200];
    int block, lock_fd;
    bool forward_set;             /* ip_forward was 0 and we made it 1 */
    unsigned next;                /* where the search for a free slot starts */
    bool used[EGRESS_PER_BLOCK];
} E = { .lock_fd = -1 };

/* ---- the host's side ---- */

static const char *nft_path(void)
{
    static const char *const paths[] = { "/usr/sbin/nft", "/sbin/nft", NULL };
    for (int i = 0; paths[i]; i++)
        if (access(paths[i], X_OK) == 0) return paths[i];
    return NULL;
}

/* Run `nft -f -` on `script`; 0 when it exits 0. */
static int nft_run(const char *script)
{
    const char *nft = nft_path();
    if (!nft) { errno = ENOENT; return -1; }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -1;
    pid_t pid = fork();
    if (pid < 0) { close(p[0]); close(p[1]); return -1; }
    if (pid == 0) {
        dup2(p[0], 0);
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0) { dup2(dn, 1); dup2(dn, 2); }
        signal(SIGPIPE, SIG_DFL);
        execl(nft, "nft", "-f", "-", (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    size_t len = strlen(script), off = 0;
    while (off < len) {
        ssize_t w = write(p[1], script + off, len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(p[1]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { errno = EPROTO; return -1; }
    return 0;
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t w = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    if (w != (ssize_t)strlen(text)) { errno = w < 0 ? e : EIO; return -1; }
    return 0;
}

static bool forwarding_on(void)
{
    char c = '0';
    int fd = open("/proc/sys/net/ipv4/ip_forward", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) { if (read(fd, &c, 1) != 1) c = '0'; close(fd); }
    return c == '1';
}

static void block_cidr(int block, char *buf, size_t n)
{
    uint32_t a = POOL_NET | ((uint32_t)block << 10);
    snprintf(buf, n, "%u.%u.%u.0/22", a >> 24, (a >> 16) & 255, (a >> 8) & 255);
}

static int install_table(void)
{
    char cidr[32], script[2048];
    block_cidr(E.block, cidr, sizeof cidr);
    int b = E.block;
    /* Declared, flushed and made again in one transaction: whatever a
     * daemon killed outright left under this name goes. Rejections (not
     * drops) so a refused connect fails at once. */
    snprintf(script, sizeof script,
             "table inet nimbus_egress_%d\n"
             "delete table inet nimbus_egress_%d\n"
             "table inet nimbus_egress_%d {\n"
             "  chain input {\n"
             "    type filter hook input priority -10; policy accept;\n"
             "    iifname \"nbe%dx*\" reject with icmpx type admin-prohibited\n"
             "  }\n"
             "  chain forward {\n"
             "    type filter hook forward priority -10; policy accept;\n"
             "    iifname \"nbe%dx*\" meta nfproto ipv6 drop\n"
             "    iifname \"nbe%dx*\" ip saddr != %s drop\n"
             "    iifname \"nbe%dx*\" ip daddr { 10.254.0.0/16, 127.0.0.0/8, 169.254.0.0/16, 0.0.0.0/8, "
             "224.0.0.0/3 } reject with icmpx type admin-prohibited\n"
             "    iifname \"nbe%dx*\" oifname \"nbe*\" reject with icmpx type admin-prohibited\n"
             "    oifname \"nbe%dx*\" ct state established,related accept\n"
             "    oifname \"nbe%dx*\" drop\n"
             "  }\n"
             "  chain postrouting {\n"
             "    type nat hook postrouting priority 100; policy accept;\n"
             "    ip saddr %s oifname != \"nbe%dx*\" masquerade\n"
             "  }\n"
             "}\n",
             b, b, b, b, b, b, cidr, b, b, b, b, cidr, b);
    return nft_run(script);
}

static int claim_block(void)
{
    mkdir(LOCK_DIR, 0755);
    for (int b = 0; b < BLOCKS; b++) {
        char p[64];
        snprintf(p, sizeof p, LOCK_DIR "/egress-%d.lock", b);
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) return -1;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            E.block = b;
            E.lock_fd = fd;
            return 0;
        }
        close(fd);
    }
    errno = EADDRINUSE;
    return -1;
}

int egress_prepare(char *why, size_t n)
{
    if (E.state == 0) {
        E.state = -1;
        if (geteuid() != 0)
            snprintf(E.why, sizeof E.why, "needs the daemon started as root (rootless sandboxes have no way to the host's network)");
        else if (!nft_path())
            snprintf(E.why, sizeof E.why, "needs nft (Debian's nftables package)");
        else if (claim_block() < 0)
            snprintf(E.why, sizeof E.why, "no free address block in 10.254.0.0/16: %s", strerror(errno));
        else if (install_table() < 0)
            snprintf(E.why, sizeof E.why, "nft could not install table inet nimbus_egress_%d", E.block);
        else {
            if (!forwarding_on()) {
                if (write_text("/proc/sys/net/ipv4/ip_forward", "1") == 0) E.forward_set = true;
                else snprintf(E.why, sizeof E.why, "cannot turn on IPv4 forwarding: %s", strerror(errno));
            }
            if (!E.why[0]) E.state = 1;
        }
        if (E.state < 0 && E.lock_fd >= 0) egress_teardown();
    }
    if (E.state < 0) snprintf(why, n, "%s", E.why);
    return E.state > 0 ? 0 : -1;
}

/* Another daemon's block still claimed (its lock held)? */
static bool other_blocks_claimed(void)
{
    for (int b = 0; b < BLOCKS; b++) {
        if (b == E.block) continue;
        char p[64];
        snprintf(p, sizeof p, LOCK_DIR "/egress-%d.lock", b);
        int fd = open(p, O_RDWR | O_CLOEXEC);
        if (fd < 0) continue;
        bool held = flock(fd, LOCK_EX | LOCK_NB) < 0;
        close(fd);
        if (held) return true;
    }
    return false;
}

void egress_teardown(void)
{
    if (E.lock_fd < 0) return;
    char script[128];
    snprintf(script, sizeof script, "table inet nimbus_egress_%d\ndelete table inet nimbus_egress_%d\n",
             E.block, E.block);
    nft_run(script);
    /* Forwarding goes back off only when no other daemon's instances need it. */
    if (E.forward_set && !other_blocks_claimed()) write_text("/proc/sys/net/ipv4/ip_forward", "0");
    close(E.lock_fd);
    E.lock_fd = -1;
    E.state = 0;
    E.forward_set = false;
}

/* ---- rtnetlink ---- */

typedef union {
    struct nlmsghdr h;
    char buf[1024];
} nlreq_t;

static void *nl_tail(nlreq_t *r) { return r->buf + NLMSG_ALIGN(r->h.nlmsg_len); }

static struct rtattr *nl_attr(nlreq_t *r, unsigned short type, const void *data, size_t len)
{
    struct rtattr *a = nl_tail(r);
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
    return a;
}

static void nl_end(nlreq_t *r, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)nl_tail(r) - (char *)nest);
}

static void nl_init(nlreq_t *r, unsigned short type, unsigned short flags, const void *hdr, size_t len)
{
    memset(r, 0, sizeof *r);
    r->h.nlmsg_type = type;
    r->h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
    r->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(len);
    memcpy(NLMSG_DATA(&r->h), hdr, len);
}

/* Send and read the kernel's ack: 0, or -1 with its errno. */
static int nl_talk(int fd, nlreq_t *r)
{
    static uint32_t seq;
    r->h.nlmsg_seq = ++seq;
    struct sockaddr_nl to = { .nl_family = AF_NETLINK };
    if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&to, sizeof to) < 0) return -1;
    char buf[4096];
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)k); h = NLMSG_NEXT(h, k)) {
            if (h->nlmsg_seq != r->h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
            int e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
            if (e) { errno = -e; return -1; }
            return 0;
        }
    }
}

static int link_up(int fd, int ifindex)
{
    nlreq_t r;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
    nl_init(&r, RTM_NEWLINK, 0, &ifi, sizeof ifi);
    return nl_talk(fd, &r);
}

static int addr_add(int fd, int ifindex, uint32_t addr)
{
    nlreq_t r;
    struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = 31, .ifa_index = (unsigned)ifindex,
                             .ifa_scope = RT_SCOPE_UNIVERSE };
    nl_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
    uint32_t be = htonl(addr);
    nl_attr(&r, IFA_LOCAL, &be, 4);
    nl_attr(&r, IFA_ADDRESS, &be, 4);
    return nl_talk(fd, &r);
}

static int route_default(int fd, int ifindex, uint32_t gw)
{
    nlreq_t r;
    struct rtmsg rt = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
                        .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST };
    nl_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt);
    uint32_t be = htonl(gw);
    nl_attr(&r, RTA_GATEWAY, &be, 4);
    nl_attr(&r, RTA_OIF, &ifindex, 4);
    return nl_talk(fd, &r);
}

/* The pair: `host_name` here, `eth0` (index PEER_IFINDEX) in `nsfd`. */
static int veth_add(int fd, const char *host_name, int nsfd)
{
    nlreq_t r;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
    nl_attr(&r, IFLA_IFNAME, host_name, strlen(host_name) + 1);
    struct rtattr *info = nl_attr(&r, IFLA_LINKINFO, NULL, 0);
    nl_attr(&r, IFLA_INFO_KIND, "veth", 5);
    struct rtattr *data = nl_attr(&r, IFLA_INFO_DATA, NULL, 0);
    struct rtattr *peer = nl_attr(&r, VETH_INFO_PEER, NULL, 0);
    struct ifinfomsg pifi = { .ifi_family = AF_UNSPEC, .ifi_index = PEER_IFINDEX };
    memcpy(nl_tail(&r), &pifi, sizeof pifi);
    r.h.nlmsg_len += (uint32_t)NLMSG_ALIGN(sizeof pifi);
    nl_attr(&r, IFLA_IFNAME, "eth0", 5);
    nl_attr(&r, IFLA_NET_NS_FD, &nsfd, 4);
    nl_end(&r, peer);
    nl_end(&r, data);
    nl_end(&r, info);
    return nl_talk(fd, &r);
}

static int nl_socket(void) { return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }

/* ---- per instance ---- */

static uint32_t slot_addr(int slot, bool inside)
{
    return POOL_NET | ((uint32_t)E.block << 10) | ((uint32_t)slot << 1) | (inside ? 1u : 0u);
}

void egress_addresses(int slot, char host[16], char inside[16])
{
    uint32_t a[2] = { htonl(slot_addr(slot, false)), htonl(slot_addr(slot, true)) };
    inet_ntop(AF_INET, &a[0], host, 16);
    inet_ntop(AF_INET, &a[1], inside, 16);
}

/* Inside the namespace: IPv6 off (before eth0 exists, so it gets none),
 * and a netlink socket of that namespace to configure eth0 with later. */
static int enter_and_prepare(int nsfd, int home)
{
    if (setns(nsfd, CLONE_NEWNET) < 0) return -1;
    write_text("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_text("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    int in = nl_socket();
    int e = errno;
    if (setns(home, CLONE_NEWNET) < 0) _exit(1);   /* cannot go home: never serve from there */
    errno = e;
    return in;
}

int egress_attach(pid_t pid)
{
    if (E.state <= 0) { errno = ENETUNREACH; return -1; }
    int slot = -1;
    for (unsigned i = 0; i < EGRESS_PER_BLOCK; i++) {
        unsigned k = (E.next + i) % EGRESS_PER_BLOCK;
        if (!E.used[k]) { slot = (int)k; break; }
    }
    if (slot < 0) { errno = EADDRNOTAVAIL; return -1; }
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/ns/net", (int)pid);
    int nsfd = open(p, O_RDONLY | O_CLOEXEC);
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int host = nl_socket(), in = -1, rc = -1;
    if (nsfd < 0 || home < 0 || host < 0 || (in = enter_and_prepare(nsfd, home)) < 0) goto out;
    /* A namespace of an ended instance may still hold its end for a while:
     * a name taken moves on to the next free slot. */
    char name[IFNAMSIZ];
    for (int tries = 0; tries < EGRESS_PER_BLOCK; tries++) {
        snprintf(name, sizeof name, "nbe%dx%d", E.block, slot);
        if (veth_add(host, name, nsfd) == 0) break;
        if (errno != EEXIST) goto out;
        E.used[slot] = true;   /* skipped until its old end is gone: released below */
        int from = slot;
        slot = -1;
        for (unsigned i = 1; i < EGRESS_PER_BLOCK; i++) {
            unsigned k = ((unsigned)from + i) % EGRESS_PER_BLOCK;
            if (!E.used[k]) { slot = (int)k; break; }
        }
        E.used[from] = false;
        if (slot < 0) { errno = EADDRNOTAVAIL; goto out; }
    }
    snprintf(p, sizeof p, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
    write_text(p, "1");   /* no link-local address on the host's end either */
    int hidx = (int)if_nametoindex(name);
    if (!hidx || addr_add(host, hidx, slot_addr(slot, false)) < 0 || link_up(host, hidx) < 0 ||
        addr_add(in, PEER_IFINDEX, slot_addr(slot, true)) < 0 || link_up(in, PEER_IFINDEX) < 0 ||
        route_default(in, PEER_IFINDEX, slot_addr(slot, false)) < 0)
        goto out;
    E.used[slot] = true;
    E.next = (unsigned)slot + 1;
    rc = slot;
out:;
    int e = errno;
    if (nsfd >= 0) close(nsfd);
    if (home >= 0) close(home);
    if (host >= 0) close(host);
    if (in >= 0) close(in);
    errno = e;
    return rc;
}

void egress_release(int slot)
{
    if (slot >= 0 && slot < EGRESS_PER_BLOCK) E.used[slot] = false;
}
