//! kubeplex end to end: real `kubeplex up` (control plane + real Envoy +
//! the built wasm filter), real `kubectl`, our Kubernetes API test servers.
//! One test binary (one link); nextest runs each test in its own process.

mod harness;

mod adversarial;
mod agents;
mod audit_store;
mod cache;
mod core;
mod fleet;
mod identity;
mod in_pod;
mod kubectl_commands;
mod login;
mod mounted_volumes;
mod pool;
mod rbac_audit;
mod reload;
mod remote_kubeconfig;
mod security;
mod upstream_pushback;
