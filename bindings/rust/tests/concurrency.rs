// concurrency.rs: a Context is Send but not Sync; separate contexts run in parallel; its progress
// callback cannot reach it from safe Rust, and a reentrant call from unsafe code gets
// KVC_ERR_BUSY from the library without harming the running call.
use kvc::{ffi, Context, Shape, Status};
use std::sync::{Arc, Mutex, TryLockError};

fn send<T: Send>() {}
fn send_sync<T: Send + Sync>() {}

/// Compiles only while T is not Sync: with a Sync T both impls apply and the call is ambiguous.
trait AmbiguousIfSync<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
struct IsSync;
impl<T: ?Sized + Sync> AmbiguousIfSync<IsSync> for T {}

#[test]
fn context_is_send_and_not_sync_and_the_immutable_handles_are_both() {
    send::<Context>();
    <Context as AmbiguousIfSync<_>>::check();
    send_sync::<kvc::Cache>();
    send_sync::<kvc::Adapter>();
    send_sync::<kvc::Stats>();
    send_sync::<kvc::QueryFile>();
    send_sync::<kvc::Error>();
}

fn cache() -> (Shape, Vec<u8>, Vec<u8>) {
    let s = kvc::shape(4, 2, 64, 32, ffi::KVC_DTYPE_F32);
    let n = kvc::tensor_bytes(&s) / 4;
    let keys: Vec<f32> = (0..n).map(|i| (i as f32 * 0.1).sin()).collect();
    let values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.07).cos()).collect();
    (s, kvc::f32_bytes(&keys), kvc::f32_bytes(&values))
}

#[test]
fn contexts_move_between_threads_and_run_in_parallel() {
    let (s, keys, values) = cache();
    let mut ctx = Context::new().unwrap();
    let (want, _) = ctx.compress(None, &s, &keys, &values).unwrap();
    let (keys, values, want) = (Arc::new(keys), Arc::new(values), Arc::new(want));
    let moved = std::thread::spawn({
        let (keys, values) = (Arc::clone(&keys), Arc::clone(&values));
        move || {
            let (blob, _) = ctx.compress(None, &s, &keys, &values).unwrap();
            (ctx, blob)
        }
    });
    let (mut ctx, blob) = moved.join().unwrap();
    assert!(blob == *want);
    ctx.verify(&blob).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (keys, values, want) = (Arc::clone(&keys), Arc::clone(&values), Arc::clone(&want));
            std::thread::spawn(move || {
                let mut ctx = Context::new().unwrap();
                for _ in 0..3 {
                    let (blob, _) = ctx.compress(None, &s, &keys, &values).unwrap();
                    assert!(blob == *want);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_callback_that_tries_to_lock_its_shared_context_is_refused() {
    // The only safe way to reach a context from its callback is a lock the caller holds.
    let (s, keys, values) = cache();
    let shared = Arc::new(Mutex::new(Context::new().unwrap()));
    let refused = Arc::new(Mutex::new(0u32));
    {
        let (shared_cb, refused_cb) = (Arc::clone(&shared), Arc::clone(&refused));
        shared
            .lock()
            .unwrap()
            .set_progress(Some(Box::new(move |_, _| match shared_cb.try_lock() {
                Err(TryLockError::WouldBlock) => *refused_cb.lock().unwrap() += 1,
                _ => panic!("the context was reachable inside its own call"),
            })))
            .unwrap();
    }
    let (blob, _) = shared
        .lock()
        .unwrap()
        .compress(None, &s, &keys, &values)
        .unwrap();
    assert!(*refused.lock().unwrap() > 0);
    let mut ctx = shared.lock().unwrap();
    ctx.set_progress(None).unwrap();
    ctx.verify(&blob).unwrap();
}

#[test]
fn a_reentrant_call_from_unsafe_code_gets_busy_and_the_outer_call_succeeds() {
    let (s, keys, values) = cache();
    let mut ctx = Context::new().unwrap();
    let (blob, _) = ctx.compress(None, &s, &keys, &values).unwrap();
    // The raw handle as an integer: the callback must be Send.
    let raw = ctx.as_ptr() as usize;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let inner_blob = blob.clone();
    ctx.set_progress(Some(Box::new(move |_, _| {
        // SAFETY: raw is the live context whose call runs this callback; kvc refuses the
        // nested call (KVC_ERR_BUSY) without touching the context. Its last error is not read.
        let st = unsafe {
            ffi::kvc_verify(
                raw as *mut ffi::kvc_context,
                inner_blob.as_ptr().cast(),
                inner_blob.len(),
            )
        };
        sink.lock().unwrap().push(st);
    })))
    .unwrap();
    let (again, _) = ctx.compress(None, &s, &keys, &values).unwrap();
    assert!(again == blob);
    let statuses = seen.lock().unwrap().clone();
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|&st| st == ffi::KVC_ERR_BUSY),
        "{statuses:?}"
    );
    assert_eq!(Status(ffi::KVC_ERR_BUSY), Status::BUSY);
    assert_eq!(Status::BUSY.name(), "KVC_ERR_BUSY");
    // The context is free again once the call returns.
    ctx.set_progress(None).unwrap();
    ctx.verify(&blob).unwrap();
    assert_eq!(ctx.last_error(), "");
}
