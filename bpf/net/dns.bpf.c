// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNS answers received by tracked processes, for learning which names their connections go
 * to. A cgroup_skb ingress program sees a datagram when it is queued to the socket, before the
 * process can read it, so the answer is in the ring buffer ahead of any connect that uses it.
 * Only answers from port 53 to a socket a tracked process connected or sent on are copied;
 * answers relayed by a local resolver (127.0.0.53) come the same way. Over TCP, the segment's
 * payload after the 2-byte length prefix is copied: an answer that fits one segment (the usual
 * case; a longer one is reported truncated).
 */
#include <bpf/bpf_endian.h>
#include "net.bpf.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

SEC("cgroup_skb/ingress")
int cf_dns_ingress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct cf_sock_owner *owner;
	struct cf_dns *rec;
	struct udphdr udp;
	__u32 off, len;
	__u16 family, flags = 0;
	__u8 server[16] = {};
	__u8 proto;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || (sk->protocol != IPPROTO_UDP && sk->protocol != IPPROTO_TCP))
		return 1;
	proto = sk->protocol;
	owner = bpf_sk_storage_get(&sock_owner, sk, 0, 0);
	if (!owner || !cf_lookup_tracked(owner->tgid))
		return 1;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.protocol != proto)
			return 1;
		off = ip.ihl * 4;
		family = AF_INET;
		__builtin_memcpy(server, &ip.saddr, 4);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		/* extension headers before UDP are not followed: DNS answers do not carry them */
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) || ip6.nexthdr != proto)
			return 1;
		off = sizeof(ip6);
		family = AF_INET6;
		__builtin_memcpy(server, &ip6.saddr, 16);
	} else {
		return 1;
	}
	/* source port: the first two bytes of both the UDP and the TCP header */
	if (off > 60 || bpf_skb_load_bytes(skb, off, &udp, sizeof(udp)) || udp.source != bpf_htons(53))
		return 1;
	if (proto == IPPROTO_UDP) {
		off += sizeof(udp);
	} else {
		struct tcphdr tcp;
		__u16 msg_len;

		if (bpf_skb_load_bytes(skb, off, &tcp, sizeof(tcp)))
			return 1;
		off += tcp.doff * 4;
		/* a segment with no payload (ACK, FIN) carries no answer */
		if (off > 120 || skb->len < off + 2 + 12 || bpf_skb_load_bytes(skb, off, &msg_len, 2))
			return 1;
		off += 2;
		if (bpf_ntohs(msg_len) > skb->len - off)
			flags = CF_STR_TRUNCATED; /* continues in later segments: not followed */
	}
	if (skb->len <= off)
		return 1;
	len = skb->len - off;

	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		cf_count(CF_CNT_RINGBUF_FULL);
		return 1;
	}
	rec->hdr.op = CF_OP_DNS;
	rec->hdr.size = sizeof(*rec);
	rec->hdr.cpu = bpf_get_smp_processor_id();
	rec->hdr.ts_ns = bpf_ktime_get_boot_ns();
	rec->hdr.tgid = owner->tgid;
	rec->hdr.tid = 0;
	rec->hdr.cgroup_id = 0;
	__builtin_memset(rec->hdr.comm, 0, sizeof(rec->hdr.comm));
	rec->family = family;
	rec->port = 53;
	rec->flags = flags;
	__builtin_memcpy(rec->server, server, sizeof(server));
	if (len > CF_DNS_MAX) {
		len = CF_DNS_MAX;
		rec->flags = CF_STR_TRUNCATED;
		cf_count(CF_CNT_DNS_TRUNCATED);
	}
	/* clang computes len in a way the verifier sees as possibly negative: bound it explicitly */
	barrier_var(len);
	len &= 0x7ff;
	if (len == 0 || len > CF_DNS_MAX) {
		bpf_ringbuf_discard(rec, 0);
		return 1;
	}
	rec->len = len;
	if (bpf_skb_load_bytes(skb, off, rec->data, len)) {
		cf_count(CF_CNT_READ_FAILED);
		bpf_ringbuf_discard(rec, 0);
		return 1;
	}
	bpf_ringbuf_submit(rec, 0);  /* an answer is worth a wakeup: the connect that follows waits on it */
	cf_count(CF_CNT_RECORDS);
	return 1;
}
