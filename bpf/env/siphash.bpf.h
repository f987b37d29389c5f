/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SipHash-2-4 under the host's key (env_fp_key, written by the agent): the fingerprint of an
 * environment value. Two programs compute it: the getenv return probes (env.bpf.c), from a
 * value read into a per-CPU buffer, and the exec scan (env.bpf.h), a byte at a time as it steps
 * over each value. Both must equal SipHash-2-4 as OpenSSL computes it (the agent's redaction
 * compares its own fingerprints with the kernel's), over the value's first CF_ENV_VALUE_MAX - 1
 * bytes.
 */
#ifndef CF_SIPHASH_BPF_H
#define CF_SIPHASH_BPF_H

#include "../lib/common.bpf.h"

/* The host's key for value fingerprints (agent-written); unset: no fingerprints. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cf_fp_key);
} env_fp_key SEC(".maps") CF_SHARED;

struct cf_sip {
	__u64 v0, v1, v2, v3;
};

static __always_inline __u64 cf_rotl(__u64 x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static __always_inline void cf_sip_round(struct cf_sip *s)
{
	s->v0 += s->v1;
	s->v1 = cf_rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = cf_rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = cf_rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = cf_rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = cf_rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = cf_rotl(s->v2, 32);
}

static __always_inline void cf_sip_init(struct cf_sip *s, __u64 k0, __u64 k1)
{
	s->v0 = k0 ^ 0x736f6d6570736575ull;
	s->v1 = k1 ^ 0x646f72616e646f6dull;
	s->v2 = k0 ^ 0x6c7967656e657261ull;
	s->v3 = k1 ^ 0x7465646279746573ull;
}

/* One full 8-byte word of the message (little endian, as SipHash reads it). */
static __always_inline void cf_sip_absorb(struct cf_sip *s, __u64 m)
{
	s->v3 ^= m;
	cf_sip_round(s);
	cf_sip_round(s);
	s->v0 ^= m;
}

/* The last block: `tail` holds the message's last len % 8 bytes (little endian, the rest zero),
 * `len` its length; then the finalisation. */
static __always_inline __u64 cf_sip_finish(struct cf_sip *s, __u64 tail, __u32 len)
{
	cf_sip_absorb(s, tail | ((__u64)(len & 0xff) << 56));
	s->v2 ^= 0xff;
	cf_sip_round(s);
	cf_sip_round(s);
	cf_sip_round(s);
	cf_sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

#endif /* CF_SIPHASH_BPF_H */
