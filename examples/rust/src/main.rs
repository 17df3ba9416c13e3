// main.rs: compresses a real KV cache (safetensors) with the Rust binding and prints the metrics.
//
//     cargo run -- build/data/stories260K.safetensors
use std::process::ExitCode;

fn run(path: &str) -> kvc::Result<()> {
    // On failure the Error carries the library's reason (e.g. no CUDA device).
    let mut ctx = kvc::Context::new()?;
    let cache = ctx.load_cache(path)?;
    let shape = cache.shape();
    // The bytes keys (and values) must span for this shape; kvc refuses shorter slices.
    let (tensor_bytes, layer_bytes) = kvc::cache_shape_extent(&shape)?;
    let mut params = kvc::compress_params_default();
    kvc::set_c_chars(&mut params.model_name, &cache.model_name());
    let (blob, m) = ctx.compress(Some(&params), &shape, cache.keys(), cache.values())?;
    println!(
        "{}: {} layers x {} kv heads x {} tokens x {} dims ({} bytes of keys, {} per layer)",
        cache.model_name(),
        shape.num_layers,
        shape.num_kv_heads,
        shape.num_tokens,
        shape.head_dim,
        tensor_bytes,
        layer_bytes
    );
    println!(
        "original {} bytes, compressed {} bytes: ratio {:.2}, savings {:.1}%, {:.2} bits/element, {:.2} ms",
        m.original_bytes,
        m.compressed_bytes,
        m.compression_ratio,
        m.bandwidth_savings_percent,
        m.bits_per_element,
        m.compress_ms
    );
    let (keys, values) = ctx.decompress(None, &blob)?;
    let q = ctx.quality_compare(
        None,
        &shape,
        cache.keys(),
        cache.values(),
        &shape,
        &keys,
        &values,
    )?;
    println!(
        "quality {}: key cosine {:.4}, value cosine {:.4}, SNR {:.1} dB",
        kvc::quality_level_name(q.level),
        q.key_cosine,
        q.value_cosine,
        q.snr_db
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 {
        eprintln!("usage: {} CACHE.safetensors", args[0]);
        return ExitCode::from(2);
    }
    match run(&args[1]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
