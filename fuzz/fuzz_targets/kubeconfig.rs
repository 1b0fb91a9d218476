#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kubeplex_fuzz::input_targets::kubeconfig(data));
