// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNS answers received by tracked processes, for learning which names their connections go
 * to. A cgroup_skb ingress program sees a datagram when it is queued to the socket, before the
 * process can read it, so the answer is in the ring buffer ahead of any connect that uses it.
 * Only answers from port 53 to a socket a tracked process connected or sent on are copied;
 * answers relayed by a local resolver (127.0.0.53) come the same way. Over TCP, the segment's
 * payload after the 2-byte length prefix is copied: an answer that fits one segment (the usual
 * case; a longer one is reported truncated).
 *
 * The same answer is also parsed here, for enforcement: when its question names an approved
 * name (guard_names), the A and AAAA addresses it carries are stored in guard_addrs before the
 * process can read the answer, so the connect that follows never races the learning. This does
 * not go through the ring buffer and happens in every mode.
 */
#include <bpf/bpf_endian.h>
#include "net.bpf.h"
#include "../guard/guard.bpf.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

/* ---- learning approved addresses ---------------------------------------------------------- */

/* Bytes of an answer parsed for learning: EDNS answers are at most 4096 by convention. */
#define CF_DNS_PARSE_MAX 4096
#define CF_DNS_ANSWERS_MAX 32
/*
 * Longest dotted name read: 255 bytes on the wire (RFC 1035 2.3.4). policy::HostSet matches
 * nothing longer either, so a longer name under an approved "*.x" is not approved here.
 */
#define CF_DNS_QNAME_MAX 253
#define CF_DNS_TYPE_A 1
#define CF_DNS_TYPE_AAAA 28
#define CF_DNS_CLASS_IN 1
/* Offsets into the message are masked with these before every access the verifier checks. */
#define CF_DNS_MSG_MASK (CF_DNS_PARSE_MAX - 1)
#define CF_DNS_NAME_MASK (CF_DNS_NAME_MAX - 1)
_Static_assert((CF_DNS_PARSE_MAX & CF_DNS_MSG_MASK) == 0, "CF_DNS_PARSE_MAX must be a power of two");
_Static_assert((CF_DNS_NAME_MAX & CF_DNS_NAME_MASK) == 0, "CF_DNS_NAME_MAX must be a power of two");
_Static_assert(sizeof(struct cf_name_key) == CF_DNS_NAME_MAX, "cf_name_key is the bare name");
_Static_assert(CF_DNS_QNAME_MAX < CF_DNS_NAME_MAX, "a name and its zero padding fit a key");
_Static_assert(sizeof(struct cf_addr_key) == 16, "cf_addr_key layout");

struct cf_dns_scratch {
	/* the message; 16 bytes of slack so an address copied from a masked offset stays inside */
	__u8 msg[CF_DNS_PARSE_MAX + 16];
	/*
	 * The question name, dotted and zero padded, followed by CF_DNS_NAME_MAX bytes that are
	 * never written: the suffix after any dot, name + i, is then a zero-padded cf_name_key in
	 * place, and every parent domain is looked up without copying it.
	 */
	char name[2 * CF_DNS_NAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cf_dns_scratch);
} dns_scratch SEC(".maps") CF_SHARED;

static __always_inline __u32 cf_dns_u16(const struct cf_dns_scratch *s, __u32 off)
{
	return (__u32)s->msg[off & CF_DNS_MSG_MASK] << 8 | s->msg[(off + 1) & CF_DNS_MSG_MASK];
}

struct cf_qname_ctx {
	struct cf_dns_scratch *s;
	__u32 msg_len;
	__u32 out;   /* bytes of the dotted name so far */
	__u32 label; /* bytes left in the current label */
	__u32 end;   /* offset just past the name, once done */
	bool done;
};

/*
 * bpf_loop body: wire byte 12 + i of the question name. Question names are never compressed.
 * Only the characters a policy name can have are accepted: a '.' or NUL inside a label would
 * make the dotted form spell another (approved) name.
 */
static long cf_qname_step(__u32 i, void *data)
{
	struct cf_qname_ctx *c = data;
	__u32 pos = 12 + i;
	__u8 b;

	if (pos >= c->msg_len)
		return 1;
	b = c->s->msg[pos & CF_DNS_MSG_MASK];
	if (c->label == 0) {
		if (b == 0) {
			c->done = c->out > 0;
			c->end = pos + 1;
			return 1;
		}
		if (b > 63) /* a compression pointer or a reserved label type */
			return 1;
		if (c->out > 0) {
			if (c->out >= CF_DNS_QNAME_MAX)
				return 1;
			c->s->name[c->out & CF_DNS_NAME_MASK] = '.';
			c->out++;
		}
		c->label = b;
		return 0;
	}
	if (b >= 'A' && b <= 'Z')
		b += 'a' - 'A';
	if (!((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' || b == '_'))
		return 1;
	if (c->out >= CF_DNS_QNAME_MAX)
		return 1;
	c->s->name[c->out & CF_DNS_NAME_MASK] = b;
	c->out++;
	c->label--;
	return 0;
}

struct cf_suffix_ctx {
	struct cf_dns_scratch *s;
	__u32 len;
	__u64 rules;
};

/* bpf_loop body: at a dot, the parent domain after it contributes its `sub` rules. */
static long cf_suffix_step(__u32 i, void *data)
{
	struct cf_suffix_ctx *c = data;
	const struct cf_name_val *v;

	if (i >= c->len)
		return 1;
	if (c->s->name[i & CF_DNS_NAME_MASK] != '.')
		return 0;
	/* name + i + 1 ends at most 2 * CF_DNS_NAME_MAX - 1: inside `name`, zero padded */
	v = bpf_map_lookup_elem(&guard_names, &c->s->name[(i + 1) & CF_DNS_NAME_MASK]);
	if (v)
		c->rules |= v->sub;
	return 0;
}

struct cf_answers_ctx {
	struct cf_dns_scratch *s;
	__u32 msg_len;
	__u32 pos;
	__u32 left;    /* answer records not read yet */
	bool at_fixed; /* the owner name is skipped: pos is at the record's type */
	__u64 rules;
	__u64 now;
	__u64 min_ttl_ns;
};

/*
 * Merges what an answer says about one address into guard_addrs. Read-modify-write in place:
 * two CPUs learning the same address at the same instant for different names may lose one
 * name's bits until it is resolved again, which fails closed.
 */
static __always_inline void cf_dns_store(const struct cf_addr_key *key, __u64 rules, __u64 expires)
{
	struct cf_addr_val init = { .rules = rules, .expires_ns = expires };
	struct cf_addr_val *v = bpf_map_lookup_elem(&guard_addrs, key);

	if (!v) {
		if (bpf_map_update_elem(&guard_addrs, key, &init, BPF_NOEXIST) == 0) {
			cf_count(CF_CNT_DNS_LEARNED);
			return;
		}
		v = bpf_map_lookup_elem(&guard_addrs, key); /* another CPU stored it first */
		if (!v) {
			cf_count(CF_CNT_DNS_LEARN_FAILED);
			return;
		}
	}
	v->rules |= rules;
	if (v->expires_ns < expires)
		v->expires_ns = expires;
	cf_count(CF_CNT_DNS_LEARNED);
}

/*
 * bpf_loop body: one step through the answer section, either one label of an owner name or
 * one record's fixed part and data. Every step moves at least one byte forward, so a loop
 * bounded by the message length ends. Records before a fault are kept: they were complete.
 */
static long cf_answer_step(__u32 i, void *data)
{
	struct cf_answers_ctx *c = data;
	struct cf_addr_key key;
	__u32 pos = c->pos, type, rdlen, rdata;
	__u64 ttl_ns, expires;
	__u8 b;

	if (!c->at_fixed) {
		if (pos >= c->msg_len)
			return 1;
		b = c->s->msg[pos & CF_DNS_MSG_MASK];
		if (b == 0) {
			c->pos = pos + 1;
			c->at_fixed = true;
		} else if ((b & 0xc0) == 0xc0) {
			c->pos = pos + 2; /* a pointer ends the name; where it points does not matter */
			c->at_fixed = true;
		} else if (b & 0xc0) {
			return 1;
		} else {
			c->pos = pos + 1 + b;
		}
		return 0;
	}
	/* type(2) class(2) ttl(4) rdlength(2) rdata */
	if (pos + 10 > c->msg_len)
		return 1;
	type = cf_dns_u16(c->s, pos);
	rdlen = cf_dns_u16(c->s, pos + 8);
	rdata = pos + 10;
	if (rdata + rdlen > c->msg_len)
		return 1;
	if (cf_dns_u16(c->s, pos + 2) == CF_DNS_CLASS_IN &&
	    ((type == CF_DNS_TYPE_A && rdlen == 4) || (type == CF_DNS_TYPE_AAAA && rdlen == 16))) {
		__u32 ttl = cf_dns_u16(c->s, pos + 4) << 16 | cf_dns_u16(c->s, pos + 6);

		if (ttl > 0x7fffffff) /* RFC 2181 8: a TTL with the top bit set is zero */
			ttl = 0;
		ttl_ns = (__u64)ttl * 1000000000ull;
		if (ttl_ns < c->min_ttl_ns)
			ttl_ns = c->min_ttl_ns;
		expires = c->now + ttl_ns;
		/* rdata + 16 < CF_DNS_PARSE_MAX + 16: inside msg */
		cf_addr_normalize(type == CF_DNS_TYPE_A ? AF_INET : AF_INET6, &c->s->msg[rdata & CF_DNS_MSG_MASK],
				  key.addr);
		cf_dns_store(&key, c->rules, expires);
	}
	/* CNAME and anything else: skipped. The question's name approves the whole chain. */
	c->pos = rdata + rdlen;
	c->at_fixed = false;
	if (--c->left == 0)
		return 1;
	return 0;
}

/*
 * Learns the addresses of an answer whose question is an approved name. `off` is where the
 * DNS message starts in the packet, `len` its length as far as this packet holds it.
 */
static __always_inline void cf_dns_learn(struct __sk_buff *skb, __u32 off, __u32 len, __u16 family,
					 const __u8 *server)
{
	const struct cf_guard_config *cfg = cf_guard_cfg();
	const struct cf_name_val *v;
	struct cf_dns_scratch *s;
	__u32 zero = 0, n;

	if (!cfg || !(cfg->flags & CF_GUARD_ACTIVE))
		return;
	/*
	 * Only the host's resolvers approve addresses: a watched process asking a DNS server of its
	 * own choosing (one it runs, or one on the internet) must not get an approved name's rules
	 * attached to an address of its choosing.
	 */
	if (cfg->flags & CF_GUARD_RESOLVERS) {
		struct cf_addr_key key;

		cf_addr_normalize(family, server, key.addr);
		if (!bpf_map_lookup_elem(&guard_resolvers, &key))
			return;
	}
	s = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!s)
		return;
	n = len < CF_DNS_PARSE_MAX ? len : CF_DNS_PARSE_MAX;
	/* clang keeps len in a 64-bit register the verifier sees as possibly negative: mask it */
	barrier_var(n);
	n &= 2 * CF_DNS_PARSE_MAX - 1;
	if (n < 12 || n > CF_DNS_PARSE_MAX)
		return;
	if (bpf_skb_load_bytes(skb, off, s->msg, n)) {
		cf_count(CF_CNT_READ_FAILED);
		return;
	}
	/* QR set, opcode 0 (QUERY), RCODE 0 (NOERROR), one question */
	if ((s->msg[2] & 0xf8) != 0x80 || (s->msg[3] & 0x0f) != 0 || cf_dns_u16(s, 4) != 1)
		return;

	struct cf_qname_ctx q = { .s = s, .msg_len = n };

	__builtin_memset(s->name, 0, CF_DNS_NAME_MAX);
	bpf_loop(CF_DNS_NAME_MAX, cf_qname_step, &q, 0);
	if (!q.done)
		return;

	struct cf_suffix_ctx sc = { .s = s, .len = q.out };

	v = bpf_map_lookup_elem(&guard_names, s->name);
	if (v)
		sc.rules = v->exact;
	bpf_loop(CF_DNS_NAME_MAX, cf_suffix_step, &sc, 0);
	if (!sc.rules)
		return;

	struct cf_answers_ctx a = {
		.s = s,
		.msg_len = n,
		.pos = q.end + 4, /* past QTYPE and QCLASS */
		.left = cf_dns_u16(s, 6),
		.rules = sc.rules,
		.now = bpf_ktime_get_boot_ns(),
		.min_ttl_ns = cfg->dns_min_ttl_ns,
	};

	if (a.left == 0)
		return;
	if (a.left > CF_DNS_ANSWERS_MAX)
		a.left = CF_DNS_ANSWERS_MAX;
	bpf_loop(n, cf_answer_step, &a, 0);
}

/* ---- the program -------------------------------------------------------------------------- */

SEC("cgroup_skb/ingress")
int cf_dns_ingress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct cf_sock_owner *owner;
	struct cf_dns *rec;
	struct udphdr udp;
	__u32 off, len, dns_len = 0xffff; /* UDP: the whole payload is the message */
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
		dns_len = bpf_ntohs(msg_len);
		if (dns_len > skb->len - off)
			flags = CF_STR_TRUNCATED; /* continues in later segments: not followed */
	}
	if (skb->len <= off)
		return 1;
	len = skb->len - off;
	/* before the record: learning must not depend on the ring buffer having room */
	cf_dns_learn(skb, off, dns_len < len ? dns_len : len, family, server);

	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		cf_lost_record();
		return 1;
	}
	rec->hdr.op = CF_OP_DNS;
	rec->hdr.size = sizeof(*rec);
	rec->hdr.cpu = bpf_get_smp_processor_id();
	rec->hdr.ts_ns = bpf_ktime_get_boot_ns();
	rec->hdr.tgid = owner->tgid;
	rec->hdr.tid = 0;
	rec->hdr.cgroup_id = 0;
	rec->hdr.role = owner->role;
	rec->hdr._pad = 0;
	__builtin_memset(rec->hdr.comm, 0, sizeof(rec->hdr.comm));
	__builtin_memset(rec->hdr.thread_comm, 0, sizeof(rec->hdr.thread_comm));
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
