//! The core pipeline, per 1 MiB segment: hashing (BLAKE3 leaf), the
//! AES-256-CTR cipher, sealing (both), opening (decrypt + verify), the
//! legacy digests, and loading a 1 GiB blob's manifest (decode + root check).

use cairn_core::crypt::{ConvergenceSecret, SegmentKey};
use cairn_core::digest::LegacyHasher;
use cairn_core::seal::{open_segment, seal_all, seal_segment};
use cairn_core::tree::hash_segment;
use cairn_core::{Manifest, SEGMENT_SIZE};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn segment() -> Vec<u8> {
    (0..SEGMENT_SIZE as usize)
        .map(|i| (i * 131 % 251) as u8)
        .collect()
}

fn per_segment(c: &mut Criterion) {
    let secret = ConvergenceSecret([7; 32]);
    let mut g = c.benchmark_group("segment_1MiB");
    g.throughput(Throughput::Bytes(SEGMENT_SIZE));
    let data = segment();
    g.bench_function("blake3_leaf", |b| {
        b.iter(|| hash_segment(black_box(&data), 3))
    });
    let key = SegmentKey([9; 32]);
    let mut buf = data.clone();
    g.bench_function("aes256ctr", |b| {
        b.iter(|| key.apply(0, black_box(&mut buf)))
    });
    g.bench_function("seal", |b| {
        b.iter(|| {
            let mut buf = data.clone();
            seal_segment(&secret, 3, black_box(&mut buf))
        })
    });
    let mut two = [data.clone(), data.clone()].concat();
    let manifest = seal_all(&secret, &mut two);
    let read_key = secret.read_key(&manifest.id);
    let sealed = two[SEGMENT_SIZE as usize..].to_vec();
    g.bench_function("open_and_verify", |b| {
        b.iter(|| {
            let mut buf = sealed.clone();
            open_segment(&manifest, &read_key, 1, black_box(&mut buf)).unwrap()
        })
    });
    let coding = cairn_core::erasure::Coding::new(4, 2).unwrap();
    g.bench_function("rs_4_2_encode", |b| {
        b.iter(|| coding.encode(black_box(&data)).unwrap())
    });
    let shards = coding.encode(&data).unwrap();
    let mut two_lost: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
    two_lost[0] = None;
    two_lost[2] = None;
    g.bench_function("rs_4_2_decode_two_lost", |b| {
        b.iter(|| coding.decode(data.len(), black_box(&two_lost)).unwrap())
    });
    g.bench_function("md5_sha1_sha256", |b| {
        b.iter(|| {
            let mut h = LegacyHasher::default();
            h.update(black_box(&data));
            h.finish()
        })
    });
    g.finish();
}

fn manifest_load(c: &mut Criterion) {
    let secret = ConvergenceSecret([7; 32]);
    let mut data = vec![0u8; 64 * SEGMENT_SIZE as usize];
    let small = seal_all(&secret, &mut data);
    // A manifest shaped like a 1 GiB blob's: 1024 records.
    let mut records = small.segments.clone();
    while records.len() < 1024 {
        records.extend_from_slice(&small.segments);
    }
    let leaves: Vec<_> = records.iter().map(|r| r.leaf).collect();
    let big = Manifest {
        id: cairn_core::tree::root_of(&leaves).unwrap(),
        size: 1024 * SEGMENT_SIZE,
        segments: records,
    };
    let bytes = big.encode();
    c.bench_function("manifest_decode_verify_1GiB", |b| {
        b.iter(|| Manifest::decode(black_box(&bytes)).unwrap())
    });
}

criterion_group!(benches, per_segment, manifest_load);
criterion_main!(benches);
