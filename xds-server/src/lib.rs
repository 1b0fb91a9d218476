//! kubeplex control plane: inputs → translate → snapshot → xDS protocol.
#![forbid(unsafe_code)]

pub mod ads;
pub mod inputs;
pub mod sensitive;
pub mod snapshot;
pub mod token_mint;
pub mod translate;
