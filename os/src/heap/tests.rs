use super::*;

/// Tuning and trimming leave every live allocation intact and the
/// allocator usable, from several threads at once.
#[test]
fn tuning_and_trimming_keep_live_memory_intact() {
    tune_allocator();
    let kept: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 256 * 1024]).collect();
    let freed: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 64 * 1024]).collect();
    drop(freed);
    let trimmers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..8 {
                    release_free_memory();
                    let scratch = vec![7u8; 300 * 1024];
                    assert!(scratch.iter().all(|&b| b == 7));
                }
            })
        })
        .collect();
    for trimmer in trimmers {
        trimmer.join().expect("a trimming thread panicked");
    }
    release_free_memory();
    for (i, block) in kept.iter().enumerate() {
        assert!(block.iter().all(|&b| b == i as u8), "block {i} changed");
    }
}
