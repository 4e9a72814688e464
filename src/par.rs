//! A parallel map over a slice with scoped threads (one chunk per core), for the few steps of
//! `render` that are CPU-bound and independent per item.

/// `items.iter().map(f).collect()`, in order, spread over the machine's cores.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if threads < 2 || items.len() < 32 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Like [`map`] for a few large items (whole files): one thread per item, at most one per core
/// at a time.
pub fn map_each<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if threads < 2 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let mut out = Vec::with_capacity(items.len());
    for batch in items.chunks(threads) {
        std::thread::scope(|s| {
            let handles: Vec<_> = batch.iter().map(|i| s.spawn(|| f(i))).collect();
            out.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
            );
        });
    }
    out
}
