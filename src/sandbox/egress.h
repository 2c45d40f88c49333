/* egress.h — Network "egress": an instance's way out to other hosts that
 * never leads to the host itself (docs/network.md). Used by the spawner
 * alone, as root.
 *
 * Each egress instance's network namespace gets one end of a veth pair
 * (`eth0`, 10.254.B.2k+1/31, IPv6 off, default route via the other end);
 * the other end (`nbe<B>x<k>`, 10.254.B.2k/31) stays on the host. The
 * host's side is this spawner's nftables table `inet nimbus_egress_<B>`:
 * NAT (masquerade) out of every other interface; from the instances
 * nothing into the host (any of its addresses: its input hook), nothing
 * to another instance (any daemon's), to loopback, link-local (the
 * metadata address 169.254.169.254 among them), multicast or broadcast,
 * and nothing from outside that is not a reply. IPv4 forwarding is turned
 * on. B, a /22 block of 10.254.0.0/16, is claimed with a lock file so
 * daemons side by side never share one.
 *
 * The table and the claim are made at the first egress instance (a daemon
 * whose functions never ask for egress changes nothing on the host), and
 * removed by egress_teardown at the spawner's end; a table left by a
 * daemon killed outright is replaced by the next that claims its block.
 * A veth end dies with its namespace, so nothing per instance is undone.
 */
#ifndef NIMBUS_EGRESS_H
#define NIMBUS_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define EGRESS_PER_BLOCK 256   /* instances of one daemon with egress at once */

/* Make the host's side if not made yet: 0, or -1 with why in `why` (then
 * egress is unavailable, and later calls say the same at once). */
int egress_prepare(char *why, size_t n);
/* Give the network namespace of `pid` (just cloned, CLONE_NEWNET) its way
 * out. Returns its slot (>= 0, for egress_release), or -1 with errno. */
int egress_attach(pid_t pid);
/* The slot's namespace is gone or going: the slot may be given again. */
void egress_release(int slot);
/* The addresses of slot `slot`: the host's end and the instance's. */
void egress_addresses(int slot, char host[16], char inside[16]);
/* Remove the table and give the block back (at the spawner's end). */
void egress_teardown(void);

#endif
