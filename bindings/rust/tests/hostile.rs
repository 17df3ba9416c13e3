// hostile.rs: slices shorter than their shapes never make kvc read or write past them; each call
// fails with Status::INVALID_ARGUMENT and a message that names both numbers (the slice's and the
// shape's), before anything is read or written.
use kvc::{ffi, Context, Error, Shape, Status};

/// A 4-layer f32 cache, 2 KV heads, 64 tokens of 32 dims (64 KiB of keys, 64 KiB of values).
fn small() -> (Shape, Vec<u8>, Vec<u8>) {
    let s = kvc::shape(4, 2, 64, 32, ffi::KVC_DTYPE_F32);
    let n = kvc::tensor_bytes(&s) / 4;
    let keys: Vec<f32> = (0..n).map(|i| (i as f32 * 0.1).sin()).collect();
    let values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.07).cos()).collect();
    (s, kvc::f32_bytes(&keys), kvc::f32_bytes(&values))
}

/// Per-layer queries for s (2 query heads, 1 query each): (shape, bytes for all its layers).
fn queries_for(s: &Shape) -> (kvc::QueryShape, usize) {
    let mut q = kvc::query_shape_default();
    q.num_query_heads = s.num_kv_heads;
    q.num_queries = 1;
    q.head_dim = s.head_dim;
    q.dtype = s.dtype;
    q.per_layer = 1;
    let bytes = kvc::query_shape_extent(&q, s.num_layers).unwrap();
    (q, bytes)
}

/// err is INVALID_ARGUMENT and its message holds every number of numbers (as decimal words).
fn assert_names(err: Error, numbers: &[usize]) {
    assert_eq!(err.status, Status::INVALID_ARGUMENT, "{err}");
    let words: Vec<&str> = err
        .message
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .collect();
    for n in numbers {
        assert!(words.contains(&n.to_string().as_str()), "{n} not in {err}");
    }
}

#[test]
fn extents_are_the_packed_sizes_of_packed_shapes() {
    let (s, keys, _) = small();
    assert_eq!(
        kvc::cache_shape_extent(&s).unwrap(),
        (keys.len(), keys.len() / 4)
    );
    let (q, bytes) = queries_for(&s);
    assert_eq!(bytes, 4 * 2 * 32 * 4);
    assert_eq!(kvc::query_shape_extent(&q, 1).unwrap(), bytes / 4);
    let mut strided = s;
    strided.layer_stride = 2 * (2 * 64 * 32); // every other layer-sized block
    let (tensor, layer) = kvc::cache_shape_extent(&strided).unwrap();
    assert_eq!((tensor, layer), ((3 * 2 + 1) * layer, keys.len() / 4));
    let zero = kvc::shape(0, 2, 64, 32, ffi::KVC_DTYPE_F32);
    assert_eq!(
        kvc::cache_shape_extent(&zero).unwrap_err().status,
        Status::INVALID_ARGUMENT
    );
}

#[test]
fn compress_with_16_byte_slices_and_a_large_shape_fails_before_reading() {
    let mut ctx = Context::new().unwrap();
    let big = kvc::shape(4, 8, 1024, 128, ffi::KVC_DTYPE_F16);
    let (extent, _) = kvc::cache_shape_extent(&big).unwrap();
    assert_eq!(extent, 8 << 20);
    let tiny = [0u8; 16];
    assert_names(
        ctx.compress(None, &big, &tiny, &tiny).unwrap_err(),
        &[16, extent],
    );
    let (_, keys, _) = small();
    assert_names(
        ctx.compress(None, &big, &keys[..extent.min(keys.len())], &tiny)
            .unwrap_err(),
        &[keys.len(), extent],
    );
    // The context is intact after the refusals.
    let (s, keys, values) = small();
    ctx.compress(None, &s, &keys, &values).unwrap();
}

#[test]
fn save_cache_with_64_byte_slices_fails_and_writes_no_file() {
    let mut ctx = Context::new().unwrap();
    let (s, keys, _) = small();
    let dir = std::env::temp_dir().join(format!("kvc-rust-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("short.safetensors");
    let short = [0u8; 64];
    let err = ctx
        .save_cache(path.to_str().unwrap(), &s, &short, &short, Some("short"))
        .unwrap_err();
    assert_names(err, &[64, keys.len()]);
    let err = ctx
        .save_cache(path.to_str().unwrap(), &s, &keys, &short, None)
        .unwrap_err();
    assert_names(err, &[64, keys.len()]);
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "files written: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compress_layers_checks_the_layer_count_and_each_layer_length() {
    let mut ctx = Context::new().unwrap();
    let (s, keys, values) = small();
    let (_, layer) = kvc::cache_shape_extent(&s).unwrap();
    let key_layers: Vec<&[u8]> = keys.chunks(layer).collect();
    let value_layers: Vec<&[u8]> = values.chunks(layer).collect();
    // Fewer layer slices than the shape has layers.
    let err = ctx
        .compress_layers(None, &s, &key_layers[..2], &value_layers[..2])
        .unwrap_err();
    assert_names(err, &[2, 4]);
    // A key and a value slice count that differ (one C count covers both arrays).
    let err = ctx
        .compress_layers(None, &s, &key_layers, &value_layers[..3])
        .unwrap_err();
    assert_names(err, &[4, 3]);
    // One layer slice shorter than a layer.
    let mut short_keys = key_layers.clone();
    short_keys[3] = &keys[..16];
    let err = ctx
        .compress_layers(None, &s, &short_keys, &value_layers)
        .unwrap_err();
    assert_names(err, &[16, layer]);
    let mut short_values = value_layers.clone();
    short_values[0] = &[];
    assert_eq!(
        ctx.compress_layers(None, &s, &key_layers, &short_values)
            .unwrap_err()
            .status,
        Status::INVALID_ARGUMENT
    );
    ctx.compress_layers(None, &s, &key_layers, &value_layers)
        .unwrap();
}

#[test]
fn queries_for_fewer_layers_than_the_cache_are_refused() {
    let mut ctx = Context::new().unwrap();
    let (s, keys, values) = small();
    let (q, bytes) = queries_for(&s);
    let three_layers = vec![0u8; bytes / 4 * 3];
    let mut p = kvc::compress_params_default();
    p.selection = ffi::KVC_SELECT_ATTENTION;
    let err = ctx
        .compress_with_queries(Some(&p), &s, &keys, &values, &q, &three_layers)
        .unwrap_err();
    assert_names(err, &[three_layers.len(), bytes]);
    let (blob, _) = ctx.compress(None, &s, &keys, &values).unwrap();
    let err = ctx
        .validate(
            None,
            None,
            &s,
            &keys,
            &values,
            Some((&q, &three_layers)),
            &blob,
        )
        .unwrap_err();
    assert_names(err, &[three_layers.len(), bytes]);
    let err = ctx
        .validate(None, None, &s, &keys[..16], &values, None, &blob)
        .unwrap_err();
    assert_names(err, &[16, keys.len()]);
    let all_layers = vec![0u8; bytes];
    ctx.validate(
        None,
        None,
        &s,
        &keys,
        &values,
        Some((&q, &all_layers)),
        &blob,
    )
    .unwrap();
}

#[test]
fn quality_compare_checks_all_four_slices() {
    let mut ctx = Context::new().unwrap();
    let (s, keys, values) = small();
    let short = [0u8; 64];
    let err = ctx
        .quality_compare(None, &s, &keys, &values, &s, &keys, &short)
        .unwrap_err();
    assert_names(err, &[64, values.len()]);
    let err = ctx
        .quality_compare(None, &s, &short, &values, &s, &keys, &values)
        .unwrap_err();
    assert_names(err, &[64, keys.len()]);
}

#[test]
fn benchmark_checks_its_slices() {
    let mut ctx = Context::new().unwrap();
    let (s, keys, values) = small();
    let err = ctx
        .benchmark(None, &s, &keys[..16], &values, None, 1)
        .unwrap_err();
    assert_names(err, &[16, keys.len()]);
}

#[test]
fn benchmark_checks_its_queries() {
    let mut ctx = Context::new().unwrap();
    let (s, keys, values) = small();
    let (q, bytes) = queries_for(&s);
    let three_layers = vec![0u8; bytes / 4 * 3];
    let err = ctx
        .benchmark(None, &s, &keys, &values, Some((&q, &three_layers)), 1)
        .unwrap_err();
    assert_names(err, &[three_layers.len(), bytes]);
}

#[test]
fn decompress_positions_into_checks_the_counts_and_positions_capacity() {
    let mut ctx = Context::new().unwrap();
    let (s, keys, values) = small();
    let mut p = kvc::compress_params_default();
    p.selection = ffi::KVC_SELECT_RECENCY;
    p.keep_ratio = 0.5;
    let (blob, _) = ctx.compress(Some(&p), &s, &keys, &values).unwrap();
    let (counts, positions) = ctx.decompress_positions(None, &blob).unwrap();
    assert_eq!(counts.len(), 4);
    // One count entry for a blob of four layers.
    let mut one = [0u32; 1];
    let mut room = vec![0u32; positions.len()];
    let err = ctx
        .decompress_positions_into(None, &blob, &mut one, &mut room)
        .unwrap_err();
    assert_names(err, &[1, 4]);
    // No count entries at all: the counts are not asked for (NULL), the positions still come.
    let mut none: [u32; 0] = [];
    assert_eq!(
        ctx.decompress_positions_into(None, &blob, &mut none, &mut room)
            .unwrap(),
        positions.len()
    );
    // Too few position entries: the entries needed.
    let mut four = [0u32; 4];
    let mut three = [0u32; 3];
    let err = ctx
        .decompress_positions_into(None, &blob, &mut four, &mut three)
        .unwrap_err();
    assert_eq!(err.status, Status::BUFFER_TOO_SMALL, "{err}");
    assert!(err.message.contains(&positions.len().to_string()), "{err}");
    let n = ctx
        .decompress_positions_into(None, &blob, &mut four, &mut room)
        .unwrap();
    assert_eq!((four.to_vec(), &room[..n]), (counts, &positions[..]));
    // Two layers selected: two count entries suffice.
    let mut d = kvc::decompress_params_default();
    d.first_layer = 2;
    let mut two = [0u32; 2];
    ctx.decompress_positions_into(Some(&d), &blob, &mut two, &mut room)
        .unwrap();
    assert_eq!(two[..], four[2..]);
}
