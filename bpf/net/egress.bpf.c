// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Bytes sent by tracked processes, per destination, counted as packets leave their sockets
 * (cgroup_skb egress). The socket's owner comes from the socket-local storage the sock_addr
 * hooks fill, so a packet sent from softirq context (TCP retransmits, ACK-clocked data) is still
 * attributed to the process that connected. User space reads the counters for the rules' byte
 * budgets; this program only counts, it never drops.
 */
#include <bpf/bpf_endian.h>
#include "net.bpf.h"

#define AF_INET 2
#define AF_INET6 10

/* LRU: counters are state, not policy; an evicted entry loses counts, not enforcement. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct cf_egress_key);
	__type(value, struct cf_egress_val);
} egress_bytes SEC(".maps") CF_SHARED;

SEC("cgroup_skb/egress")
int cf_egress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct cf_sock_owner *owner;
	struct cf_egress_key key = {};
	struct cf_egress_val *val, init = {};

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	owner = bpf_sk_storage_get(&sock_owner, sk, 0, 0);
	if (!owner)
		return 1;
	key.tgid = owner->tgid;
	key.family = skb->family;
	/* __sk_buff.remote_port is the 16-bit network-order port, loaded into the low half */
	key.port = bpf_ntohs((__u16)skb->remote_port);
	if (skb->family == AF_INET) {
		__u32 a = skb->remote_ip4;

		__builtin_memcpy(key.addr, &a, 4);
	} else if (skb->family == AF_INET6) {
		__u32 a[4];

		a[0] = skb->remote_ip6[0];
		barrier_var(a[0]);
		a[1] = skb->remote_ip6[1];
		barrier_var(a[1]);
		a[2] = skb->remote_ip6[2];
		barrier_var(a[2]);
		a[3] = skb->remote_ip6[3];
		__builtin_memcpy(key.addr, a, 16);
	} else {
		return 1;
	}
	val = bpf_map_lookup_elem(&egress_bytes, &key);
	if (!val) {
		bpf_map_update_elem(&egress_bytes, &key, &init, BPF_NOEXIST);
		val = bpf_map_lookup_elem(&egress_bytes, &key);
		if (!val)
			return 1;
	}
	val->bytes += skb->len; /* per-CPU value: no atomics */
	val->packets += 1;
	return 1;
}
