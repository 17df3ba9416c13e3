// conformance.rs: the Rust binding replays conformance/manifest.json byte for byte.
mod common;

use common::{env_or_repo, read_json, sha256_hex, Json};
use kvc::{Context, Status};

fn manifest() -> (std::path::PathBuf, Json) {
    let dir = env_or_repo("KVC_CONFORMANCE_DIR", &["conformance"]);
    let m = read_json(&dir.join("manifest.json"));
    assert!(!m.get("valid").as_array().is_empty() && !m.get("invalid").as_array().is_empty());
    (dir, m)
}

fn read_vector(dir: &std::path::Path, v: &Json) -> Vec<u8> {
    let blob = std::fs::read(dir.join(v.get("file").as_str())).unwrap();
    assert_eq!(
        sha256_hex(&blob),
        v.get("sha256").as_str(),
        "{}",
        v.get("file").as_str()
    );
    blob
}

#[test]
fn sha256_of_abc_is_the_fips_value() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn valid_vectors_decode_byte_for_byte() {
    let (dir, m) = manifest();
    let mut ctx = Context::new().unwrap();
    for v in m.get("valid").as_array() {
        let name = v.get("name").as_str();
        let blob = read_vector(&dir, v);
        ctx.verify(&blob).unwrap_or_else(|e| panic!("{name}: {e}"));
        let info = ctx.inspect(&blob).unwrap();
        let fields: [(&str, i64); 12] = [
            ("format_major", info.format_major.into()),
            ("format_minor", info.format_minor.into()),
            ("num_layers", info.num_layers.into()),
            ("num_kv_heads", info.num_kv_heads.into()),
            ("num_tokens", info.num_tokens.into()),
            ("head_dim", info.head_dim.into()),
            ("dtype", info.dtype.into()),
            ("key_bits", info.key_bits.into()),
            ("value_bits", info.value_bits.into()),
            ("group_size", info.group_size.into()),
            ("recent_tokens", info.recent_full_precision_tokens.into()),
            ("num_chunks", info.num_chunks.into()),
        ];
        for (field, value) in fields {
            assert_eq!(v.get("info").get(field).as_i64(), value, "{name}: {field}");
        }
        for d in v.get("decodes").as_array() {
            let mut p = kvc::decompress_params_default();
            p.dtype = d.get("dtype_code").as_i64() as i32;
            p.first_layer = d.get("first_layer").as_i64() as u32;
            p.num_layers = d.get("num_layers").as_i64() as u32;
            p.scatter = d.get("scatter").as_i64() as i32;
            let (keys, values) = ctx.decompress(Some(&p), &blob).unwrap();
            assert_eq!(
                keys.len() as i64,
                d.get("tensor_bytes").as_i64(),
                "{name} {d:?}"
            );
            assert_eq!(
                sha256_hex(&keys),
                d.get("keys_sha256").as_str(),
                "{name} {d:?}"
            );
            assert_eq!(
                sha256_hex(&values),
                d.get("values_sha256").as_str(),
                "{name} {d:?}"
            );
        }
    }
}

#[test]
fn invalid_vectors_fail_with_their_status() {
    let (dir, m) = manifest();
    let mut ctx = Context::new().unwrap();
    for v in m.get("invalid").as_array() {
        let name = v.get("name").as_str();
        let blob = read_vector(&dir, v);
        let want = Status(v.get("status_code").as_i64() as i32);
        assert_eq!(want.name(), v.get("status").as_str(), "{name}");
        let err = ctx.verify(&blob).unwrap_err();
        assert_eq!(err.status, want, "{name}: verify {err}");
        assert!(!err.message.is_empty(), "{name}: no message");
        // Into 1 MiB buffers: the status itself, never a request for a larger buffer first.
        let (mut keys, mut values) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
        let err = ctx
            .decompress_into(None, &blob, &mut keys, &mut values)
            .unwrap_err();
        assert_eq!(err.status, want, "{name}: decompress {err}");
    }
}
